// The hub's part of the status page and /metrics: what it knows of engines and tasks, the
// throughput series, and the status_request query that ipcluster status and adaptive engines
// use.
#include "hub.hpp"

#include <ipp/util/ids.hpp>
#include <ipp/wire/errors.hpp>
#include <ipp/wire/msg_types.hpp>

#include <sys/socket.h>
#include <netdb.h>

namespace ipp::controller::hub {

using wire::Json;

namespace {

// The numeric address of a connection's peer, "" when it has none (inproc, closed).
std::string peer_host(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
  char host[NI_MAXHOST];
  if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, nullptr, 0,
                    NI_NUMERICHOST) != 0) {
    return {};
  }
  return host;
}

std::optional<double> seconds_between(const Json& started, const Json& completed) {
  if (!started.is_string() || !completed.is_string()) return std::nullopt;
  auto a = parse_iso8601(started.get_ref<const std::string&>());
  auto b = parse_iso8601(completed.get_ref<const std::string&>());
  if (!a || !b) return std::nullopt;
  return std::chrono::duration<double>(*b - *a).count();
}

// A part kept as text (db::raw_json) or as a tree, as a tree.
Json tree_of(const Json& part) {
  if (!db::is_raw_json(part)) return part;
  return Json::parse(db::raw_json_text(part), nullptr, false);
}

}  // namespace

void Hub::count_result(const ResultParts& r, std::optional<int> engine) {
  stats_.finished(r.kind, r.ok, engine, seconds_between(r.started, r.completed));
  if (r.ok) return;
  status::TaskFailure f;
  f.time = iso8601_now();
  f.msg_id = r.msg_id;
  f.engine_id = engine;
  Json content = tree_of(r.content);
  if (content.is_object()) {
    if (auto it = content.find("ename"); it != content.end() && it->is_string()) f.ename = *it;
    if (auto it = content.find("evalue"); it != content.end() && it->is_string()) f.evalue = *it;
  }
  if (f.ename.empty()) f.ename = "error";
  stats_.failure(std::move(f));
}

void Hub::sample_status() {
  status::ThroughputSample s;
  s.time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
               .count();
  s.completed = stats_.completed_total();
  s.engines = static_cast<int>(registry_.engines().size());
  s.waiting = ledger_.unassigned().size();
  stats_.sample(s);
}

void Hub::fill_status(status::StatusSnapshot& out) {
  on_monitor();  // every copy sent before this question is counted
  const auto steady_now = std::chrono::steady_clock::now();
  const auto wall_now = std::chrono::system_clock::now();
  out.uptime_seconds = std::chrono::duration<double>(steady_now - started_).count();
  out.store = std::string(db_->backend_name());
  out.records = db_->count_records();
  stats_.fill(out);
  std::uint64_t held = 0;
  for (const auto& [id, e] : registry_.engines()) {
    status::EngineStatus row;
    row.id = id;
    row.uuid = e.uuid;
    if (auto fd = registry_.fd_of(e.uuid)) row.host = peer_host(*fd);
    if (const auto* t = ledger_.engine(id)) {
      row.lb_load = static_cast<int>(t->tasks.size());
      row.direct_outstanding = static_cast<int>(t->queue.size());
      row.completed = t->completed;
    }
    held += static_cast<std::uint64_t>(row.lb_load + row.direct_outstanding);
    row.failed = stats_.failed_on(id);
    row.state = draining_.count(id) != 0              ? "draining"
                : row.lb_load + row.direct_outstanding > 0 ? "busy"
                                                           : "idle";
    auto since = std::chrono::duration_cast<std::chrono::system_clock::duration>(steady_now -
                                                                                 e.registered_at);
    row.registered =
        iso8601(std::chrono::time_point_cast<std::chrono::microseconds>(wall_now - since));
    out.engines.push_back(std::move(row));
  }
  out.waiting = ledger_.unassigned().size();
  out.running = held;
  out.messages["registration"] += queries_;
  problems_.add_totals(out.dropped);
}

void Hub::status_request(const std::vector<std::string>& route, const wire::Message& msg) {
  if (!gather_status) {
    status::StatusSnapshot s;
    fill_status(s);
    Json content = status::to_json(s);
    content["status"] = "ok";
    send_reply(route, "status_reply", std::move(content), msg.header);
    return;
  }
  gather_status([this, route, header = msg.header](status::StatusSnapshot s) {
    Json content = status::to_json(s);
    content["status"] = "ok";
    send_reply(route, "status_reply", std::move(content), header);
  });
}

// drain_request (ours, for adaptive engines): {"engine_ids": [...], "drain": true | false}.
// Draining engines get no new load-balanced task (the task thread's scheduler) and show as
// "draining" until they leave; drain false puts them back in service. The reply lists the ids
// now draining and those that name no engine.
void Hub::drain_request(const std::vector<std::string>& route, const wire::Message& msg) {
  const Json& ids = msg.content.contains("engine_ids") ? msg.content.at("engine_ids") : Json();
  if (!ids.is_array()) {
    send_reply(route, wire::msg::kHubError,
               wire::wrap_exception("TypeError", "drain_request: engine_ids must be a list of ints"),
               msg.header);
    return;
  }
  const bool drain = msg.content.value("drain", true);
  Json unknown = Json::array();
  for (const auto& j : ids) {
    const RegisteredEngine* e = j.is_number_integer() ? registry_.find(j.get<int>()) : nullptr;
    if (e == nullptr) {
      unknown.push_back(j);
      continue;
    }
    if (drain) {
      if (draining_.insert(e->id).second) sched_event("drain", e->uuid);
    } else if (draining_.erase(e->id) != 0) {
      sched_event("undrain", e->uuid);
    }
  }
  Json content{{"status", "ok"}, {"draining", Json(draining_)}, {"unknown", unknown}};
  send_reply(route, "drain_reply", std::move(content), msg.header);
}

// adapt_report (ours): {"adaptive": {...}}, the adaptive section of the status, as ipcluster
// decides; kept as given (an object) for the status page.
void Hub::adapt_report(const std::vector<std::string>& route, const wire::Message& msg) {
  auto it = msg.content.find("adaptive");
  if (it == msg.content.end() || !it->is_object()) {
    send_reply(route, wire::msg::kHubError,
               wire::wrap_exception("TypeError", "adapt_report: adaptive must be an object"),
               msg.header);
    return;
  }
  if (on_adapt_report) on_adapt_report(*it);
  send_reply(route, "adapt_reply", Json{{"status", "ok"}}, msg.header);
}

}  // namespace ipp::controller::hub
