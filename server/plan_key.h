// The plan-cache key: a content digest over everything that changes what a
// solve produces, so that equal inputs find the same cached plan.
#ifndef AUTOTM_SERVER_PLAN_KEY_H_
#define AUTOTM_SERVER_PLAN_KEY_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/job.pb.h"
#include "solver/defaults.h"

namespace autotm::server {

// Defaults of SolveParameters fields left at zero.
inline constexpr v1::Method kDefaultMethod = v1::METHOD_SYNCHRONOUS;
inline constexpr double kDefaultTimeLimitSeconds =
    solver::kDefaultTimeLimitSeconds;
inline constexpr double kDefaultRelativeGap = solver::kDefaultRelativeGap;
inline constexpr uint64_t kDefaultAlignmentBytes =
    solver::kDefaultAlignmentBytes;
inline constexpr uint32_t kDefaultAsyncWindow = solver::kDefaultAsyncWindow;
// Largest accepted values. A window of w kernels makes up to w decision
// points per tensor use (AutoTM uses 15; 1000 is far past any useful
// window, and 2^32-1 overflowed the solver's int); alignments beyond 1 GiB
// make no sense for a memory pool.
inline constexpr uint32_t kMaxAsyncWindow = 1000;
inline constexpr uint64_t kMaxAlignmentBytes = uint64_t{1} << 30;

// Returns `parameters` with every unset field at its default, or
// InvalidArgument naming the bad field: a negative or non-finite time limit,
// a gap outside [0, 1), an alignment that is not a power of two or above
// kMaxAlignmentBytes, an async window above kMaxAsyncWindow, an unknown
// method. (The server's own cap on the time limit is RequestLimits'.)
absl::StatusOr<v1::SolveParameters> NormalizeParameters(
    const v1::SolveParameters& parameters);

// "cbc 2.10.x; autotm 0.1.0": part of every key, so a new solver or planner
// never serves plans made by an old one.
const std::string& SolverVersion();

// "sha256:<hex>" over a canonical text form of the inputs. `parameters`
// should be normalised (NormalizeParameters) so that explicit defaults and
// unset fields give the same key.
std::string PlanCacheKey(absl::string_view graph_digest,
                         absl::string_view host_class, uint64_t profile_version,
                         uint64_t budget_bytes,
                         const v1::SolveParameters& parameters,
                         absl::string_view solver_version);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_PLAN_KEY_H_
