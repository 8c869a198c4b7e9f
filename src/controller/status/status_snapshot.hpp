#pragma once
// What the controller shows of itself: one snapshot, gathered from the hub, the task thread and
// the relay thread (StatusCollector), rendered as JSON (`/api/status`, the hub's status_reply,
// `ipcluster status`) and as Prometheus text (`/metrics`). Plain data; docs/monitoring.md lists
// every field and metric.
#include <ipp/wire/message.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ipp::controller::status {

struct EngineStatus {
  int id = -1;
  std::string uuid;
  std::string host;   // the peer address of its heartbeat connection ("" when unknown)
  std::string state;  // "idle", "busy"
  int lb_load = 0;    // load-balanced tasks it holds
  int direct_outstanding = 0;
  std::uint64_t completed = 0;
  std::uint64_t failed = 0;
  std::string registered;  // ISO 8601
};

// Per kind of task ("load_balanced", "direct").
struct TaskCounts {
  std::uint64_t submitted = 0;
  std::uint64_t completed = 0;  // every result, failures included
  std::uint64_t failed = 0;
};

// Cumulative counts per upper bound, as Prometheus histograms are; the last bound is +Inf.
struct DurationHistogram {
  std::vector<double> bounds;          // finite upper bounds, ascending
  std::vector<std::uint64_t> buckets;  // per bound, not cumulative; one more for +Inf
  std::uint64_t count = 0;
  double sum = 0.0;
};

struct TaskFailure {
  std::string time;  // ISO 8601, when the result arrived
  std::string msg_id;
  std::optional<int> engine_id;
  std::string ename;
  std::string evalue;
};

// One point of the throughput series (every 2 s, the last 10 minutes).
struct ThroughputSample {
  double time = 0.0;             // seconds since the epoch
  std::uint64_t completed = 0;   // results so far, every kind
  int engines = 0;
  std::uint64_t waiting = 0;     // load-balanced tasks no engine holds yet
};

struct StatusSnapshot {
  // the controller process
  int pid = 0;
  std::string cluster_id;
  std::string profile;
  std::string time;  // ISO 8601, when gathered
  double uptime_seconds = 0.0;
  std::uint64_t rss_bytes = 0;
  double cpu_seconds = 0.0;
  std::string store;                     // the record store's backend name
  std::optional<std::uint64_t> records;  // records it holds, when it can tell cheaply

  std::vector<EngineStatus> engines;
  std::map<std::string, TaskCounts> tasks;
  std::optional<std::uint64_t> retried;  // from the task scheduler (absent: no answer from it)
  std::uint64_t waiting = 0;
  std::uint64_t running = 0;
  DurationHistogram durations;
  std::vector<ThroughputSample> throughput;
  std::map<std::string, std::uint64_t> messages;  // per channel, both directions
  std::map<std::string, std::uint64_t> dropped;   // bad input, per kind
  std::vector<TaskFailure> failures;              // newest first
  wire::Json adaptive = wire::Json{{"enabled", false}};
};

// The JSON of /api/status (version 1).
wire::Json to_json(const StatusSnapshot& s);
// The Prometheus text exposition format (0.0.4).
std::string to_prometheus(const StatusSnapshot& s);

}  // namespace ipp::controller::status
