// What a training framework's graph compiler does with autotm: after it has
// fixed the kernel order and before it assigns memory, it asks the service
// for a placement plan for this graph, host class and fast-memory budget,
// then applies it: each tensor's pool offset and tier, and the copies to
// insert before/after kernels.
//
//   autotm-compile-example --server 127.0.0.1:50051 \
//       --graph tests/testdata/example_cnn.graph.json \
//       --host-class example-optane-like --budget-mib 12
//
// The plan comes from the cache at once when the same graph was planned
// before under the same profile version and parameters, otherwise the
// server solves it within the deadline (and returns its best plan so far
// with its gap when the deadline comes first).
#include <cstdio>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/time/time.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "client/common/proto_json.h"
#include "client/lib/client.h"

namespace {

// Stand-in for the framework's own memory planner: here it only reports
// what it would do with the plan.
void ApplyPlan(const autotm::v1::Graph& graph, const autotm::v1::Plan& plan) {
  int fast = 0;
  for (const autotm::v1::TensorPlacement& tensor : plan.tensors()) {
    fast += !tensor.fast_intervals().empty();
  }
  std::printf(
      "plan for %s: %d of %d tensors use the fast pool (%llu bytes "
      "used of %llu), %d copies to insert, predicted %.3f ms "
      "(%s, gap %.2f%%)\n",
      graph.name().c_str(), fast, plan.tensors_size(),
      static_cast<unsigned long long>(plan.pool_bytes_used()),
      static_cast<unsigned long long>(plan.budget_bytes()), plan.moves_size(),
      plan.predicted_time_us() / 1e3,
      autotm::v1::Termination_Name(plan.stats().termination()).c_str(),
      100 * plan.stats().relative_gap());
  for (const autotm::v1::Move& move : plan.moves()) {
    // A real compiler inserts a copy kernel here: before `kernel_id` for a
    // move to the fast tier, after it for a move to the slow tier.
    (void)move;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "A framework's compile step asking autotm-server for a placement plan "
      "(an example of the autotm::Client library)");
  std::string server = "127.0.0.1:50051";
  std::string graph_path;
  std::string host_class;
  double budget_mib = 0;
  app.add_option("--server", server, "autotm-server address")
      ->capture_default_str();
  app.add_option("--graph", graph_path, "Training graph (autotm.v1.Graph JSON)")
      ->required();
  app.add_option("--host-class", host_class, "Host class of this machine")
      ->required();
  app.add_option("--budget-mib", budget_mib, "Fast memory to plan for, MiB")
      ->required()
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  autotm::v1::Graph graph;
  if (absl::Status status =
          autotm::client::ReadProtoJsonFile(graph_path, &graph);
      !status.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  autotm::ClientOptions options;
  options.address = server;
  absl::StatusOr<std::unique_ptr<autotm::Client>> client =
      autotm::Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "error: %s\n",
                 std::string(client.status().message()).c_str());
    return 1;
  }
  autotm::Client::PlanOptions plan_options;
  plan_options.deadline = absl::Seconds(60);  // the compile-time budget
  absl::StatusOr<autotm::v1::Plan> plan = (*client)->GetPlan(
      graph, host_class, static_cast<uint64_t>(budget_mib * 1024 * 1024),
      plan_options);
  if (!plan.ok()) {
    // A framework would fall back to its default allocator here.
    std::fprintf(stderr, "no plan (%s): %s\n",
                 absl::StatusCodeToString(plan.status().code()).c_str(),
                 std::string(plan.status().message()).c_str());
    return 2;
  }
  ApplyPlan(graph, *plan);
  return 0;
}
