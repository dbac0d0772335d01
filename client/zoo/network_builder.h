// A small recorder for convolutional networks that emits their full training
// graph: forward kernels, backward kernels and one SGD update per weight.
//
// Layer functions are called in forward order; each records one op on a
// tape and returns its output. Finish() turns the tape into an
// autotm.v1.Graph:
//
//   1. the forward kernels, in call order ("<op>.fwd");
//   2. the backward kernels, in reverse order ("<op>.bwd", or for conv and
//      linear "<op>.bwd_data" then "<op>.bwd_weights"). A tensor read by
//      several ops receives one gradient contribution from each; the
//      contributions are summed as they arrive by binary `add` kernels
//      ("<tensor>.grad.acc<n>"), as autograd engines do. Backward kernels
//      read the forward tensors they need (conv/linear weights read x,
//      relu reads y, batchnorm reads x, gamma, mean and var, maxpool reads
//      x, softmax cross-entropy reads probs and labels), so those stay live
//      until their backward consumer;
//   3. one `sgd_update` per weight, in creation order, reading the weight and
//      its gradient and producing "<weight>.next" (role WEIGHT).
//
// Kernel ops and operand orders are those of client/zoo/ops.h. Every tensor
// is fp32 and occupies product(dims) * 4 bytes. Activations are NCHW,
// convolution weights OIHW, linear weights [out, in]. Signatures carry the op,
// the operand shapes and the window attributes ("kernel", "stride", "pad")
// and nothing instance-specific, so identical layers share one signature.
//
// Errors (bad shapes, duplicate names, a missing loss) do not stop the calls:
// the first one is kept, later layer calls return an invalid Value, and
// Finish() returns it. Not thread-safe.
#ifndef AUTOTM_CLIENT_ZOO_NETWORK_BUILDER_H_
#define AUTOTM_CLIENT_ZOO_NETWORK_BUILDER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "autotm/v1/graph.pb.h"

namespace autotm::zoo {

// Height x width of a kernel window, stride or padding. An int means a
// square window: Conv(..., 3, 1, 1) is a 3x3 convolution.
struct Window {
  // NOLINTNEXTLINE(google-explicit-constructor): implicit on purpose.
  constexpr Window(int n) : h(n), w(n) {}
  constexpr Window(int h, int w) : h(h), w(w) {}
  int h;
  int w;
};

// A tensor recorded by a NetworkBuilder. Only meaningful to the builder that
// returned it.
struct Value {
  int index = -1;
  bool valid() const { return index >= 0; }
};

class NetworkBuilder {
 public:
  // `graph_name` becomes v1::Graph::name.
  explicit NetworkBuilder(std::string graph_name);

  NetworkBuilder(const NetworkBuilder&) = delete;
  NetworkBuilder& operator=(const NetworkBuilder&) = delete;

  // A graph argument fed by the framework (role INPUT): the batch, labels.
  Value Input(absl::string_view id, std::vector<int64_t> dims);

  // Layers. `name` must be unique among ops; it prefixes the op's kernel and
  // tensor ids. The primary output's tensor id is `name`.

  // 2-D convolution of NCHW `x` with weight "<name>.w" [out, C, kh, kw] and,
  // when `bias`, "<name>.b" [out]. Output size floor((H + 2p - k) / s) + 1.
  Value Conv(absl::string_view name, Value x, int out_channels, Window kernel,
             Window stride = 1, Window pad = 0, bool bias = false);
  // Training-mode batch normalisation over C, with weights "<name>.gamma" and
  // "<name>.beta" [C]; it also produces "<name>.mean" and "<name>.var" [C],
  // which the backward kernel reads.
  Value BatchNorm(absl::string_view name, Value x);
  Value Relu(absl::string_view name, Value x);
  Value MaxPool(absl::string_view name, Value x, Window kernel, Window stride,
                Window pad = 0);
  Value AvgPool(absl::string_view name, Value x, Window kernel, Window stride,
                Window pad = 0);
  // Average over the whole H x W plane: [N, C, H, W] -> [N, C, 1, 1].
  Value GlobalAvgPool(absl::string_view name, Value x);
  // Elementwise sum of two tensors of equal shape.
  Value Add(absl::string_view name, Value a, Value b);
  // Concatenation along channels of NCHW tensors with equal N, H, W.
  Value Concat(absl::string_view name, absl::Span<const Value> xs);
  // Fully connected layer: `x` [N, ...] is read as [N, F] (a flattening view,
  // no kernel), weight "<name>.w" [out, F], bias "<name>.b" [out].
  Value Linear(absl::string_view name, Value x, int out_features);
  // Softmax cross-entropy of `logits` [N, K] against `labels` [N, K]: the
  // loss (a scalar, tensor id `name`) and "<name>.probs". The last op of the
  // network; backward starts from it.
  Value SoftmaxCrossEntropy(absl::string_view name, Value logits, Value labels);

  // Dims of a recorded tensor; empty for an invalid Value.
  const std::vector<int64_t>& dims(Value v) const;
  // OK, or the first error recorded.
  const absl::Status& status() const { return status_; }

  // Emits the training graph (see the file comment). Returns the first
  // recorded error, or InvalidArgument when the network has no loss or ops
  // follow it. May be called more than once.
  absl::StatusOr<v1::Graph> Finish() const;

 private:
  enum class OpKind {
    kConv,
    kBatchNorm,
    kRelu,
    kMaxPool,
    kAvgPool,
    kAdd,
    kConcat,
    kLinear,
    kSoftmaxXent,
  };
  struct TensorDef {
    std::string id;
    std::vector<int64_t> dims;
    v1::TensorRole role;
  };
  struct OpDef {
    OpKind kind;
    std::string name;
    // Forward operands in ops.h order (weights included) and outputs.
    std::vector<int> inputs;
    std::vector<int> outputs;
    // Window attributes for conv and pooling.
    std::vector<std::pair<std::string, std::string>> attributes;
    // Linear: the [N, F] view of x its kernels see.
    std::vector<int64_t> x_view;
  };
  class Emitter;

  // Records `status` unless an error is already recorded; returns false.
  bool Fail(absl::Status status);
  // Checks that `v` is a valid tensor of `rank` dims (any rank when < 0).
  bool CheckValue(absl::string_view op, Value v, int rank);
  bool CheckName(absl::string_view name);
  int NewTensor(std::string id, std::vector<int64_t> dims, v1::TensorRole role);
  Value Pool(OpKind kind, absl::string_view name, Value x, Window kernel,
             Window stride, Window pad);
  Value Record(OpKind kind, absl::string_view name, std::vector<int> inputs,
               std::vector<int> outputs,
               std::vector<std::pair<std::string, std::string>> attributes = {},
               std::vector<int64_t> x_view = {});

  std::string graph_name_;
  std::vector<TensorDef> tensors_;
  std::vector<OpDef> ops_;
  absl::flat_hash_set<std::string> op_names_;
  absl::flat_hash_set<std::string> tensor_ids_;
  bool has_loss_ = false;
  absl::Status status_;
};

}  // namespace autotm::zoo

#endif  // AUTOTM_CLIENT_ZOO_NETWORK_BUILDER_H_
