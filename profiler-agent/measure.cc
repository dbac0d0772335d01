#include "profiler-agent/measure.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace autotm::agent {
namespace {

double Quantile(std::vector<double> sorted, double q) {
  const double pos = q * (sorted.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

Measurement Summarize(std::vector<double> times_us) {
  std::sort(times_us.begin(), times_us.end());
  Measurement m;
  m.repetitions = static_cast<int>(times_us.size());
  m.median_us = Quantile(times_us, 0.5);
  m.spread =
      m.median_us > 0
          ? (Quantile(times_us, 0.75) - Quantile(times_us, 0.25)) / m.median_us
          : 0;
  return m;
}

}  // namespace

absl::StatusOr<Measurement> MeasureRepeated(
    const std::function<absl::Status()>& run, const MeasureOptions& options) {
  if (options.warmup < 0 || options.min_repetitions < 1 ||
      options.max_repetitions < options.min_repetitions ||
      !(options.max_spread >= 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "measure options: need warmup >= 0, 1 <= min_repetitions <= "
        "max_repetitions and max_spread >= 0 (got ",
        options.warmup, ", ", options.min_repetitions, ", ",
        options.max_repetitions, ", ", options.max_spread, ")"));
  }
  for (int i = 0; i < options.warmup; ++i) {
    if (absl::Status s = run(); !s.ok()) return s;
  }
  using Clock = std::chrono::steady_clock;
  std::vector<double> times_us;
  double total_us = 0;
  const double max_us = absl::ToDoubleMicroseconds(options.max_time);
  while (true) {
    const Clock::time_point start = Clock::now();
    if (absl::Status s = run(); !s.ok()) return s;
    const double us =
        std::chrono::duration<double, std::micro>(Clock::now() - start).count();
    times_us.push_back(us);
    total_us += us;
    const int n = static_cast<int>(times_us.size());
    if (n >= options.max_repetitions) break;
    if (n >= options.min_repetitions) {
      if (total_us >= max_us) break;
      if (Summarize(times_us).spread <= options.max_spread) break;
    }
  }
  return Summarize(std::move(times_us));
}

absl::StatusOr<CopyBandwidth> MeasureCopyBandwidth(
    Tier& from, Tier& to, size_t bytes, int threads,
    const MeasureOptions& options) {
  if (bytes < 1 || threads < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("copy probe needs bytes >= 1 and threads >= 1 (got ",
                     bytes, ", ", threads, ")"));
  }
  absl::StatusOr<TierBuffer> src = from.Allocate(bytes);
  if (!src.ok()) return src.status();
  absl::StatusOr<TierBuffer> dst = to.Allocate(bytes);
  if (!dst.ok()) return dst.status();
  std::memset(src->data(), 0x5a, bytes);
  const char* s = static_cast<const char*>(src->data());
  char* d = static_cast<char*>(dst->data());

  auto copy_on = [&](int n) {
    std::vector<std::thread> workers;
    workers.reserve(n);
    const size_t slice = (bytes + n - 1) / n;
    for (int t = 0; t < n; ++t) {
      const size_t begin = std::min(bytes, t * slice);
      const size_t end = std::min(bytes, begin + slice);
      workers.emplace_back(
          [=] { std::memcpy(d + begin, s + begin, end - begin); });
    }
    for (std::thread& w : workers) w.join();
    return absl::OkStatus();
  };
  CopyBandwidth result;
  absl::StatusOr<Measurement> sync =
      MeasureRepeated([&] { return copy_on(threads); }, options);
  if (!sync.ok()) return sync.status();
  absl::StatusOr<Measurement> async =
      MeasureRepeated([&] { return copy_on(1); }, options);
  if (!async.ok()) return async.status();
  result.sync = *sync;
  result.async = *async;
  result.sync_gb_per_s = bytes / (sync->median_us * 1e3);
  result.async_gb_per_s = bytes / (async->median_us * 1e3);
  // The destination must still be where it was said to be (a file tier's
  // page cache can be reclaimed under pressure).
  if (absl::Status st = to.VerifyPlacement(dst->data(), dst->size());
      !st.ok()) {
    return st;
  }
  return result;
}

}  // namespace autotm::agent
