// Pictures of a plan (issue 23): one SVG document that shows, over the
// kernels of a training iteration, where the fast memory goes, when tensors
// move, where the time goes, and where the largest tensors live.
//
// A neutral library: it depends on the solver's graph and profile models,
// the autotm.v1 messages and svg_chart.h, never on gRPC or the server, so the
// CLI (`autotm plan show`, `solve --svg`, `plan --svg`) and the server's
// dashboard draw the same pictures. Everything here is a pure function of its
// arguments: thread-safe and deterministic (equal inputs, equal bytes).
//
// The document has four panels on one kernel axis (kernel k spans [k, k+1)):
//  1. memory timeline: the plan's fast bytes live at every kernel, the
//     graph's live bytes (what all-fast would need), the budget, the peak,
//     and the forward/backward/optimizer boundaries (InferPhases);
//  2. moves: one tick per kernel bucket and direction, up = to fast, down =
//     to slow, height = bytes copied; free drops of clean copies on the axis;
//  3. time: kernel time and move time per bucket (with a profile, kernel
//     time split into its all-fast part and the slow-operand penalty);
//  4. residency: a Gantt row per largest tensor, fast and slow stretches of
//     its live range, its moves and the kernels that read or write it.
// Graphs with more kernels than the plot has pixels are aggregated into
// buckets of consecutive kernels (the memory curve keeps each bucket's
// maximum, so the drawn peak is the plan's peak), which keeps a 10k-kernel
// picture to a few thousand elements.
//
// Elements carry data-* attributes with the numbers they draw (bytes, counts,
// microseconds) so that tests and tools can check a picture against its plan
// (ids as shown, after PlanPictureOptions::id_prefix):
//   <g id="memory-timeline" data-peak-bytes data-peak-kernel
//      data-budget-bytes data-bucket-kernels>
//   <g id="moves" data-moves>, each tick <rect class="move to-fast|to-slow|
//      free-drop" data-count data-bytes data-first-kernel data-last-kernel>
//   <g id="time" data-kernel-us data-move-us>
//   <g id="residency" data-rows>, each <g class="tensor-row" data-tensor
//      data-bytes data-fast-kernels data-live-kernels>
#ifndef AUTOTM_CLIENT_COMMON_PLAN_PICTURE_H_
#define AUTOTM_CLIENT_COMMON_PLAN_PICTURE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "autotm/v1/plan.pb.h"
#include "solver/graph_model.h"
#include "solver/profile_model.h"

namespace autotm::client {

// Where the training phases start, inferred from the graph alone (a graph
// has no phase field). -1 when a boundary cannot be inferred; `how` then
// says so, and the picture's legend repeats it instead of guessing.
struct GraphPhases {
  // First kernel of the backward pass: the first kernel that produces a
  // GRADIENT tensor, or, in graphs without that role (the zoo, the bundled
  // example), the first kernel whose op (or signature op) names a backward
  // kernel ("_bwd", "backward", "_grad").
  int backward_start = -1;
  // First kernel of the optimizer step: the first kernel that writes a
  // WEIGHT or OPTIMIZER_STATE tensor (an updated weight), at or after
  // backward_start when that is known.
  int optimizer_start = -1;
  // One line on how the boundaries were found, e.g. "backward: first kernel
  // producing a GRADIENT tensor; optimizer: first kernel writing a weight".
  std::string how;
};
GraphPhases InferPhases(const solver::GraphModel& graph);

// The plan's numbers per kernel, as drawn (before bucketing).
struct PlanTimeline {
  // Per kernel (graph order). fast_bytes: the plan's KernelChoice.fast_bytes
  // (recomputed from the fast intervals when the plan lists no kernels);
  // live_bytes: GraphModel::LiveBytes, every live tensor, i.e. all-fast.
  std::vector<uint64_t> fast_bytes;
  std::vector<uint64_t> live_bytes;
  // Predicted kernel time, and the move time it adds: its synchronous moves
  // plus what its asynchronous copies overrun the kernel by (as the
  // verifier prices them). Microseconds.
  std::vector<double> kernel_us;
  std::vector<double> move_us;
  // With a profile: each kernel's all-fast time (kernel_us minus it is the
  // penalty of its slow operands). Empty without one.
  std::vector<double> all_fast_kernel_us;
  uint64_t peak_fast_bytes = 0;
  int peak_kernel = 0;  // first kernel at the peak
};

// The per-kernel numbers of `plan` for `graph`. InvalidArgument when the
// plan is not for this graph: a different number of kernel choices, an
// unknown tensor id, or a move or fast interval outside the kernels; or when
// a kernel or move time is negative, NaN or infinite. A profile, when given,
// must cover the graph (a kernel it lacks is InvalidArgument). Plans from
// untrusted sources are safe to pass: nothing is indexed unchecked.
absl::StatusOr<PlanTimeline> ComputePlanTimeline(
    const v1::Plan& plan, const solver::GraphModel& graph,
    const solver::ProfileModel* profile = nullptr);

// Indexes of the `n` largest tensors of `graph`, by size; among equal sizes
// the longest-lived (most kernels) first, then graph order. All of them when
// the graph has fewer.
std::vector<int> LargestTensors(const solver::GraphModel& graph, int n);

struct PlanPictureOptions {
  // Gantt rows: the largest tensors. 0 leaves the residency panel out.
  int top_tensors = 12;
  // Document width in pixels (at least 640; narrower is widened).
  int width = 1200;
  // Optional, not owned: splits kernel time into all-fast time and the
  // slow-operand penalty. It should be the profile the plan was priced with.
  const solver::ProfileModel* profile = nullptr;
  // Replaces the default title ("Plan for <graph>: <method>, ...").
  std::string title;
  // Put before the panels' ids ("memory-timeline" becomes
  // "<prefix>memory-timeline"), so that several pictures inlined in one
  // HTML page keep their ids unique. Empty by default.
  std::string id_prefix;
};

// The SVG document (UTF-8 text, standalone SVG 1.1) of `plan` for `graph`.
// Errors as ComputePlanTimeline. This is the call the dashboard makes.
absl::StatusOr<std::string> RenderPlanSvg(const v1::Plan& plan,
                                          const solver::GraphModel& graph,
                                          const PlanPictureOptions& options);

// What `autotm plan show` prints besides FormatPlanReport(): the phases,
// the peak with its kernel, the time split and a table of the largest
// tensors (size, live kernels, share of them in fast memory, moves). Ends
// with a newline. Errors as ComputePlanTimeline.
absl::StatusOr<std::string> FormatPlanPictureSummary(
    const v1::Plan& plan, const solver::GraphModel& graph,
    const PlanPictureOptions& options);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_COMMON_PLAN_PICTURE_H_
