// Timing: repeated measurement until the median is stable, and copy
// bandwidths between two tiers.
//
// Thread safety: the functions share no state; a copy probe uses its own
// threads and must not run beside another measurement on the same cores.
#ifndef AUTOTM_PROFILER_AGENT_MEASURE_H_
#define AUTOTM_PROFILER_AGENT_MEASURE_H_

#include <cstddef>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "profiler-agent/tier.h"

namespace autotm::agent {

struct MeasureOptions {
  // Untimed runs first (JIT compilation, page-cache and TLB warm-up).
  // Default 2.
  int warmup = 2;
  // At least this many timed runs. Default 5.
  int min_repetitions = 5;
  // At most this many timed runs (the cap when the spread stays high).
  // Default 50.
  int max_repetitions = 50;
  // Stop once the spread, (q75 - q25) / median of the timed runs, is at or
  // below this. Default 0.05 (5%).
  double max_spread = 0.05;
  // Stop after this much timed work even if neither of the above. Default
  // 2 s.
  absl::Duration max_time = absl::Seconds(2);
};

struct Measurement {
  double median_us = 0;
  // (q75 - q25) / median over the timed runs.
  double spread = 0;
  int repetitions = 0;
};

// Runs `run` options.warmup times, then times it until the spread is small
// enough (after min_repetitions) or a cap is reached. The first error of
// `run` comes back as it is. InvalidArgument for inconsistent options.
absl::StatusOr<Measurement> MeasureRepeated(
    const std::function<absl::Status()>& run, const MeasureOptions& options);

struct CopyBandwidth {
  // GB/s (1e9 bytes per second), from the median copy time.
  double sync_gb_per_s = 0;   // `threads` threads each copying a slice
  double async_gb_per_s = 0;  // one helper thread copying everything
  Measurement sync, async;
};

// Copies a `bytes` buffer allocated on `from` to one allocated on `to`,
// once split over `threads` threads (synchronous: what a copy that blocks
// compute gets) and once on one thread (asynchronous: the helper thread that
// overlaps compute). Errors of Tier::Allocate; InvalidArgument for bytes or
// threads < 1.
absl::StatusOr<CopyBandwidth> MeasureCopyBandwidth(
    Tier& from, Tier& to, size_t bytes, int threads,
    const MeasureOptions& options);

}  // namespace autotm::agent

#endif  // AUTOTM_PROFILER_AGENT_MEASURE_H_
