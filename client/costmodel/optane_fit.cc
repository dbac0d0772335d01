#include "client/costmodel/optane_fit.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace autotm::costmodel {
namespace {

// Enumerator spellings for the generated include, in OpFamily order.
constexpr absl::string_view kEnumeratorNames[kNumOpFamilies] = {
    "kConvFwd",      "kConvBwdData", "kConvBwdWeights", "kBatchNorm",
    "kBatchNormBwd", "kEltwise",     "kPool",           "kConcatSplit",
    "kMatmul",       "kOther"};

// A kernel ready for fitting.
struct Sample {
  OpFamily family;
  KernelWork work;
  double all_fast_us;
  const MeasuredKernel* kernel;
};

// ---------------------------------------------------------------------------
// All-fast (roofline) fit.

struct BaseTerms {
  double compute_us_at_peak;  // F / peak
  double memory_us_at_full;   // R / read_bw + W / write_bw
  bool cached;                // R + W <= LLC
  double log_time;            // log(measured all-DRAM time)
};

// Indices into the grids below: compute, DRAM, cache efficiency, launch.
using BaseParams = std::array<int, 4>;
constexpr int kEfficiencySteps = 501;  // 10^(k/100), k = -400..100
constexpr int kLaunchSteps = 201;      // 0, 0.5, ..., 100 us

double EfficiencyAt(int index) { return std::pow(10.0, (index - 400) / 100.0); }
double LaunchAt(int index) { return 0.5 * index; }

FamilyFactors BaseFactors(const BaseParams& p) {
  FamilyFactors f;
  f.compute_efficiency = EfficiencyAt(p[0]);
  f.dram_efficiency = EfficiencyAt(p[1]);
  f.cache_efficiency = EfficiencyAt(p[2]);
  f.launch_us = LaunchAt(p[3]);
  return f;
}

double BaseLoss(const std::vector<BaseTerms>& terms, const BaseParams& p) {
  const double compute_eff = EfficiencyAt(p[0]);
  const double dram_eff = EfficiencyAt(p[1]);
  const double cache_eff = EfficiencyAt(p[2]);
  const double launch = LaunchAt(p[3]);
  double loss = 0;
  for (const BaseTerms& t : terms) {
    const double predicted = std::max(
        1e-6, launch + std::max(t.compute_us_at_peak / compute_eff,
                                t.memory_us_at_full /
                                    (t.cached ? cache_eff : dram_eff)));
    const double e = std::log(predicted) - t.log_time;
    loss += e * e;
  }
  return loss;
}

FamilyFactors FitBase(const std::vector<const Sample*>& samples,
                      const RooflineConstants& roofline) {
  std::vector<BaseTerms> terms;
  for (const Sample* s : samples) {
    const double read = s->work.read_bytes();
    const double write = s->work.write_bytes();
    terms.push_back({s->work.flops / (roofline.peak_gflop_per_s * 1e3),
                     (read / roofline.dram_read_gb_per_s +
                      write / roofline.dram_write_gb_per_s) /
                         1e3,
                     read + write <= roofline.llc_bytes,
                     std::log(s->all_fast_us)});
  }
  // Start: 50% of peak compute, full bandwidth, 5 us launch.
  BaseParams params = {370, 400, 400, 10};
  double loss = BaseLoss(terms, params);
  const int sizes[4] = {kEfficiencySteps, kEfficiencySteps, kEfficiencySteps,
                        kLaunchSteps};
  for (int round = 0; round < 1000; ++round) {
    bool improved = false;
    for (int c = 0; c < 4; ++c) {
      BaseParams trial = params;
      for (int i = 0; i < sizes[c]; ++i) {
        trial[c] = i;
        const double trial_loss = BaseLoss(terms, trial);
        // Strict improvement beyond rounding noise: the loss falls at every
        // move, so the descent ends.
        if (trial_loss < loss - 1e-12 * std::max(1.0, loss)) {
          loss = trial_loss;
          params[c] = i;
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  return BaseFactors(params);
}

// ---------------------------------------------------------------------------
// Slow-tier penalty fit: non-negative linear least squares in six features.

constexpr int kFeatures = 6;
using Features = std::array<double, kFeatures>;

// The penalty of the slow operands of `slow` is theta . features: time
// shares (in, out), megabytes (in, out), operand counts (in, out).
Features PenaltyFeatures(const KernelWork& work, double all_fast_us,
                         const std::vector<bool>& slow) {
  Features x{};
  const double read = work.read_bytes();
  const double write = work.write_bytes();
  const size_t inputs = work.input_bytes.size();
  for (size_t p = 0; p < slow.size(); ++p) {
    if (!slow[p]) continue;
    const bool output = p >= inputs;
    const double bytes =
        output ? work.output_bytes[p - inputs] : work.input_bytes[p];
    const double total = output ? write : read;
    x[output ? 1 : 0] += total > 0 ? all_fast_us * bytes / total : 0;
    x[output ? 3 : 2] += bytes / 1e6;
    x[output ? 5 : 4] += 1;
  }
  return x;
}

struct NormalEquations {
  std::array<std::array<double, kFeatures>, kFeatures> gram{};
  Features rhs{};
  double target_sq = 0;
};

// Solves gram[S][S] theta = rhs[S] for the features in `subset` by Gaussian
// elimination with partial pivoting; nullopt when (nearly) singular.
std::optional<Features> SolveSubset(const NormalEquations& ne, int subset) {
  std::vector<int> index;
  for (int j = 0; j < kFeatures; ++j) {
    if (subset >> j & 1) index.push_back(j);
  }
  const int n = static_cast<int>(index.size());
  std::vector<std::vector<double>> a(n, std::vector<double>(n + 1));
  double scale = 0;
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < n; ++c) a[r][c] = ne.gram[index[r]][index[c]];
    a[r][n] = ne.rhs[index[r]];
    scale = std::max(scale, std::abs(a[r][r]));
  }
  if (scale == 0) return std::nullopt;
  for (int c = 0; c < n; ++c) {
    int pivot = c;
    for (int r = c + 1; r < n; ++r) {
      if (std::abs(a[r][c]) > std::abs(a[pivot][c])) pivot = r;
    }
    if (std::abs(a[pivot][c]) <= 1e-12 * scale) return std::nullopt;
    std::swap(a[c], a[pivot]);
    for (int r = 0; r < n; ++r) {
      if (r == c) continue;
      const double factor = a[r][c] / a[c][c];
      for (int k = c; k <= n; ++k) a[r][k] -= factor * a[c][k];
    }
  }
  Features theta{};
  for (int r = 0; r < n; ++r) theta[index[r]] = a[r][n] / a[r][r];
  return theta;
}

Features SolveNonNegative(const NormalEquations& ne) {
  Features best{};
  double best_sse = ne.target_sq;  // theta = 0
  for (int subset = 1; subset < (1 << kFeatures); ++subset) {
    std::optional<Features> theta = SolveSubset(ne, subset);
    if (!theta) continue;
    bool feasible = true;
    for (double v : *theta) feasible = feasible && v >= 0;
    if (!feasible) continue;
    double sse = ne.target_sq;
    for (int i = 0; i < kFeatures; ++i) {
      sse -= 2 * (*theta)[i] * ne.rhs[i];
      for (int j = 0; j < kFeatures; ++j) {
        sse += (*theta)[i] * ne.gram[i][j] * (*theta)[j];
      }
    }
    if (sse < best_sse) {
      best_sse = sse;
      best = *theta;
    }
  }
  return best;
}

void FitPenalties(const std::vector<const Sample*>& samples,
                  FamilyFactors* factors) {
  NormalEquations ne;
  for (const Sample* s : samples) {
    for (const MeasuredConfig& config : s->kernel->configs) {
      if (config.time_us <= 0) continue;
      const Features x = PenaltyFeatures(s->work, s->all_fast_us, config.slow);
      bool any_slow = false;
      for (bool slow : config.slow) any_slow = any_slow || slow;
      if (!any_slow) continue;
      const double t = config.time_us;
      const double target = (t - s->all_fast_us) / t;
      for (int i = 0; i < kFeatures; ++i) {
        for (int j = 0; j < kFeatures; ++j) {
          ne.gram[i][j] += x[i] / t * x[j] / t;
        }
        ne.rhs[i] += x[i] / t * target;
      }
      ne.target_sq += target * target;
    }
  }
  const Features theta = SolveNonNegative(ne);
  factors->input_time_share = theta[0];
  factors->output_time_share = theta[1];
  factors->input_us_per_mb = theta[2];
  factors->output_us_per_mb = theta[3];
  factors->input_fixed_us = theta[4];
  factors->output_fixed_us = theta[5];
}

// ---------------------------------------------------------------------------
// Statistics.

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double position = q * static_cast<double>(values.size() - 1);
  const size_t below = static_cast<size_t>(std::floor(position));
  const size_t above = std::min(below + 1, values.size() - 1);
  const double fraction = position - static_cast<double>(below);
  return values[below] + fraction * (values[above] - values[below]);
}

ErrorStats Summarize(const std::vector<double>& errors) {
  return {static_cast<int64_t>(errors.size()), Quantile(errors, 0.5),
          Quantile(errors, 0.9)};
}

struct LogMean {
  int64_t count = 0;
  double measured = 0;
  double predicted = 0;
  void Add(double measured_ratio, double predicted_ratio) {
    ++count;
    measured += std::log(measured_ratio);
    predicted += std::log(predicted_ratio);
  }
  SlowdownStats Stats() const {
    if (count == 0) return {};
    return {count, std::exp(measured / count), std::exp(predicted / count)};
  }
};

// Error lists of one family (or of all together).
struct Errors {
  std::vector<double> base, slowdown, synthetic;
  LogMean outputs, inputs;
  int64_t kernels = 0;
  int64_t measurements = 0;

  void Append(const Errors& other) {
    base.insert(base.end(), other.base.begin(), other.base.end());
    slowdown.insert(slowdown.end(), other.slowdown.begin(),
                    other.slowdown.end());
    synthetic.insert(synthetic.end(), other.synthetic.begin(),
                     other.synthetic.end());
    outputs.count += other.outputs.count;
    outputs.measured += other.outputs.measured;
    outputs.predicted += other.outputs.predicted;
    inputs.count += other.inputs.count;
    inputs.measured += other.inputs.measured;
    inputs.predicted += other.inputs.predicted;
    kernels += other.kernels;
    measurements += other.measurements;
  }
};

double Predict(const SeparableTime& cost, const std::vector<bool>& slow) {
  double time = cost.all_fast_us;
  const size_t inputs = cost.input_penalty_us.size();
  for (size_t p = 0; p < slow.size(); ++p) {
    if (!slow[p]) continue;
    time += p < inputs ? cost.input_penalty_us[p]
                       : cost.output_penalty_us[p - inputs];
  }
  return time;
}

void Evaluate(const Sample& s, const FamilyFactors& factors,
              const RooflineConstants& roofline, Errors* errors) {
  const double t0 = s.all_fast_us;
  const SeparableTime measured_base = SlowPenalties(factors, s.work, t0);
  const SeparableTime synthetic =
      SlowPenalties(factors, s.work, RooflineTimeUs(roofline, factors, s.work));
  ++errors->kernels;
  errors->base.push_back(std::abs(synthetic.all_fast_us - t0) / t0);

  const size_t inputs = s.work.input_bytes.size();
  const size_t operands = inputs + s.work.output_bytes.size();
  std::vector<bool> free(operands, false);
  for (const MeasuredConfig& config : s.kernel->configs) {
    for (size_t p = 0; p < operands; ++p) free[p] = free[p] || config.slow[p];
  }
  std::vector<bool> outputs_slow(operands, false);
  bool any_free_output = false;
  for (size_t p = inputs; p < operands; ++p) {
    outputs_slow[p] = free[p];
    any_free_output = any_free_output || free[p];
  }
  std::vector<bool> inputs_slow(operands, false);
  bool all_inputs_free = inputs > 0;
  for (size_t p = 0; p < inputs; ++p) {
    inputs_slow[p] = true;
    all_inputs_free = all_inputs_free && free[p];
  }

  for (const MeasuredConfig& config : s.kernel->configs) {
    if (config.time_us <= 0) continue;
    const double t = config.time_us;
    ++errors->measurements;
    errors->synthetic.push_back(std::abs(Predict(synthetic, config.slow) - t) /
                                t);
    bool any_slow = false;
    for (bool slow : config.slow) any_slow = any_slow || slow;
    if (!any_slow) continue;
    const double predicted = Predict(measured_base, config.slow);
    errors->slowdown.push_back(std::abs(predicted - t) / t);
    if (any_free_output && config.slow == outputs_slow) {
      errors->outputs.Add(t / t0, predicted / t0);
    }
    if (all_inputs_free && config.slow == inputs_slow) {
      errors->inputs.Add(t / t0, predicted / t0);
    }
  }
}

void StoreStats(const Errors& errors, FamilyFit* fit) {
  fit->kernels = errors.kernels;
  fit->measurements = errors.measurements;
  fit->base_error = Summarize(errors.base);
  fit->slowdown_error = Summarize(errors.slowdown);
  fit->synthetic_error = Summarize(errors.synthetic);
  fit->outputs_in_pmm = errors.outputs.Stats();
  fit->inputs_in_pmm = errors.inputs.Stats();
}

}  // namespace

absl::StatusOr<FitResult> FitOptaneModel(
    const std::vector<MeasuredKernel>& kernels,
    const RooflineConstants& roofline) {
  FitResult result;
  result.roofline = roofline;
  std::vector<Sample> samples;
  for (const MeasuredKernel& kernel : kernels) {
    ++result.total_kernels;
    for (const MeasuredConfig& config : kernel.configs) {
      ++result.total_measurements;
      if (config.time_us <= 0) ++result.zero_time_measurements;
    }
    const std::optional<double> all_fast = kernel.AllFastTimeUs();
    if (!all_fast || *all_fast <= 0) {
      ++result.kernels_without_base;
      continue;
    }
    KernelWork work = AnalyzeKernel(kernel.signature);
    const OpFamily family = work.family;
    samples.push_back({family, std::move(work), *all_fast, &kernel});
  }
  if (samples.empty()) {
    return absl::InvalidArgumentError(
        "no measured kernel has a positive all-DRAM time");
  }

  std::array<std::vector<const Sample*>, kNumOpFamilies> by_family;
  for (const Sample& s : samples) {
    by_family[static_cast<int>(s.family)].push_back(&s);
  }
  // Other first: families without data fall back to it.
  const int other = static_cast<int>(OpFamily::kOther);
  std::array<FamilyFactors, kNumOpFamilies> factors;
  auto fit_family = [&](int f) {
    factors[f] = FitBase(by_family[f], roofline);
    FitPenalties(by_family[f], &factors[f]);
  };
  if (!by_family[other].empty()) fit_family(other);
  for (int f = 0; f < kNumOpFamilies; ++f) {
    if (f == other) continue;
    if (by_family[f].empty()) {
      factors[f] = factors[other];
    } else {
      fit_family(f);
    }
  }

  Errors all;
  for (int f = 0; f < kNumOpFamilies; ++f) {
    FamilyFit fit;
    fit.family = static_cast<OpFamily>(f);
    fit.factors = factors[f];
    Errors errors;
    for (const Sample* s : by_family[f]) {
      Evaluate(*s, factors[f], roofline, &errors);
    }
    StoreStats(errors, &fit);
    all.Append(errors);
    result.families.push_back(fit);
  }
  result.overall.family = OpFamily::kOther;
  StoreStats(all, &result.overall);
  return result;
}

CostModel ModelFromFit(const FitResult& fit) {
  const CostModel reference = CostModel::Optane2019();
  std::array<FamilyFactors, kNumOpFamilies> factors;
  for (const FamilyFit& family : fit.families) {
    factors[static_cast<int>(family.family)] = family.factors;
  }
  return CostModel(fit.roofline, factors, reference.host_class(),
                   reference.bandwidths());
}

std::string FormatFitReport(const FitResult& fit) {
  const RooflineConstants& r = fit.roofline;
  std::string out;
  absl::StrAppendFormat(
      &out,
      "Optane cost model fitted on %d timings of %d kernels "
      "(AutoTM, Optane DC, 24 threads).\n"
      "Left out: %d kernels without a positive all-DRAM time, %d timings of "
      "0 us.\n\n",
      fit.total_measurements, fit.total_kernels, fit.kernels_without_base,
      fit.zero_time_measurements);
  absl::StrAppendFormat(
      &out,
      "All-DRAM time (roofline): peak %.0f GFLOP/s fp32, DRAM %.1f GB/s read "
      "/ %.1f GB/s write, LLC %.0f MB\n"
      "  t_dram = launch + max(F / (peak * compute_eff), "
      "R / (read_bw * e) + W / (write_bw * e)),\n"
      "  e = cache_eff if R + W <= LLC else dram_eff\n"
      "Penalty of one operand of B bytes in PMM (t = all-DRAM time, S = "
      "bytes of all inputs, or of all outputs):\n"
      "  share * t * B / S + us_per_mb * B / 1e6 + fixed_us\n\n",
      r.peak_gflop_per_s, r.dram_read_gb_per_s, r.dram_write_gb_per_s,
      r.llc_bytes / 1e6);

  absl::StrAppend(&out, "Fitted all-DRAM time factors\n");
  absl::StrAppendFormat(&out, "%-17s %9s %11s %9s %9s\n", "family", "launch_us",
                        "compute_eff", "dram_eff", "cache_eff");
  for (const FamilyFit& f : fit.families) {
    absl::StrAppendFormat(
        &out, "%-17s %9.1f %11.4f %9.4f %9.4f\n", OpFamilyName(f.family),
        f.factors.launch_us, f.factors.compute_efficiency,
        f.factors.dram_efficiency, f.factors.cache_efficiency);
  }
  absl::StrAppend(&out, "\nFitted PMM penalty factors\n");
  absl::StrAppendFormat(&out, "%-17s %9s %9s %10s %10s %9s %9s\n", "family",
                        "in_share", "out_share", "in_us/MB", "out_us/MB",
                        "in_fix_us", "out_fix_us");
  for (const FamilyFit& f : fit.families) {
    const FamilyFactors& x = f.factors;
    absl::StrAppendFormat(&out, "%-17s %9.4f %9.4f %10.4f %10.4f %9.2f %9.2f\n",
                          OpFamilyName(f.family), x.input_time_share,
                          x.output_time_share, x.input_us_per_mb,
                          x.output_us_per_mb, x.input_fixed_us,
                          x.output_fixed_us);
  }

  absl::StrAppend(
      &out,
      "\nRelative error |predicted - measured| / measured\n"
      "  base:      roofline all-DRAM time, one per kernel\n"
      "  slowdown:  configs with an operand in PMM, from the measured "
      "all-DRAM time + penalties\n"
      "  synthetic: every timing, from the roofline time + penalties (what "
      "`profile synth` gives)\n");
  absl::StrAppendFormat(
      &out, "%-17s %7s %7s | %7s %7s | %7s %7s %7s | %7s %7s\n", "", "kernels",
      "timings", "base", "", "slowdown", "", "", "synth", "");
  absl::StrAppendFormat(
      &out, "%-17s %7s %7s | %7s %7s | %7s %7s %7s | %7s %7s\n", "family", "",
      "", "median", "p90", "configs", "median", "p90", "median", "p90");
  auto error_row = [&out](absl::string_view name, const FamilyFit& f) {
    absl::StrAppendFormat(
        &out,
        "%-17s %7d %7d | %6.1f%% %6.1f%% | %7d %6.1f%% %6.1f%% | %6.1f%% "
        "%6.1f%%\n",
        name, f.kernels, f.measurements, 100 * f.base_error.median,
        100 * f.base_error.p90, f.slowdown_error.count,
        100 * f.slowdown_error.median, 100 * f.slowdown_error.p90,
        100 * f.synthetic_error.median, 100 * f.synthetic_error.p90);
  };
  for (const FamilyFit& f : fit.families) error_row(OpFamilyName(f.family), f);
  error_row("all", fit.overall);

  absl::StrAppend(
      &out,
      "\nGeomean slowdown vs all-DRAM: measured / model (from the measured "
      "all-DRAM time)\n"
      "  outputs in PMM: inputs in DRAM, every output that may be in PMM in "
      "PMM\n"
      "  inputs in PMM:  every input in PMM (kernels whose inputs may all "
      "be), outputs in DRAM\n");
  absl::StrAppendFormat(&out, "%-17s %6s %9s %7s | %6s %9s %7s\n", "family",
                        "n", "out:meas", "model", "n", "in:meas", "model");
  auto slowdown_row = [&out](absl::string_view name, const FamilyFit& f) {
    absl::StrAppendFormat(&out, "%-17s %6d %8.2fx %6.2fx | %6d %8.2fx %6.2fx\n",
                          name, f.outputs_in_pmm.count,
                          f.outputs_in_pmm.measured, f.outputs_in_pmm.predicted,
                          f.inputs_in_pmm.count, f.inputs_in_pmm.measured,
                          f.inputs_in_pmm.predicted);
  };
  for (const FamilyFit& f : fit.families) {
    slowdown_row(OpFamilyName(f.family), f);
  }
  slowdown_row("all", fit.overall);
  return out;
}

std::string FormatFactorsInclude(const FitResult& fit,
                                 absl::string_view command) {
  std::string out = absl::StrCat(
      "// Generated by `", command,
      "`\n"
      "// (from the repository root) on AutoTM's Optane DC measurements\n"
      "// (data/optane-2019/fuzz_kernel_profiles.jsonl.gz). Do not edit: "
      "re-run\n"
      "// the command and rebuild. optane_fit_test.cc checks that the fit\n"
      "// reproduces these numbers; docs/COST_MODEL.md explains them.\n"
      "// clang-format off\n");
  for (const FamilyFit& f : fit.families) {
    const FamilyFactors& x = f.factors;
    absl::StrAppendFormat(&out, "{OpFamily::%s, {  // %s\n",
                          kEnumeratorNames[static_cast<int>(f.family)],
                          OpFamilyName(f.family));
    const std::pair<absl::string_view, double> fields[] = {
        {"launch_us", x.launch_us},
        {"compute_efficiency", x.compute_efficiency},
        {"dram_efficiency", x.dram_efficiency},
        {"cache_efficiency", x.cache_efficiency},
        {"input_time_share", x.input_time_share},
        {"output_time_share", x.output_time_share},
        {"input_us_per_mb", x.input_us_per_mb},
        {"output_us_per_mb", x.output_us_per_mb},
        {"input_fixed_us", x.input_fixed_us},
        {"output_fixed_us", x.output_fixed_us}};
    for (const auto& [name, value] : fields) {
      absl::StrAppendFormat(&out, "    .%s = %.17g,\n", name, value);
    }
    absl::StrAppend(&out, "}},\n");
  }
  absl::StrAppend(&out, "// clang-format on\n");
  return out;
}

}  // namespace autotm::costmodel
