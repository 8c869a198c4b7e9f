// /metrics: the snapshot as Prometheus metric families, written by prometheus-cpp's text
// serializer (format 0.0.4). Names and labels: docs/monitoring.md.
#include "status_snapshot.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <string>
#include <vector>

namespace ipp::controller::status {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void add(MetricFamily& f, double value, std::vector<ClientMetric::Label> labels = {}) {
  ClientMetric m;
  m.label = std::move(labels);
  if (f.type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
}

}  // namespace

std::string to_prometheus(const StatusSnapshot& s) {
  std::vector<MetricFamily> out;
  auto gauge = [&](const char* name, const char* help, double v) {
    out.push_back(family(name, help, MetricType::Gauge));
    add(out.back(), v);
  };
  gauge("ipp_engines", "Engines registered with the controller", double(s.engines.size()));

  auto per_kind = [&](const char* name, const char* help, auto field) {
    out.push_back(family(name, help, MetricType::Counter));
    for (const auto& [kind, c] : s.tasks) add(out.back(), double(field(c)), {{"kind", kind}});
  };
  per_kind("ipp_tasks_submitted_total", "Tasks submitted, per kind (load_balanced, direct)",
           [](const TaskCounts& c) { return c.submitted; });
  per_kind("ipp_tasks_completed_total", "Task results received, failures included",
           [](const TaskCounts& c) { return c.completed; });
  per_kind("ipp_tasks_failed_total", "Task results that are errors",
           [](const TaskCounts& c) { return c.failed; });
  if (s.retried) {
    out.push_back(family("ipp_tasks_retried_total",
                         "Load-balanced tasks resubmitted by the scheduler after a failure",
                         MetricType::Counter));
    add(out.back(), double(*s.retried));
  }
  gauge("ipp_tasks_waiting", "Load-balanced tasks that no engine holds yet", double(s.waiting));
  gauge("ipp_tasks_running", "Tasks held by engines, without a result yet", double(s.running));

  out.push_back(family("ipp_engine_queue_depth",
                       "Tasks an engine holds without a result (load-balanced and direct)",
                       MetricType::Gauge));
  for (const auto& e : s.engines) {
    add(out.back(), double(e.lb_load + e.direct_outstanding),
        {{"engine", std::to_string(e.id)}, {"host", e.host}});
  }

  MetricFamily durations = family("ipp_task_duration_seconds",
                                  "Task run time on its engine (from the engine's stamps)",
                                  MetricType::Histogram);
  ClientMetric h;
  h.histogram.sample_count = s.durations.count;
  h.histogram.sample_sum = s.durations.sum;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < s.durations.buckets.size(); ++i) {
    cumulative += s.durations.buckets[i];
    ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < s.durations.bounds.size() ? s.durations.bounds[i]
                                                  : std::numeric_limits<double>::infinity();
    h.histogram.bucket.push_back(b);
  }
  durations.metric.push_back(std::move(h));
  out.push_back(std::move(durations));

  out.push_back(family("ipp_messages_total", "Messages handled, per channel",
                       MetricType::Counter));
  for (const auto& [channel, n] : s.messages) add(out.back(), double(n), {{"channel", channel}});
  out.push_back(family("ipp_bad_messages_dropped_total",
                       "Bad input refused or dropped, per kind", MetricType::Counter));
  for (const auto& [kind, n] : s.dropped) add(out.back(), double(n), {{"kind", kind}});

  if (s.records) gauge("ipp_task_records", "Records in the task store", double(*s.records));
  gauge("ipp_controller_resident_memory_bytes", "Resident memory of the controller process",
        double(s.rss_bytes));
  out.push_back(family("ipp_controller_cpu_seconds_total",
                       "CPU time of the controller process (user and system)",
                       MetricType::Counter));
  add(out.back(), s.cpu_seconds);
  gauge("ipp_controller_uptime_seconds", "Seconds since the controller started",
        s.uptime_seconds);
  return prometheus::TextSerializer().Serialize(out);
}

}  // namespace ipp::controller::status
