#include "tests/fuzz/fuzz_checks.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "solver/allocator.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::fuzz {
namespace {

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

void CheckError(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument) {
    std::fprintf(stderr, "unexpected status: %s\n", status.ToString().c_str());
    Fail("validation errors must be InvalidArgument");
  }
  if (status.message().empty()) Fail("an error without a message");
}

}  // namespace

void CheckGraph(const v1::Graph& graph) {
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(graph);
  if (!model.ok()) {
    CheckError(model.status());
    return;
  }
  // Small graphs only: the per-kernel sets cost the sum of lifetimes.
  if (model->num_kernels() > 2000) return;
  uint64_t peak = 0;
  for (int k = 0; k < model->num_kernels(); ++k) {
    uint64_t bytes = 0;
    int previous = -1;
    for (const int t : model->LiveAt(k)) {
      if (t <= previous) Fail("LiveAt is not ascending");
      previous = t;
      const solver::TensorInfo& tensor = model->tensor(t);
      if (tensor.first_live > k || tensor.last_live < k) {
        Fail("LiveAt lists a tensor outside its interval");
      }
      bytes += tensor.size_bytes;
    }
    if (bytes != model->LiveBytes(k)) Fail("LiveBytes != sum over LiveAt");
    peak = std::max(peak, bytes);
  }
  if (peak != model->PeakLiveBytes()) Fail("PeakLiveBytes is not the max");
  if (solver::AlignedPeakLiveBytes(*model, 1) != peak) {
    Fail("AlignedPeakLiveBytes(1) != PeakLiveBytes");
  }
  if (model->TotalBytes() < peak) Fail("TotalBytes < PeakLiveBytes");
}

void CheckProfile(const v1::Profile& profile) {
  for (const solver::TableCollapseOptions& collapse :
       {solver::TableCollapseOptions{},
        solver::TableCollapseOptions::Disabled()}) {
    absl::StatusOr<solver::ProfileModel> model =
        solver::ProfileModel::Create(profile, collapse);
    if (!model.ok()) CheckError(model.status());
  }
}

}  // namespace autotm::fuzz
