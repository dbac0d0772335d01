// The training-graph zoo: full training graphs (forward, backward, SGD
// update, in execution order) of the convolutional networks the AutoTM paper
// (ASPLOS 2020) evaluates, at any batch size. fp32 throughout; see
// docs/ZOO.md for what each graph contains and how its footprint compares
// with the paper's.
#ifndef AUTOTM_CLIENT_ZOO_ZOO_H_
#define AUTOTM_CLIENT_ZOO_ZOO_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "autotm/v1/graph.pb.h"

namespace autotm::zoo {

struct ZooModelInfo {
  // The name BuildZooGraph() takes, e.g. "resnet200".
  std::string name;
  // One line: the architecture and its source.
  std::string description;
  // The batch of the paper's conventional CPU experiments; for a model not in
  // that set, the batch it is otherwise used at (VGG416: its large batch;
  // ResNet-50: 16, the batch of AutoTM's shipped kernel-profile cache).
  int default_batch;
  // The batch of the paper's large (vs 2LM) experiments; 0 when the model is
  // not in that set.
  int large_batch;
  // The footprints the paper gives for those configurations, in GB (1e9
  // bytes); 0 when it gives none.
  double paper_footprint_gb_default;
  double paper_footprint_gb_large;
};

// The zoo's models, in a fixed order: vgg19, vgg416, resnet50, resnet200,
// inception_v4, densenet264.
const std::vector<ZooModelInfo>& ZooModels();

// Largest batch BuildZooGraph() accepts: keeps every tensor far below
// solver::GraphLimits::max_tensor_bytes.
inline constexpr int kMaxZooBatch = 1'000'000;

// Builds the training graph of `model` at `batch`, named "<model>-bs<batch>".
// Graph arguments: "input" (INPUT, NCHW), "labels" (INPUT, [batch, 1000]
// one-hot) and the weights (WEIGHT); each weight's update "<w>.next" is a
// produced WEIGHT. The graph's size does not depend on `batch`, only its
// shapes do. Errors: InvalidArgument for an unknown model (the message lists
// the known ones) or a batch outside [1, kMaxZooBatch].
absl::StatusOr<v1::Graph> BuildZooGraph(absl::string_view model, int batch);

}  // namespace autotm::zoo

#endif  // AUTOTM_CLIENT_ZOO_ZOO_H_
