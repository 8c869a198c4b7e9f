// The status page's parts: TaskStats (counts, histogram, bounded failures and samples), the
// JSON and Prometheus renderings of a snapshot, and the HTTP server's token rule, over a real
// loopback socket with cpp-httplib's client.
#include "controller/status/status_server.hpp"
#include "controller/status/status_snapshot.hpp"
#include "controller/status/task_stats.hpp"

#include <ipp/config/error.hpp>

#include <gtest/gtest.h>
#include <httplib.h>

namespace ipp::controller::status {
namespace {

TEST(TaskStats, CountsPerKindAndFailuresPerEngine) {
  TaskStats s;
  s.submitted(TaskKind::LoadBalanced);
  s.submitted(TaskKind::LoadBalanced);
  s.submitted(TaskKind::Direct);
  s.finished(TaskKind::LoadBalanced, true, 0, 0.02);
  s.finished(TaskKind::LoadBalanced, false, 1, 0.2);
  s.finished(TaskKind::Direct, true, 1, std::nullopt);
  StatusSnapshot out;
  s.fill(out);
  EXPECT_EQ(out.tasks["load_balanced"].submitted, 2u);
  EXPECT_EQ(out.tasks["load_balanced"].completed, 2u);
  EXPECT_EQ(out.tasks["load_balanced"].failed, 1u);
  EXPECT_EQ(out.tasks["direct"].completed, 1u);
  EXPECT_EQ(s.completed_total(), 3u);
  EXPECT_EQ(s.failed_on(1), 1u);
  EXPECT_EQ(s.failed_on(0), 0u);
  EXPECT_EQ(out.durations.count, 2u);  // the untimed one is counted, not timed
  EXPECT_DOUBLE_EQ(out.durations.sum, 0.22);
}

TEST(TaskStats, DurationsFallInTheirBuckets) {
  TaskStats s;
  for (double d : {0.0005, 0.001, 0.03, 0.03, 1e6}) s.finished(TaskKind::Direct, true, 0, d);
  StatusSnapshot out;
  s.fill(out);
  const auto& h = out.durations;
  ASSERT_EQ(h.buckets.size(), h.bounds.size() + 1);
  EXPECT_EQ(h.buckets[0], 2u);          // <= 0.001 (the bound is inclusive)
  EXPECT_EQ(h.buckets[4], 2u);          // (0.025, 0.05]
  EXPECT_EQ(h.buckets.back(), 1u);      // +Inf
  auto j = to_json(out)["tasks"]["duration_seconds"]["buckets"];
  EXPECT_EQ(j.back()[0], "+Inf");
  EXPECT_EQ(j.back()[1], 5);            // cumulative
  EXPECT_EQ(j[0][1], 2);
}

TEST(TaskStats, FailuresAndSamplesAreBounded) {
  TaskStats s;
  for (int i = 0; i < 50; ++i) s.failure({"t", "m" + std::to_string(i), 0, "E", "v"});
  for (int i = 0; i < 400; ++i) s.sample({double(i), std::uint64_t(i), 1, 0});
  StatusSnapshot out;
  s.fill(out);
  ASSERT_EQ(out.failures.size(), TaskStats::kFailuresKept);
  EXPECT_EQ(out.failures.front().msg_id, "m49");  // newest first
  ASSERT_EQ(out.throughput.size(), TaskStats::kSamplesKept);
  EXPECT_EQ(out.throughput.front().time, 100.0);  // oldest kept first
}

StatusSnapshot example() {
  TaskStats s;
  s.submitted(TaskKind::LoadBalanced);
  s.finished(TaskKind::LoadBalanced, false, 3, 0.5);
  s.failure({"2026-12-04T10:00:01Z", "m1", 3, "ZeroDivisionError", "division by zero"});
  StatusSnapshot out;
  s.fill(out);
  out.pid = 42;
  out.rss_bytes = 1 << 20;
  out.records = 7;
  out.retried = 2;
  out.engines.push_back({3, "u-3", "10.0.0.5", "busy", 1, 2, 10, 1, "2026-12-04T10:00:00Z"});
  out.messages["task"] = 9;
  out.dropped["bad \"query\" message"] = 4;
  return out;
}

TEST(StatusRendering, PrometheusText) {
  std::string text = to_prometheus(example());
  for (const char* line : {
           "# TYPE ipp_engines gauge\nipp_engines 1\n",
           "ipp_tasks_submitted_total{kind=\"load_balanced\"} 1\n",
           "ipp_tasks_failed_total{kind=\"load_balanced\"} 1\n",
           "ipp_tasks_retried_total 2\n",
           "ipp_engine_queue_depth{engine=\"3\",host=\"10.0.0.5\"} 3\n",
           "ipp_task_duration_seconds_bucket{le=\"0.5\"} 1\n",
           "ipp_task_duration_seconds_bucket{le=\"0.25\"} 0\n",
           "ipp_task_duration_seconds_bucket{le=\"+Inf\"} 1\n",
           "ipp_task_duration_seconds_count 1\n",
           "ipp_messages_total{channel=\"task\"} 9\n",
           "ipp_bad_messages_dropped_total{kind=\"bad \\\"query\\\" message\"} 4\n",
           "ipp_task_records 7\n",
           "ipp_controller_resident_memory_bytes 1048576\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n---\n" << text;
  }
}

TEST(StatusRendering, JsonWithoutAnswerFromTheScheduler) {
  StatusSnapshot s = example();
  s.retried.reset();
  s.records.reset();
  auto j = to_json(s);
  EXPECT_TRUE(j["tasks"]["retried"].is_null());
  EXPECT_TRUE(j["controller"]["records"].is_null());
  EXPECT_EQ(j["engines"][0]["host"], "10.0.0.5");
  EXPECT_EQ(j["failures"][0]["engine_id"], 3);
  EXPECT_EQ(to_prometheus(s).find("ipp_tasks_retried_total"), std::string::npos);
}

TEST(StatusServer, Loopback) {
  EXPECT_TRUE(is_loopback("127.0.0.1"));
  EXPECT_TRUE(is_loopback("127.1.2.3"));
  EXPECT_TRUE(is_loopback("::1"));
  EXPECT_FALSE(is_loopback("0.0.0.0"));
  EXPECT_FALSE(is_loopback("10.0.0.1"));
  EXPECT_FALSE(is_loopback("*"));
}

TEST(StatusServer, BeyondLoopbackWithoutATokenIsRefused) {
  EXPECT_THROW(StatusServer({"0.0.0.0", 0, ""}, [](auto) {}), config::ConfigError);
}

TEST(StatusServer, ServesWithTheTokenOnly) {
  int asked = 0;
  StatusServer server({"127.0.0.1", 0, "tok"}, [&](std::function<void(StatusSnapshot)> done) {
    ++asked;
    done(example());
  });
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  auto none = c.Get("/metrics");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(asked, 0);
  auto with = c.Get("/metrics", httplib::Headers{{"Authorization", "token tok"}});
  ASSERT_TRUE(with);
  EXPECT_EQ(with->status, 200);
  EXPECT_NE(with->body.find("ipp_engines 1"), std::string::npos);
  auto query = c.Get("/api/status?token=tok");
  ASSERT_TRUE(query);
  EXPECT_EQ(query->status, 200);
  EXPECT_EQ(wire::Json::parse(query->body)["controller"]["pid"], 42);
  EXPECT_EQ(asked, 2);
  EXPECT_EQ(server.url(), "http://127.0.0.1:" + std::to_string(server.port()) + "/?token=tok");
  server.stop();
}

TEST(StatusServer, AGathererThatNeverAnswersGets503) {
  StatusServer server({"127.0.0.1", 0, ""}, [](std::function<void(StatusSnapshot)>) {});
  server.start();
  httplib::Client c("127.0.0.1", server.port());
  c.set_read_timeout(std::chrono::seconds(10));
  auto r = c.Get("/api/status");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
}

}  // namespace
}  // namespace ipp::controller::status
