// The long solve of the end-to-end tests: a small graph whose synchronous
// plan at a tiny relative gap CBC cannot prove optimal within minutes, so a
// job of it holds its worker until its time limit or its cancellation,
// however fast the machine. The tests that need "a job that is still
// running" (cancel, priorities, a full queue, kill -9 mid-run, a full disk
// under a running solve, server-side watch ends) use it instead of relying
// on how long CBC takes to prove something.
//
// Why it stays hard: 60 kernels, each reading its predecessor's output and
// those 3, 7 and 13 kernels back (skip connections), with tensor sizes of
// 1 to 7 MiB in a fixed pattern, at a third of the peak live bytes. With
// equal sizes (this graph's predecessor, 4 MiB each) every capacity row is
// a cardinality row that CBC's root cuts (Gomory, two-MIR) round exactly:
// `autotm solve --gap 1e-9` proved it optimal in about 0.8 s of CBC on an
// idle machine (8.9 s at a load average of 10). With the varied sizes they
// are knapsack rows the cuts do not close. Measured with `autotm solve
// --budget 33.333% --gap 1e-9` on the shared 2-core machine (load average
// 9-12, so CPU seconds are what counts): after 17 CPU s a gap of 8.1%
// (bound 70.175 ms); after 157 CPU s (a 600 s limit, 19,896 nodes) still
// 5.4%, with the bound at 70.219 ms and the incumbent at 74.220 ms. The
// bound rose 0.044 ms in those 140 CPU s; the 4 ms left would take hours at
// that pace. LongSolveGraphTest checks that it stays unproven. Building and
// uploading it cost what the old one did: 61 tensors, 1,672
// configurations.
//
// Mirrored by long_solve_graph() and long_solve_profile() in
// tests/python/client_test.py: change both together.
#ifndef AUTOTM_TESTS_E2E_LONG_SOLVE_GRAPH_H_
#define AUTOTM_TESTS_E2E_LONG_SOLVE_GRAPH_H_

#include <cstdint>

#include "autotm/v1/graph.pb.h"
#include "autotm/v1/placement_service.pb.h"
#include "autotm/v1/profile.pb.h"
#include "solver/graph_model.h"
#include "solver/testing/test_graphs.h"

namespace autotm::testing {

// The host class of LongSolveProfile().
inline constexpr char kLongSolveHostClass[] = "long-solve-host";

// solver::testing::SkipConnectionGraph of 60 kernels: tensor t (t0, the
// input, to t60) is (1 + 5t mod 7) MiB; kernel k (k1 to k60) reads t(k-1),
// t(k-3), t(k-7) and t(k-13) where they exist and writes tk.
inline v1::Graph LongSolveGraph() {
  return solver::testing::SkipConnectionGraph("long-solve", 60, [](int t) {
    return (1 + (5 * t) % 7) * (uint64_t{1} << 20);
  });
}

// A full configuration table for every kernel of LongSolveGraph():
// Optane-like times (solver::testing::OptaneLikeTimeUs) on a base of
// 100 + 10 k us for the k-th kernel (from 0).
inline v1::Profile LongSolveProfile() {
  const solver::GraphModel model = solver::testing::MustGraph(LongSolveGraph());
  v1::Profile profile = solver::testing::FullTableProfile(
      model, [&](int k, solver::ConfigMask mask) {
        return solver::testing::OptaneLikeTimeUs(
            100.0 + 10 * k, model.kernel(k).num_inputs, mask);
      });
  profile.mutable_host_class()->set_name(kLongSolveHostClass);
  return profile;
}

// A third of LongSolveGraph()'s peak live bytes (18.67 MiB of 56 MiB).
inline uint64_t LongSolveBudget() {
  return solver::testing::MustGraph(LongSolveGraph()).PeakLiveBytes() / 3;
}

// A job of LongSolveGraph() on kLongSolveHostClass at `budget` (default
// LongSolveBudget()), asked to prove a 1e-9 gap within
// `time_limit_seconds`: it runs until that limit, or until it is
// cancelled, and then succeeds with its best plan.
inline v1::CreateSolveJobRequest LongSolveJob(double time_limit_seconds,
                                              uint64_t budget = 0) {
  v1::CreateSolveJobRequest request;
  *request.mutable_graph()->mutable_inline_graph() = LongSolveGraph();
  request.set_host_class(kLongSolveHostClass);
  request.add_budgets_bytes(budget != 0 ? budget : LongSolveBudget());
  request.mutable_parameters()->set_time_limit_seconds(time_limit_seconds);
  request.mutable_parameters()->set_relative_gap(1e-9);
  return request;
}

}  // namespace autotm::testing

#endif  // AUTOTM_TESTS_E2E_LONG_SOLVE_GRAPH_H_
