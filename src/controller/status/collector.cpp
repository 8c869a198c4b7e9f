#include "collector.hpp"

#include <ipp/util/ids.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <memory>

namespace ipp::controller::status {

namespace {

void merge(StatusSnapshot& into, const StatusSnapshot& piece) {
  for (const auto& [k, v] : piece.messages) into.messages[k] += v;
  for (const auto& [k, v] : piece.dropped) into.dropped[k] += v;
  if (piece.retried) into.retried = into.retried.value_or(0) + *piece.retried;
}

}  // namespace

void read_process_figures(StatusSnapshot& out) {
  out.pid = static_cast<int>(::getpid());
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, resident = 0;
  if (statm >> size >> resident) {
    out.rss_bytes = resident * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  }
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    auto secs = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
    out.cpu_seconds = secs(ru.ru_utime) + secs(ru.ru_stime);
  }
}

StatusCollector::StatusCollector(net::Reactor& home, Fill home_fill, std::vector<Part> parts,
                                 Identity identity)
    : home_(home), home_fill_(std::move(home_fill)), parts_(std::move(parts)),
      identity_(std::move(identity)) {}

void StatusCollector::collect(std::function<void(StatusSnapshot)> done) {
  home_.post([this, done = std::move(done)]() mutable { start(std::move(done)); });
}

void StatusCollector::start(std::function<void(StatusSnapshot)> done) {
  struct Gathering {
    StatusSnapshot snapshot;
    std::size_t remaining = 0;
    std::function<void(StatusSnapshot)> done;
  };
  auto g = std::make_shared<Gathering>();
  g->done = std::move(done);
  g->snapshot.cluster_id = identity_.cluster_id;
  g->snapshot.profile = identity_.profile;
  g->snapshot.adaptive = adaptive_;
  home_fill_(g->snapshot);
  read_process_figures(g->snapshot);
  g->remaining = parts_.size();
  auto finish = [g] {
    g->snapshot.time = iso8601_now();
    g->done(std::move(g->snapshot));
  };
  if (g->remaining == 0) return finish();
  for (const auto& part : parts_) {
    part.reactor->post([this, g, fill = part.fill, finish] {
      auto piece = std::make_shared<StatusSnapshot>();
      fill(*piece);
      home_.post([g, piece, finish] {
        merge(g->snapshot, *piece);
        if (--g->remaining == 0) finish();
      });
    });
  }
}

}  // namespace ipp::controller::status
