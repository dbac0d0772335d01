#include "profiler-agent/profiler.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/common/proto_json.h"
#include "profiler-agent/kernels.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/signature.h"
#include "solver/status_macros.h"
#include "solver/work_list.h"

namespace autotm::agent {
namespace {

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "model name")) {
      const size_t colon = rest.find(':');
      if (colon != absl::string_view::npos) {
        return std::string(absl::StripAsciiWhitespace(rest.substr(colon + 1)));
      }
    }
  }
  return "unknown CPU";
}

int ComputeThreads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS"); env && *env) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// Only a regular file (or a link to one) is resumed from: a character
// device or FIFO given as --cache (/dev/null: "no cache") is written
// through, never read back.
bool RegularFileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::vector<bool> MaskBits(uint64_t mask, int n) {
  std::vector<bool> slow(n);
  for (int p = 0; p < n; ++p) slow[p] = (mask >> p) & 1;
  return slow;
}

}  // namespace

std::string HostFingerprint(const Tier& fast, const Tier& slow) {
  return absl::StrCat("cpu=", CpuModel(), "; threads=", ComputeThreads(),
                      "; onednn=", OneDnnVersion(), " ", OneDnnCpuIsa(),
                      "; fast=", fast.Description(),
                      "; slow=", slow.Description());
}

absl::StatusOr<std::vector<v1::WorkItem>> WorkListOf(const v1::Graph& graph) {
  AUTOTM_RETURN_IF_ERROR(solver::GraphModel::Create(graph).status());
  solver::WorkListBuilder builder;
  builder.AddGraph(graph);
  return builder.Take();
}

absl::StatusOr<ProfileResult> ProfileGraph(const v1::Graph& graph, Tier& fast,
                                           Tier& slow,
                                           const ProfilerOptions& options) {
  AUTOTM_ASSIGN_OR_RETURN(std::vector<v1::WorkItem> work, WorkListOf(graph));
  return ProfileWorkList(work, fast, slow, options);
}

