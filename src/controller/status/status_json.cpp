// The JSON of /api/status and of the hub's status_reply (docs/monitoring.md).
#include "status_snapshot.hpp"

namespace ipp::controller::status {

using wire::Json;

Json to_json(const StatusSnapshot& s) {
  Json controller{{"pid", s.pid},
                  {"cluster_id", s.cluster_id},
                  {"profile", s.profile},
                  {"uptime_seconds", s.uptime_seconds},
                  {"rss_bytes", s.rss_bytes},
                  {"cpu_seconds", s.cpu_seconds},
                  {"store", s.store},
                  {"records", s.records ? Json(*s.records) : Json()}};
  Json engines = Json::array();
  for (const auto& e : s.engines) {
    engines.push_back(Json{{"id", e.id},
                           {"uuid", e.uuid},
                           {"host", e.host},
                           {"state", e.state},
                           {"lb_load", e.lb_load},
                           {"direct_outstanding", e.direct_outstanding},
                           {"completed", e.completed},
                           {"failed", e.failed},
                           {"registered", e.registered}});
  }
  Json submitted = Json::object(), completed = Json::object(), failed = Json::object();
  for (const auto& [kind, c] : s.tasks) {
    submitted[kind] = c.submitted;
    completed[kind] = c.completed;
    failed[kind] = c.failed;
  }
  Json buckets = Json::array();
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < s.durations.buckets.size(); ++i) {
    cumulative += s.durations.buckets[i];
    Json bound = i < s.durations.bounds.size() ? Json(s.durations.bounds[i]) : Json("+Inf");
    buckets.push_back(Json::array({bound, cumulative}));
  }
  Json tasks{{"submitted", submitted},
             {"completed", completed},
             {"failed", failed},
             {"retried", s.retried ? Json(*s.retried) : Json()},
             {"waiting", s.waiting},
             {"running", s.running},
             {"duration_seconds",
              Json{{"count", s.durations.count}, {"sum", s.durations.sum}, {"buckets", buckets}}}};
  Json throughput = Json::array();
  for (const auto& p : s.throughput) {
    throughput.push_back(Json{{"time", p.time},
                              {"completed", p.completed},
                              {"engines", p.engines},
                              {"waiting", p.waiting}});
  }
  Json failures = Json::array();
  for (const auto& f : s.failures) {
    failures.push_back(Json{{"time", f.time},
                            {"msg_id", f.msg_id},
                            {"engine_id", f.engine_id ? Json(*f.engine_id) : Json()},
                            {"ename", f.ename},
                            {"evalue", f.evalue}});
  }
  Json messages = Json::object(), dropped = Json::object();
  for (const auto& [k, v] : s.messages) messages[k] = v;
  for (const auto& [k, v] : s.dropped) dropped[k] = v;
  return Json{{"version", 1},           {"time", s.time},         {"controller", controller},
              {"engines", engines},     {"tasks", tasks},         {"throughput", throughput},
              {"messages", messages},   {"dropped", dropped},     {"failures", failures},
              {"adaptive", s.adaptive}};
}

}  // namespace ipp::controller::status
