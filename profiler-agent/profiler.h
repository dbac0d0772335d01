// The profiling run: the unique kernel signatures of a graph, each measured
// under its IO-tier configurations with real kernels, plus the copy
// bandwidths between the tiers, as a v1::Profile.
//
// Thread safety: ProfileGraph() uses the calling thread plus oneDNN's and the
// copy probe's threads; run one at a time per host.
#ifndef AUTOTM_PROFILER_AGENT_PROFILER_H_
#define AUTOTM_PROFILER_AGENT_PROFILER_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "profiler-agent/measure.h"
#include "profiler-agent/tier.h"

namespace autotm::agent {

struct Progress {
  int done_configs = 0;
  int total_configs = 0;
  std::string current;  // signature key being measured
  absl::Duration elapsed;
  absl::Duration eta;  // InfiniteDuration() until something was measured
};

struct ProfilerOptions {
  // HostClass.name of the profile. Default "local".
  std::string host_class_name = "local";
  // A kernel with n operands gets a full table of 2^n configurations when
  // 2^n <= max_configs, else a separable cost from n + 1 measurements (all
  // fast, then each operand alone slow). Default 256 (8 operands).
  int max_configs = 256;
  MeasureOptions measure;
  // Copy probe buffer size, bytes. Default 64 MiB.
  size_t copy_bytes = size_t{64} << 20;
  // Threads of the synchronous copy probe; 0 = every hardware thread.
  int copy_threads = 0;
  // A profile file holding what was measured so far; read at the start
  // (entries whose signature the graph has are kept, not measured again) and
  // rewritten atomically after each kernel. "" = no cache. A character
  // device or FIFO (/dev/null) is only written, never read back, and never
  // replaced (client::WriteFileAtomically). Default "".
  std::string cache_path;
  // Called before and after each configuration; may be empty.
  std::function<void(const Progress&)> on_progress;
};

struct ProfileResult {
  v1::Profile profile;
  // Signatures the agent could not run, as "KEY: reason" (sorted): the
  // profile lacks them.
  std::vector<std::string> unsupported;
  int measured_kernels = 0;
  int cached_kernels = 0;
};

// The host-class fingerprint: CPU model, threads, oneDNN version and ISA,
// and both tiers' descriptions.
std::string HostFingerprint(const Tier& fast, const Tier& slow);

// The work list of `graph`: each unique signature once, in kernel order,
// with the distinct operand-aliasing patterns of the kernels that use it (the
// same list the server's GetWorkList gives for a graph it has never seen).
// InvalidArgument when `graph` is not valid (solver::GraphModel's checks).
absl::StatusOr<std::vector<v1::WorkItem>> WorkListOf(const v1::Graph& graph);

// Measures every item of `work` and the copy bandwidths. A kernel gets a full
// table when 2^n <= max_configs, of the configurations that respect at least
// one of its usages allow (solver::UsableConfigs: a configuration that splits
// one tensor over both tiers, or moves a pinned tensor, can never be used,
// so it is not measured). Otherwise it gets a separable cost (all operands
// fast, then each alone slow). FailedPrecondition when the cache was written
// for another fingerprint or a buffer's placement fails verification (nothing
// wrong is measured); errors of the tiers and of writing the cache as they
// come. Signatures the agent cannot run are listed in `unsupported`, not
// errors.
absl::StatusOr<ProfileResult> ProfileWorkList(
    const std::vector<v1::WorkItem>& work, Tier& fast, Tier& slow,
    const ProfilerOptions& options);

// WorkListOf(graph), then ProfileWorkList.
absl::StatusOr<ProfileResult> ProfileGraph(const v1::Graph& graph, Tier& fast,
                                           Tier& slow,
                                           const ProfilerOptions& options);

}  // namespace autotm::agent

#endif  // AUTOTM_PROFILER_AGENT_PROFILER_H_