namespace {

// Loads the kernels measured by an earlier run from options.cache_path
// into *cached (by signature key) and its bandwidths into *profile.
// FailedPrecondition when the cache was measured on another host
// (`fingerprint`).
absl::Status ResumeFromCache(
    const ProfilerOptions& options, const std::string& fingerprint,
    v1::Profile* profile,
    absl::flat_hash_map<std::string, v1::KernelProfile>* cached) {
  if (options.cache_path.empty() || !RegularFileExists(options.cache_path)) {
    return absl::OkStatus();
  }
  v1::Profile old;
  AUTOTM_RETURN_IF_ERROR(client::ReadProtoJsonFile(options.cache_path, &old));
  if (old.host_class().fingerprint() != fingerprint) {
    return absl::FailedPreconditionError(
        absl::StrCat("cache ", options.cache_path, " was measured on \"",
                     old.host_class().fingerprint(), "\", this run is \"",
                     fingerprint, "\"; remove it or use another --cache"));
  }
  for (const v1::KernelProfile& k : old.kernels()) {
    (*cached)[solver::SignatureKey(k.signature())] = k;
  }
  *profile->mutable_bandwidths() = old.bandwidths();
  return absl::OkStatus();
}

// Measures the copy bandwidths into *profile unless it has all four (from
// the cache). Returns whether it measured.
absl::StatusOr<bool> MeasureBandwidthsIfMissing(Tier& fast, Tier& slow,
                                                const ProfilerOptions& options,
                                                v1::Profile* profile) {
  const v1::CopyBandwidths& bw = profile->bandwidths();
  if (bw.slow_to_fast_sync_gb_per_s() > 0 &&
      bw.fast_to_slow_sync_gb_per_s() > 0 &&
      bw.slow_to_fast_async_gb_per_s() > 0 &&
      bw.fast_to_slow_async_gb_per_s() > 0) {
    return false;
  }
  const int threads =
      options.copy_threads > 0 ? options.copy_threads : ComputeThreads();
  AUTOTM_ASSIGN_OR_RETURN(CopyBandwidth to_fast,
                          MeasureCopyBandwidth(slow, fast, options.copy_bytes,
                                               threads, options.measure));
  AUTOTM_ASSIGN_OR_RETURN(CopyBandwidth to_slow,
                          MeasureCopyBandwidth(fast, slow, options.copy_bytes,
                                               threads, options.measure));
  v1::CopyBandwidths* b = profile->mutable_bandwidths();
  b->set_slow_to_fast_sync_gb_per_s(to_fast.sync_gb_per_s);
  b->set_slow_to_fast_async_gb_per_s(to_fast.async_gb_per_s);
  b->set_fast_to_slow_sync_gb_per_s(to_slow.sync_gb_per_s);
  b->set_fast_to_slow_async_gb_per_s(to_slow.async_gb_per_s);
  return true;
}

// Configurations per signature: a full table when it has at most
// `max_configs`, else the separable probes (all fast, then each operand
// slow alone).
bool IsFullTable(const v1::KernelSignature& s, int max_configs) {
  const int n = s.inputs_size() + s.outputs_size();
  return n < 63 && (uint64_t{1} << n) <= uint64_t(max_configs);
}

std::vector<uint64_t> MasksOf(const v1::WorkItem& item, int max_configs) {
  const v1::KernelSignature& s = item.signature();
  const int n = s.inputs_size() + s.outputs_size();
  std::vector<uint64_t> masks;
  if (IsFullTable(s, max_configs)) {
    masks = solver::UsableConfigs(item);
  } else {
    masks.push_back(0);
    for (int p = 0; p < n && p < 63; ++p) masks.push_back(uint64_t{1} << p);
  }
  return masks;
}

// The separable cost from the probes' `times` (all fast first, then each
// operand slow alone).
void SetSeparable(const v1::KernelSignature& s,
                  const std::vector<double>& times, v1::KernelProfile* kernel) {
  const int ni = s.inputs_size();
  const int n = ni + s.outputs_size();
  v1::SeparableCost* sep = kernel->mutable_separable();
  sep->set_all_fast_time_us(times[0]);
  for (int p = 0; p < n; ++p) {
    const double penalty = std::max(0.0, times[p + 1] - times[0]);
    if (p < ni) {
      sep->add_input_slow_penalty_us(penalty);
    } else {
      sep->add_output_slow_penalty_us(penalty);
    }
  }
}

// Measures every configuration of `item` into *kernel, calling `report`
// around each. Returns false (nothing measured kept, the reason in
// result->unsupported) when oneDNN cannot run one of them; errors for a
// failed measurement or an operand that left its tier.
absl::StatusOr<bool> MeasureKernel(
    const v1::WorkItem& item, Tier& fast, Tier& slow,
    const ProfilerOptions& options,
    const std::function<void(const std::string&)>& report, Progress* progress,
    ProfileResult* result, v1::KernelProfile* kernel) {
  const v1::KernelSignature* s = &item.signature();
  const std::string key = solver::SignatureKey(*s);
  const int ni = s->inputs_size();
  const int no = s->outputs_size();
  const int n = ni + no;
  const std::vector<uint64_t> masks = MasksOf(item, options.max_configs);
  const bool table = IsFullTable(*s, options.max_configs);
  *kernel->mutable_signature() = *s;
  std::vector<double> times;
  for (uint64_t mask : masks) {
    report(key);
    absl::StatusOr<std::unique_ptr<PreparedKernel>> prepared =
        PreparedKernel::Create(*s, MaskBits(mask, n), fast, slow);
    if (!prepared.ok() && (absl::IsUnimplemented(prepared.status()) ||
                           absl::IsInvalidArgument(prepared.status()))) {
      result->unsupported.push_back(
          absl::StrCat(key, ": ", prepared.status().message()));
      if (IsSupportedOp(s->op())) {
        progress->total_configs -=
            static_cast<int>(masks.size()) - static_cast<int>(times.size());
      }
      return false;
    }
    if (!prepared.ok()) return prepared.status();
    PreparedKernel& k = **prepared;
    AUTOTM_ASSIGN_OR_RETURN(
        Measurement m,
        MeasureRepeated([&] { return k.Run(); }, options.measure));
    // Still where the configuration says after the runs, or refuse.
    if (absl::Status placed = k.VerifyPlacement(); !placed.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat(key, " config ", solver::FormatConfig(mask, ni, no),
                       ": ", placed.message()));
    }
    times.push_back(m.median_us);
    if (table) {
      v1::ConfigTiming* c = kernel->add_configs();
      c->set_config(solver::FormatConfig(mask, ni, no));
      c->set_time_us(m.median_us);
      c->set_spread(m.spread);
      c->set_repetitions(m.repetitions);
    }
    ++progress->done_configs;
    report(key);
  }
  if (!table) SetSeparable(*s, times, kernel);
  return true;
}

}  // namespace

