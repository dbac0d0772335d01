#include "server/metrics.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::server {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersAndGaugesInTextFormat) {
  MetricsRegistry registry;
  CounterFamily& rpcs =
      registry.AddCounter("t_rpcs_total", "RPCs handled", {"method", "code"});
  GaugeFamily& depth = registry.AddGauge("t_depth", "Queue depth");
  rpcs.Increment({"/a.S/M", "OK"});
  rpcs.Increment({"/a.S/M", "OK"}, 2);
  rpcs.Increment({"/a.S/M", "NOT_FOUND"});
  depth.Set({}, 2.5);

  EXPECT_EQ(registry.Render(),
            "# HELP t_rpcs_total RPCs handled\n"
            "# TYPE t_rpcs_total counter\n"
            "t_rpcs_total{method=\"/a.S/M\",code=\"NOT_FOUND\"} 1\n"
            "t_rpcs_total{method=\"/a.S/M\",code=\"OK\"} 3\n"
            "# HELP t_depth Queue depth\n"
            "# TYPE t_depth gauge\n"
            "t_depth 2.5\n");
  EXPECT_EQ(rpcs.Value({"/a.S/M", "OK"}), 3);
  EXPECT_EQ(rpcs.Value({"/a.S/M", "UNKNOWN"}), 0);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInf) {
  MetricsRegistry registry;
  HistogramFamily& latency =
      registry.AddHistogram("t_seconds", "Latency", {"m"}, {0.1, 1});
  latency.Observe({"x"}, 0.05);
  latency.Observe({"x"}, 0.1);  // on the bound: counts in le="0.1"
  latency.Observe({"x"}, 0.5);
  latency.Observe({"x"}, 7);
  EXPECT_EQ(latency.Count({"x"}), 4u);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# TYPE t_seconds histogram\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_bucket{m=\"x\",le=\"0.1\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_bucket{m=\"x\",le=\"1\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_bucket{m=\"x\",le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_sum{m=\"x\"} 7.65\n"));
  EXPECT_THAT(text, HasSubstr("t_seconds_count{m=\"x\"} 4\n"));
  // A value 15 digits cannot carry keeps all 17.
  latency.Observe({"y"}, 0.1 + 0.2);
  EXPECT_THAT(registry.Render(),
              HasSubstr("t_seconds_sum{m=\"y\"} 0.30000000000000004\n"));
}

TEST(MetricsTest, EscapesLabelValuesAndHelp) {
  MetricsRegistry registry;
  GaugeFamily& g = registry.AddGauge("t_g", "a\\b\nc", {"host"});
  g.Set({"we\"ird\\name\n"}, 1);
  const std::string text = registry.Render();
  EXPECT_THAT(text, HasSubstr("# HELP t_g a\\\\b\\nc\n"));
  EXPECT_THAT(text, HasSubstr("t_g{host=\"we\\\"ird\\\\name\\n\"} 1\n"));
}

TEST(MetricsTest, CollectorsRunBeforeEachRenderAndClearDropsSeries) {
  MetricsRegistry registry;
  GaugeFamily& versions = registry.AddGauge("t_v", "Versions", {"host"});
  int calls = 0;
  registry.AddCollector([&] {
    ++calls;
    versions.Clear();
    if (calls == 1) versions.Set({"old"}, 1);
    versions.Set({"new"}, calls);
  });
  EXPECT_THAT(registry.Render(), HasSubstr("t_v{host=\"old\"} 1\n"));
  const std::string second = registry.Render();
  EXPECT_FALSE(absl::StrContains(second, "old"));
  EXPECT_THAT(second, HasSubstr("t_v{host=\"new\"} 2\n"));
  EXPECT_EQ(calls, 2);
}

TEST(MetricsTest, ConcurrentIncrementsAreAllCounted) {
  MetricsRegistry registry;
  CounterFamily& c = registry.AddCounter("t_c_total", "c", {"k"});
  HistogramFamily& h = registry.AddHistogram("t_h", "h", {}, {1});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Increment({"a"});
        h.Observe({}, 0.5);
        if (i % 1000 == 0) registry.Render();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(c.Value({"a"}), 40000);
  EXPECT_EQ(h.Count({}), 40000u);
}

TEST(MetricsDeathTest, RegistrationAndArityErrorsAbort) {
  MetricsRegistry registry;
  CounterFamily& c = registry.AddCounter("t_ok_total", "ok", {"a"});
  EXPECT_DEATH(registry.AddCounter("t_ok_total", "again"), "registered twice");
  EXPECT_DEATH(registry.AddGauge("9bad", "bad"), "bad metric name");
  EXPECT_DEATH(registry.AddGauge("t_le", "le", {"le"}), "bad label name");
  EXPECT_DEATH(c.Increment({}), "0 label values for 1 labels");
  EXPECT_DEATH(c.Increment({"x"}, -1), "only go up");
  EXPECT_DEATH(registry.AddHistogram("t_h", "h", {}, {1, 1}), "increasing");
}

}  // namespace
}  // namespace autotm::server
