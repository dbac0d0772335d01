// libFuzzer target: the plan verifier (solver::VerifyPlan) on plans read
// as JSON, against the bundled example graph and profile
// (tests/testdata/example_cnn.*.json) at the plan's own budget. The
// verifier must answer every plan with a report or InvalidArgument, never
// crash; a plan it accepts must respect the budget it was checked against.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/plan.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/common/proto_json.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"
#include "solver/verifier.h"

#ifndef AUTOTM_TESTDATA_DIR
#define AUTOTM_TESTDATA_DIR "tests/testdata"
#endif

namespace {

struct Inputs {
  std::optional<autotm::solver::GraphModel> graph;
  autotm::v1::Profile profile;
};

const Inputs& Load() {
  static const Inputs* inputs = [] {
    auto* loaded = new Inputs;
    const std::string dir = AUTOTM_TESTDATA_DIR;
    autotm::v1::Graph graph;
    if (!autotm::client::ReadProtoJsonFile(dir + "/example_cnn.graph.json",
                                           &graph)
             .ok() ||
        !autotm::client::ReadProtoJsonFile(dir + "/example_cnn.profile.json",
                                           &loaded->profile)
             .ok()) {
      std::fprintf(stderr, "cannot read the example graph/profile in %s\n",
                   dir.c_str());
      std::abort();
    }
    absl::StatusOr<autotm::solver::GraphModel> model =
        autotm::solver::GraphModel::Create(graph);
    if (!model.ok()) std::abort();
    loaded->graph.emplace(*std::move(model));
    return loaded;
  }();
  return *inputs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Inputs& inputs = Load();
  autotm::v1::Plan plan;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (!autotm::client::ParseProtoJson(text, "fuzz", &plan).ok()) return 0;
  // The profile model is built with the plan's own collapse options, as
  // every caller of VerifyPlan does; bad options are an error, not a crash.
  absl::StatusOr<autotm::solver::ProfileModel> profile =
      autotm::solver::ProfileModel::Create(
          inputs.profile, autotm::solver::TableCollapseOptionsOf(plan));
  if (!profile.ok()) return 0;
  for (const bool require_offsets : {false, true}) {
    absl::StatusOr<autotm::solver::VerifyReport> report =
        autotm::solver::VerifyPlan(*inputs.graph, *profile, plan,
                                   plan.budget_bytes(), require_offsets);
    if (report.ok() && report->peak_fast_bytes > plan.budget_bytes()) {
      std::fprintf(stderr, "verifier accepted a plan over its budget\n");
      std::abort();
    }
  }
  return 0;
}
