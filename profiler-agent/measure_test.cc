#include "profiler-agent/measure.h"

#include <cstdlib>
#include <string>

#include "absl/time/clock.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace autotm::agent {
namespace {

TEST(MeasureRepeatedTest, StopsAtMinRepetitionsWhenStable) {
  int calls = 0;
  MeasureOptions options;
  options.warmup = 3;
  options.min_repetitions = 4;
  options.max_repetitions = 100;
  options.max_spread = 10.0;  // anything is stable enough
  auto m = MeasureRepeated(
      [&] {
        ++calls;
        return absl::OkStatus();
      },
      options);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->repetitions, 4);
  EXPECT_EQ(calls, 3 + 4);
  EXPECT_GE(m->median_us, 0);
}

TEST(MeasureRepeatedTest, CapsRepetitionsWhenNeverStable) {
  MeasureOptions options;
  options.warmup = 0;
  options.min_repetitions = 2;
  options.max_repetitions = 7;
  options.max_spread = -0.0;  // demands zero spread
  int calls = 0;
  auto m = MeasureRepeated(
      [&] {
        // Alternating a 2 ms sleep with nothing makes the spread large
        // however loaded the machine (busy-work loops could time equal).
        if (++calls % 2) absl::SleepFor(absl::Milliseconds(2));
        return absl::OkStatus();
      },
      options);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->repetitions, 7);
  EXPECT_GT(m->spread, 0);
}

TEST(MeasureRepeatedTest, PropagatesRunError) {
  auto m = MeasureRepeated([] { return absl::InternalError("boom"); }, {});
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInternal);
}

TEST(MeasureRepeatedTest, RejectsBadOptions) {
  MeasureOptions options;
  options.min_repetitions = 5;
  options.max_repetitions = 2;
  EXPECT_EQ(
      MeasureRepeated([] { return absl::OkStatus(); }, options).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(CopyBandwidthTest, MeasuresBothDirectionsBetweenRealTiers) {
  const testing::ScopedTempDir dir("measure_test");
  ASSERT_FALSE(dir.path().empty());
  auto dram = MakeTier("numa:0");
  auto file = MakeTier("file:" + dir.path());
  ASSERT_TRUE(dram.ok() && file.ok());
  MeasureOptions options;
  options.warmup = 1;
  options.min_repetitions = 3;
  options.max_repetitions = 5;
  for (auto [from, to] : {std::pair{dram->get(), file->get()},
                          std::pair{file->get(), dram->get()}}) {
    auto bw = MeasureCopyBandwidth(*from, *to, 8 << 20, 2, options);
    ASSERT_TRUE(bw.ok()) << bw.status();
    // Only that they are real, finite rates; never which tier is faster.
    EXPECT_GT(bw->sync_gb_per_s, 0.01);
    EXPECT_GT(bw->async_gb_per_s, 0.01);
    EXPECT_LT(bw->sync_gb_per_s, 10000);
    EXPECT_GE(bw->sync.repetitions, 3);
  }
  EXPECT_EQ(MeasureCopyBandwidth(**dram, **file, 0, 1, options).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace autotm::agent
