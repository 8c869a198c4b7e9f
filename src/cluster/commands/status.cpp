// `ipcluster status`: what a running cluster's controller shows of itself (engines, tasks,
// queues, failures), asked with the hub's status_request over the client connection file, so it
// works wherever a client works (CurveZMQ included) and needs no status port. `--json` prints
// the controller's JSON as /api/status serves it.
#include "commands/common.hpp"

#include <ipp/cluster/registration_probe.hpp>
#include <ipp/config/connection_info.hpp>
#include <ipp/config/error.hpp>
#include <ipp/config/profile_dir.hpp>

#include <fmt/format.h>

#include <iostream>

namespace ipp::cluster {

using ipp::config::ConfigError;
using wire::Json;

namespace {

constexpr int kTimeoutMs = 5000;

// A member of `j`, or an empty value (JSON null) when it is absent: a reference that outlives
// the expression, unlike Json::value's copy.
const Json& part(const Json& j, const char* key) {
  static const Json none;
  auto it = j.find(key);
  return it != j.end() ? *it : none;
}

double real(const Json& j, const char* key) {
  const Json& v = part(j, key);
  return v.is_number() ? v.get<double>() : 0.0;
}

std::uint64_t num(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<std::uint64_t>() : 0;
}

std::string duration_text(double s) {
  long t = static_cast<long>(s);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
}

void print_text(const Json& st, const std::string& cluster_id, const std::string& profile) {
  const Json& c = part(st, "controller");
  std::cout << fmt::format(
      "Cluster '{}' ({}): controller pid {}, up {}, RSS {:.1f} MiB, CPU {:.1f} s\n", cluster_id,
      profile, num(c, "pid"), duration_text(real(c, "uptime_seconds")),
      double(num(c, "rss_bytes")) / (1024.0 * 1024.0), real(c, "cpu_seconds"));
  const Json& engines = part(st, "engines");
  std::size_t busy = 0;
  for (const auto& e : engines) busy += e.value("state", "") == "busy" ? 1 : 0;
  std::cout << fmt::format("Engines: {} ({} busy, {} idle)\n", engines.size(), busy,
                           engines.size() - busy);
  if (!engines.empty()) {
    std::cout << fmt::format("  {:>4}  {:<16} {:<8} {:>5} {:>7} {:>10} {:>7}\n", "id", "host",
                             "state", "lb", "direct", "completed", "failed");
    for (const auto& e : engines) {
      std::cout << fmt::format("  {:>4}  {:<16} {:<8} {:>5} {:>7} {:>10} {:>7}\n",
                               e.value("id", -1), e.value("host", ""), e.value("state", ""),
                               num(e, "lb_load"), num(e, "direct_outstanding"),
                               num(e, "completed"), num(e, "failed"));
    }
  }
  const Json& t = part(st, "tasks");
  std::cout << fmt::format("Tasks            {:>10} {:>10} {:>8}\n", "submitted", "completed",
                           "failed");
  for (const auto& [kind, n] : part(t, "submitted").items()) {
    std::cout << fmt::format("  {:<14} {:>10} {:>10} {:>8}\n", kind, n.get<std::uint64_t>(),
                             num(part(t, "completed"), kind.c_str()),
                             num(part(t, "failed"), kind.c_str()));
  }
  std::cout << fmt::format("Waiting (load-balanced): {}; running: {}; retried: {}\n",
                           num(t, "waiting"), num(t, "running"),
                           t.value("retried", Json()).is_number()
                               ? std::to_string(num(t, "retried"))
                               : std::string("n/a"));
  const Json& d = part(t, "duration_seconds");
  if (num(d, "count") > 0) {
    std::cout << fmt::format("Task duration: mean {:.3f} s over {} tasks\n",
                             real(d, "sum") / double(num(d, "count")), num(d, "count"));
  }
  const Json& records = part(c, "records");
  std::cout << fmt::format("Task store: {}{}\n", c.value("store", ""),
                           records.is_number() ? fmt::format(", {} records", records.get<std::uint64_t>())
                                               : std::string());
  const Json& failures = part(st, "failures");
  if (!failures.empty()) {
    std::cout << "Recent failures:\n";
    std::size_t shown = 0;
    for (const auto& f : failures) {
      if (++shown > 5) break;
      const Json& eid = f.value("engine_id", Json());
      std::cout << fmt::format("  {} engine {} {}: {}\n", f.value("time", ""),
                               eid.is_number() ? std::to_string(eid.get<int>()) : "-",
                               f.value("ename", ""), f.value("evalue", ""));
    }
  }
  const Json& dropped = part(st, "dropped");
  if (!dropped.empty()) {
    std::cout << "Bad input dropped:";
    for (const auto& [kind, n] : dropped.items()) std::cout << fmt::format(" {} {};", kind, n.get<std::uint64_t>());
    std::cout << "\n";
  }
  const Json& a = part(st, "adaptive");
  if (a.is_object() && a.value("enabled", false)) {
    std::cout << fmt::format("Adaptive: min {}, max {}\n", num(a, "min"), num(a, "max"));
    std::size_t shown = 0;
    for (const auto& dcs : part(a, "decisions")) {
      if (++shown > 5) break;
      std::cout << fmt::format("  {} {} {} -> {}: {}\n", dcs.value("time", ""),
                               dcs.value("action", ""), num(dcs, "from"), num(dcs, "to"),
                               dcs.value("reason", ""));
    }
  } else {
    std::cout << "Adaptive: off\n";
  }
}

}  // namespace

int cmd_status(const ClusterOptions& o) {
  auto pdir = ipp::config::ProfileDir::resolve(profile_options(o), /*create=*/false);
  const std::string cluster_id = o.cluster_id.value_or("");
  const auto client_path = pdir.client_file(cluster_id);
  if (!std::filesystem::exists(client_path)) {
    std::cerr << "ipcluster status: no cluster '" << cluster_id << "' is running in "
              << pdir.location().string() << " (no " << client_path.string() << ")\n";
    return exit_code::error;
  }
  auto info = ipp::config::read_connection_file(client_path, ipp::config::ConnectionKind::Client);
  zmq::context_t ctx(1);
  RegistrationProbe probe(ctx, info);
  auto reply = probe.ask("status_request", "status_reply", kTimeoutMs);
  const std::string where = info.url(info.registration);
  if (!reply) {
    std::cerr << "ipcluster status: the controller at " << where << " (from "
              << client_path.string() << ") did not answer within " << kTimeoutMs / 1000
              << " s: it is not running, or the connection file is stale\n";
    return exit_code::error;
  }
  if (reply->msg_type() != "status_reply") {
    std::cerr << "ipcluster status: the controller at " << where
              << " does not answer status requests (Python's ipcontroller has none: "
                 "`ipcluster status` needs this project's ipcontroller)\n";
    return exit_code::error;
  }
  Json st = std::move(reply->content);
  st.erase("status");
  if (o.output_format == "json") {
    std::cout << st.dump(2) << "\n";
  } else {
    print_text(st, cluster_id, pdir.location().string());
  }
  return exit_code::ok;
}

}  // namespace ipp::cluster
