// A small residual network's training graph whose layers are identical, for
// tests of repetition (solver/repetition.h): unlike GraphBuilder's graphs,
// identical kernels share one signature, as in real training graphs.
#ifndef AUTOTM_SOLVER_TESTING_REPEATED_GRAPHS_H_
#define AUTOTM_SOLVER_TESTING_REPEATED_GRAPHS_H_

#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"

namespace autotm::solver::testing {

// `layers` identical residual layers of 3 forward kernels (conv, relu, add:
// activations of 4 MiB, a 2 MiB weight each), a loss, and per layer, in
// reverse, 5 backward kernels (relu grad, data grad, weight grad, add, SGD
// update). With `vary_last_layer`, the last layer's weight is 3 MiB (a
// layer that looks alike but is not identical).
v1::Graph RepeatedResidualGraph(int layers, bool vary_last_layer = false);

// A full configuration table (Optane-like times, solver/testing/
// test_graphs.h) per distinct signature of `graph`.
v1::Profile RepeatedResidualProfile(const v1::Graph& graph);

}  // namespace autotm::solver::testing

#endif  // AUTOTM_SOLVER_TESTING_REPEATED_GRAPHS_H_
