// The solve defaults, in one place: every entry point (PlanOptions, the
// server's SolveParameters, the CLI's flags, the benchmarks) takes its
// defaults from here, so that a plan asked for without options is the same
// plan everywhere.
#ifndef AUTOTM_SOLVER_DEFAULTS_H_
#define AUTOTM_SOLVER_DEFAULTS_H_

#include <cstdint>

namespace autotm::solver {

// Wall-clock limit of one planning call (seeds, ILP, layout), seconds.
inline constexpr double kDefaultTimeLimitSeconds = 60;
// Stop once the plan is proven within this relative gap of the optimum.
inline constexpr double kDefaultRelativeGap = 0.01;
// ASYNCHRONOUS: kernels within this distance of a tensor's user may
// overlap its copies (AutoTM's 15).
inline constexpr int kDefaultAsyncWindow = 15;
// Models below this many columns get CBC's Gomory and two-MIR cuts at the
// root (SolveParams::root_cuts_max_columns).
inline constexpr int kDefaultRootCutsMaxColumns = 50000;
// Fast-pool offsets are multiples of this; sizes count rounded up to it.
inline constexpr uint64_t kDefaultAlignmentBytes = 4096;

}  // namespace autotm::solver

#endif  // AUTOTM_SOLVER_DEFAULTS_H_
