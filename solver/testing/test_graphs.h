// Builders for small graphs and profiles in tests.
#ifndef AUTOTM_SOLVER_TESTING_TEST_GRAPHS_H_
#define AUTOTM_SOLVER_TESTING_TEST_GRAPHS_H_

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::solver::testing {

// Builds a v1::Graph. Each kernel gets a signature unique to it (attribute
// "kernel" = its id) whose operand shapes are [size_bytes / 4] f32, so tests
// can give every kernel its own timings.
class GraphBuilder {
 public:
  explicit GraphBuilder(std::string name = "test") { graph_.set_name(name); }
  GraphBuilder& Tensor(const std::string& id, uint64_t size_bytes,
                       v1::TensorRole role = v1::TENSOR_ROLE_ACTIVATION,
                       v1::Tier fixed_tier = v1::TIER_UNSPECIFIED);
  GraphBuilder& Kernel(const std::string& id,
                       const std::vector<std::string>& inputs,
                       const std::vector<std::string>& outputs);
  const v1::Graph& graph() const { return graph_; }

 private:
  v1::Graph graph_;
};

// AutoTM's Optane copy bandwidths (GB/s): 29 / 12 sync, 2 / 2.5 async.
v1::CopyBandwidths OptaneBandwidths();

// A profile with a full configuration table for every kernel of `graph`,
// timed by `time_us(kernel index, mask)` for every mask over the kernel's
// operand positions.
v1::Profile FullTableProfile(
    const GraphModel& graph,
    const std::function<double(int kernel, ConfigMask mask)>& time_us,
    const v1::CopyBandwidths& bandwidths = OptaneBandwidths());

// Kernel time = base * (1 + 1.0 per slow input + 5.0 per slow output): a
// rough Optane-like shape (slow outputs cost most).
double OptaneLikeTimeUs(double base_us, int num_inputs, ConfigMask mask);

// A random valid graph with at most `max_tensors` tensors and `max_kernels`
// kernels, sizes in [1, 8] MiB, for brute-force tests.
v1::Graph RandomGraph(std::mt19937_64& rng, int max_tensors, int max_kernels);

// The re-run-under-an-async-copy shape (4 MiB each): x (a graph input) ->
// k0 -> a; k1(a) -> b; k2(b) -> c; k3(a, c) -> d; k4(x, d) -> e. `a` may be
// dropped after k1 and re-made before k3 from x, which k3 does not read but
// which is live there, so a copy of x overlapping k3 lands after the re-run.
v1::Graph AsyncRecomputeGraph();

// `kernels` kernels in a chain with skip connections: tensor t (t0, a graph
// input, to t`kernels`) is `size_bytes(t)` bytes, and kernel k (k1 to
// k`kernels`) reads t(k-1), t(k-3), t(k-7) and t(k-13) where they exist and
// writes tk. Every kernel reads up to four tensors that stay live across
// many others, which gives the ILP many overlapping capacity rows: the
// shape of the tests' "hard" solves.
v1::Graph SkipConnectionGraph(
    const std::string& name, int kernels,
    const std::function<uint64_t(int tensor)>& size_bytes);

// How many random instances a test that checks the same property on many
// of them runs: `full`, or `reduced` when the environment variable
// AUTOTM_TEST_REDUCED is set to anything but "" or "0". tests/fuzz/run.sh
// sets it for the unit tests under AddressSanitizer and
// UndefinedBehaviorSanitizer, where each instance costs 5-20 times more and
// repeats the code paths of the first ones (solver_formulation_test alone
// took over 20 minutes of the CI's 2 cores there); the Release ctest runs
// `full`. The instances are drawn in the same order either way, so the
// reduced run checks a prefix of the full one, and a test must still meet
// its "the instances exercised X" expectations on that prefix.
int VariantCount(int full, int reduced);

// Unwraps StatusOr in tests. MustProfile keeps every table as given by
// default, unlike ProfileModel::Create: tests of the table formulation use
// separable timing functions (PenaltyTime, OptaneLikeTimeUs), which would
// otherwise collapse into separable costs. Tests of the collapse pass
// `collapse`.
GraphModel MustGraph(const v1::Graph& graph);
ProfileModel MustProfile(
    const v1::Profile& profile,
    const TableCollapseOptions& collapse = TableCollapseOptions::Disabled());

}  // namespace autotm::solver::testing

#endif  // AUTOTM_SOLVER_TESTING_TEST_GRAPHS_H_