absl::StatusOr<ProfileResult> ProfileWorkList(
    const std::vector<v1::WorkItem>& work_items, Tier& fast, Tier& slow,
    const ProfilerOptions& options) {
  if (options.max_configs < 1) {
    return absl::InvalidArgumentError("max_configs must be >= 1");
  }
  ProfileResult result;
  v1::Profile& profile = result.profile;
  v1::HostClass* host = profile.mutable_host_class();
  host->set_name(options.host_class_name);
  host->set_fingerprint(HostFingerprint(fast, slow));
  host->set_fast_tier_name(fast.Description());
  host->set_slow_tier_name(slow.Description());

  // Each unique signature once, in work-list order.
  std::vector<const v1::WorkItem*> work;
  absl::flat_hash_set<std::string> seen;
  for (const v1::WorkItem& item : work_items) {
    if (seen.insert(solver::SignatureKey(item.signature())).second) {
      work.push_back(&item);
    }
  }

  // Resume from the cache.
  absl::flat_hash_map<std::string, v1::KernelProfile> cached;
  AUTOTM_RETURN_IF_ERROR(
      ResumeFromCache(options, host->fingerprint(), &profile, &cached));
  auto save = [&]() -> absl::Status {
    if (options.cache_path.empty()) return absl::OkStatus();
    return client::WriteProtoJsonFile(options.cache_path, profile);
  };
  // Copy bandwidths, unless the cache has them.
  AUTOTM_ASSIGN_OR_RETURN(
      const bool measured,
      MeasureBandwidthsIfMissing(fast, slow, options, &profile));
  if (measured) {
    AUTOTM_RETURN_IF_ERROR(save());
  }

  Progress progress;
  for (const v1::WorkItem* item : work) {
    const v1::KernelSignature& s = item->signature();
    if (!cached.contains(solver::SignatureKey(s)) && IsSupportedOp(s.op())) {
      progress.total_configs +=
          static_cast<int>(MasksOf(*item, options.max_configs).size());
    }
  }
  const absl::Time start = absl::Now();
  auto report = [&](const std::string& current) {
    if (!options.on_progress) return;
    progress.current = current;
    progress.elapsed = absl::Now() - start;
    progress.eta = progress.done_configs == 0
                       ? absl::InfiniteDuration()
                       : progress.elapsed *
                             (progress.total_configs - progress.done_configs) /
                             progress.done_configs;
    options.on_progress(progress);
  };

  for (const v1::WorkItem* item : work) {
    const std::string key = solver::SignatureKey(item->signature());
    if (auto it = cached.find(key); it != cached.end()) {
      *profile.add_kernels() = it->second;
      ++result.cached_kernels;
      continue;
    }
    v1::KernelProfile kernel;
    AUTOTM_ASSIGN_OR_RETURN(const bool supported,
                            MeasureKernel(*item, fast, slow, options, report,
                                          &progress, &result, &kernel));
    if (!supported) continue;
    *profile.add_kernels() = std::move(kernel);
    ++result.measured_kernels;
    AUTOTM_RETURN_IF_ERROR(save());
  }
  std::sort(result.unsupported.begin(), result.unsupported.end());
  return result;
}

}  // namespace autotm::agent
