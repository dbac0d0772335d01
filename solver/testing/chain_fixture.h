// A six-kernel chain graph, its profile and a schedule with every kind of
// move, shared by the plan-assembly and verifier tests.
#ifndef AUTOTM_SOLVER_TESTING_CHAIN_FIXTURE_H_
#define AUTOTM_SOLVER_TESTING_CHAIN_FIXTURE_H_

#include <vector>

#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "solver/graph_model.h"
#include "solver/schedule.h"

namespace autotm::solver::testing {

// Tensor indexes of the chain graph.
enum ChainTensor : int { kX, kW, kG, kA, kB, kC, kD, kE, kF, kNumTensors };

// The chain (live ranges in brackets):
//   k0: x      -> a     x [0,2]   input
//   k1: a, g   -> b     w [0,3]   weight, fixed fast
//   k2: x, b   -> c     g [0,1]   constant, fixed slow
//   k3: c, w   -> d     a [0,5]   b [1,2]   c [2,3]
//   k4: a, d   -> e     d [3,4]   e [4,5]   f [5,5]
//   k5: a, e   -> f
v1::Graph ChainGraph();

// Base times per kernel; k5 is short so that its async prefetch overruns it.
inline constexpr double kChainBaseUs[] = {10, 20, 30, 40, 50, 2};

// Full tables: OptaneLikeTimeUs(kChainBaseUs[k], ...), Optane bandwidths.
v1::Profile ChainProfile(const GraphModel& graph);

// A schedule exercising every kind of move:
//   x: created slow, prefetched before k0 and dropped for free after it;
//   a: created fast, evicted after k1 (a copy: no slow copy yet), prefetched
//      before k4, dropped for free after k4, prefetched async during k5;
//   b: a no-op TO_FAST (already fast); e: a no-op TO_SLOW (already slow).
// Plan moves it yields (no-ops dropped):
//   #0 x TO_FAST @0 (1000 B)   #1 x TO_SLOW @0 (free)   #2 a TO_SLOW @1 (copy)
//   #3 a TO_FAST @4            #4 a TO_SLOW @4 (free)   #5 a TO_FAST @5 async
// Configs: F|F, FS|F, SF|S, SF|F, FF|S, FS|F. Fast bytes: 13500, 36500,
// 24500, 4500, 16000, 14000.
std::vector<TensorSchedule> ChainSchedule();

}  // namespace autotm::solver::testing

#endif  // AUTOTM_SOLVER_TESTING_CHAIN_FIXTURE_H_
