#include "client/zoo/network_builder.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/zoo/ops.h"

namespace autotm::zoo {
namespace {

// "3" for a square window, "1x7" otherwise (kernel sizes always "HxW").
std::string WindowText(Window w) {
  return w.h == w.w ? absl::StrCat(w.h) : absl::StrCat(w.h, "x", w.w);
}

int64_t NumElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::string DimsText(const std::vector<int64_t>& dims) {
  return absl::StrCat("[", absl::StrJoin(dims, ","), "]");
}

}  // namespace

NetworkBuilder::NetworkBuilder(std::string graph_name)
    : graph_name_(std::move(graph_name)) {}

bool NetworkBuilder::Fail(absl::Status status) {
  if (status_.ok()) status_ = std::move(status);
  return false;
}

bool NetworkBuilder::CheckValue(absl::string_view op, Value v, int rank) {
  if (!status_.ok()) return false;
  if (v.index < 0 || v.index >= static_cast<int>(tensors_.size())) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("op '", op, "': operand is not a recorded tensor")));
  }
  if (has_loss_) {
    return Fail(absl::InvalidArgumentError(absl::StrCat(
        "op '", op, "' is recorded after the loss; the loss must be last")));
  }
  const TensorDef& t = tensors_[v.index];
  if (rank >= 0 && static_cast<int>(t.dims.size()) != rank) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("op '", op, "': operand '", t.id, "' has dims ",
                     DimsText(t.dims), ", expected rank ", rank)));
  }
  return true;
}

bool NetworkBuilder::CheckName(absl::string_view name) {
  if (!status_.ok()) return false;
  if (name.empty()) {
    return Fail(absl::InvalidArgumentError("op name is empty"));
  }
  if (!op_names_.insert(std::string(name)).second) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat("duplicate op name '", name, "'")));
  }
  return true;
}

int NetworkBuilder::NewTensor(std::string id, std::vector<int64_t> dims,
                              v1::TensorRole role) {
  if (!tensor_ids_.insert(id).second) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("duplicate tensor id '", id, "'")));
    return -1;
  }
  for (int64_t d : dims) {
    if (d < 1) {
      Fail(absl::InvalidArgumentError(
          absl::StrCat("tensor '", id, "' would have dims ", DimsText(dims),
                       "; every dim must be >= 1")));
      return -1;
    }
  }
  tensors_.push_back({std::move(id), std::move(dims), role});
  return static_cast<int>(tensors_.size()) - 1;
}

Value NetworkBuilder::Record(
    OpKind kind, absl::string_view name, std::vector<int> inputs,
    std::vector<int> outputs,
    std::vector<std::pair<std::string, std::string>> attributes,
    std::vector<int64_t> x_view) {
  for (int t : inputs) {
    if (t < 0) return Value{};
  }
  for (int t : outputs) {
    if (t < 0) return Value{};
  }
  if (!status_.ok()) return Value{};
  const int primary = outputs.front();
  ops_.push_back({kind, std::string(name), std::move(inputs),
                  std::move(outputs), std::move(attributes),
                  std::move(x_view)});
  return Value{primary};
}

Value NetworkBuilder::Input(absl::string_view id, std::vector<int64_t> dims) {
  if (!status_.ok()) return Value{};
  return Value{
      NewTensor(std::string(id), std::move(dims), v1::TENSOR_ROLE_INPUT)};
}

Value NetworkBuilder::Conv(absl::string_view name, Value x, int out_channels,
                           Window kernel, Window stride, Window pad,
                           bool bias) {
  if (!CheckValue(name, x, 4) || !CheckName(name)) return Value{};
  const std::vector<int64_t> in = tensors_[x.index].dims;
  if (out_channels < 1 || kernel.h < 1 || kernel.w < 1 || stride.h < 1 ||
      stride.w < 1 || pad.h < 0 || pad.w < 0) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("conv '", name, "': bad channels or window")));
    return Value{};
  }
  const int64_t out_h = (in[2] + 2 * pad.h - kernel.h) / stride.h + 1;
  const int64_t out_w = (in[3] + 2 * pad.w - kernel.w) / stride.w + 1;
  const std::string n(name);
  std::vector<int> inputs = {
      x.index, NewTensor(n + ".w", {out_channels, in[1], kernel.h, kernel.w},
                         v1::TENSOR_ROLE_WEIGHT)};
  if (bias) {
    inputs.push_back(
        NewTensor(n + ".b", {out_channels}, v1::TENSOR_ROLE_WEIGHT));
  }
  const int y = NewTensor(n, {in[0], out_channels, out_h, out_w},
                          v1::TENSOR_ROLE_ACTIVATION);
  return Record(OpKind::kConv, name, std::move(inputs), {y},
                {{"kernel", absl::StrCat(kernel.h, "x", kernel.w)},
                 {"stride", WindowText(stride)},
                 {"pad", WindowText(pad)}});
}

Value NetworkBuilder::BatchNorm(absl::string_view name, Value x) {
  if (!CheckValue(name, x, 4) || !CheckName(name)) return Value{};
  const std::vector<int64_t> dims = tensors_[x.index].dims;
  const std::string n(name);
  const int64_t c = dims[1];
  std::vector<int> inputs = {
      x.index, NewTensor(n + ".gamma", {c}, v1::TENSOR_ROLE_WEIGHT),
      NewTensor(n + ".beta", {c}, v1::TENSOR_ROLE_WEIGHT)};
  std::vector<int> outputs = {
      NewTensor(n, dims, v1::TENSOR_ROLE_ACTIVATION),
      NewTensor(n + ".mean", {c}, v1::TENSOR_ROLE_ACTIVATION),
      NewTensor(n + ".var", {c}, v1::TENSOR_ROLE_ACTIVATION)};
  return Record(OpKind::kBatchNorm, name, std::move(inputs),
                std::move(outputs));
}

Value NetworkBuilder::Relu(absl::string_view name, Value x) {
  if (!CheckValue(name, x, -1) || !CheckName(name)) return Value{};
  const int y = NewTensor(std::string(name), tensors_[x.index].dims,
                          v1::TENSOR_ROLE_ACTIVATION);
  return Record(OpKind::kRelu, name, {x.index}, {y});
}

Value NetworkBuilder::Pool(OpKind kind, absl::string_view name, Value x,
                           Window kernel, Window stride, Window pad) {
  if (!CheckValue(name, x, 4) || !CheckName(name)) return Value{};
  if (kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1 ||
      pad.h < 0 || pad.w < 0) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("pool '", name, "': bad window")));
    return Value{};
  }
  const std::vector<int64_t> in = tensors_[x.index].dims;
  const int64_t out_h = (in[2] + 2 * pad.h - kernel.h) / stride.h + 1;
  const int64_t out_w = (in[3] + 2 * pad.w - kernel.w) / stride.w + 1;
  const int y = NewTensor(std::string(name), {in[0], in[1], out_h, out_w},
                          v1::TENSOR_ROLE_ACTIVATION);
  return Record(kind, name, {x.index}, {y},
                {{"kernel", absl::StrCat(kernel.h, "x", kernel.w)},
                 {"stride", WindowText(stride)},
                 {"pad", WindowText(pad)}});
}

Value NetworkBuilder::MaxPool(absl::string_view name, Value x, Window kernel,
                              Window stride, Window pad) {
  return Pool(OpKind::kMaxPool, name, x, kernel, stride, pad);
}

Value NetworkBuilder::AvgPool(absl::string_view name, Value x, Window kernel,
                              Window stride, Window pad) {
  return Pool(OpKind::kAvgPool, name, x, kernel, stride, pad);
}

Value NetworkBuilder::GlobalAvgPool(absl::string_view name, Value x) {
  if (!CheckValue(name, x, 4)) return Value{};
  const std::vector<int64_t>& in = tensors_[x.index].dims;
  return Pool(OpKind::kAvgPool, name, x,
              Window(static_cast<int>(in[2]), static_cast<int>(in[3])), 1, 0);
}

Value NetworkBuilder::Add(absl::string_view name, Value a, Value b) {
  if (!CheckValue(name, a, -1) || !CheckValue(name, b, -1) ||
      !CheckName(name)) {
    return Value{};
  }
  if (tensors_[a.index].dims != tensors_[b.index].dims) {
    Fail(absl::InvalidArgumentError(absl::StrCat(
        "add '", name, "': operand dims ", DimsText(tensors_[a.index].dims),
        " and ", DimsText(tensors_[b.index].dims), " differ")));
    return Value{};
  }
  const int y = NewTensor(std::string(name), tensors_[a.index].dims,
                          v1::TENSOR_ROLE_ACTIVATION);
  return Record(OpKind::kAdd, name, {a.index, b.index}, {y});
}

Value NetworkBuilder::Concat(absl::string_view name,
                             absl::Span<const Value> xs) {
  if (xs.empty()) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("concat '", name, "' has no operands")));
    return Value{};
  }
  for (Value x : xs) {
    if (!CheckValue(name, x, 4)) return Value{};
  }
  if (!CheckName(name)) return Value{};
  std::vector<int64_t> dims = tensors_[xs[0].index].dims;
  dims[1] = 0;
  std::vector<int> inputs;
  inputs.reserve(xs.size());
  for (Value x : xs) {
    const std::vector<int64_t>& d = tensors_[x.index].dims;
    if (d[0] != dims[0] || d[2] != dims[2] || d[3] != dims[3]) {
      Fail(absl::InvalidArgumentError(absl::StrCat(
          "concat '", name, "': operand '", tensors_[x.index].id, "' has dims ",
          DimsText(d), "; N, H and W must match the first operand's")));
      return Value{};
    }
    dims[1] += d[1];
    inputs.push_back(x.index);
  }
  const int y =
      NewTensor(std::string(name), std::move(dims), v1::TENSOR_ROLE_ACTIVATION);
  return Record(OpKind::kConcat, name, std::move(inputs), {y});
}

Value NetworkBuilder::Linear(absl::string_view name, Value x,
                             int out_features) {
  if (!CheckValue(name, x, -1) || !CheckName(name)) return Value{};
  const std::vector<int64_t>& in = tensors_[x.index].dims;
  if (in.empty() || out_features < 1) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("linear '", name,
                     "': needs [N, ...] input and >= 1 "
                     "output features")));
    return Value{};
  }
  const int64_t n_rows = in[0];
  const int64_t features = NumElements(in) / n_rows;
  const std::string n(name);
  std::vector<int> inputs = {
      x.index,
      NewTensor(n + ".w", {out_features, features}, v1::TENSOR_ROLE_WEIGHT),
      NewTensor(n + ".b", {out_features}, v1::TENSOR_ROLE_WEIGHT)};
  const int y =
      NewTensor(n, {n_rows, out_features}, v1::TENSOR_ROLE_ACTIVATION);
  return Record(OpKind::kLinear, name, std::move(inputs), {y}, {},
                {n_rows, features});
}

Value NetworkBuilder::SoftmaxCrossEntropy(absl::string_view name, Value logits,
                                          Value labels) {
  if (!CheckValue(name, logits, 2) || !CheckValue(name, labels, 2) ||
      !CheckName(name)) {
    return Value{};
  }
  if (tensors_[logits.index].dims != tensors_[labels.index].dims) {
    Fail(absl::InvalidArgumentError(
        absl::StrCat("softmax cross-entropy '", name, "': logits ",
                     DimsText(tensors_[logits.index].dims), " and labels ",
                     DimsText(tensors_[labels.index].dims), " differ")));
    return Value{};
  }
  const std::string n(name);
  std::vector<int> outputs = {
      NewTensor(n, {}, v1::TENSOR_ROLE_ACTIVATION),
      NewTensor(n + ".probs", tensors_[logits.index].dims,
                v1::TENSOR_ROLE_ACTIVATION)};
  Value loss = Record(OpKind::kSoftmaxXent, name, {logits.index, labels.index},
                      std::move(outputs));
  if (loss.valid()) has_loss_ = true;
  return loss;
}

const std::vector<int64_t>& NetworkBuilder::dims(Value v) const {
  static const std::vector<int64_t>& kEmpty = *new std::vector<int64_t>();
  if (v.index < 0 || v.index >= static_cast<int>(tensors_.size())) {
    return kEmpty;
  }
  return tensors_[v.index].dims;
}

// Turns the tape into kernels. Holds the tensors created while emitting
// (gradients, updated weights) on top of the builder's forward tensors.
class NetworkBuilder::Emitter {
 public:
  explicit Emitter(const NetworkBuilder& b)
      : b_(b),
        tensors_(b.tensors_),
        tensor_ids_(b.tensor_ids_),
        grad_(b.tensors_.size(), -1),
        num_acc_(b.tensors_.size(), 0) {
    graph_.set_name(b.graph_name_);
  }

  absl::StatusOr<v1::Graph> Run() {
    for (const OpDef& op : b_.ops_) Forward(op);
    for (auto it = b_.ops_.rbegin(); it != b_.ops_.rend(); ++it) {
      Backward(*it);
      if (!status_.ok()) return status_;
    }
    const int num_forward_tensors = static_cast<int>(b_.tensors_.size());
    for (int w = 0; w < num_forward_tensors; ++w) {
      if (tensors_[w].role != v1::TENSOR_ROLE_WEIGHT || grad_[w] < 0) continue;
      const int next = NewTensor(tensors_[w].id + ".next", tensors_[w].dims,
                                 v1::TENSOR_ROLE_WEIGHT);
      if (next < 0) return status_;
      Emit(tensors_[w].id + ".sgd", ops::kSgdUpdate, {w, grad_[w]}, {next});
    }
    if (!status_.ok()) return status_;
    graph_.mutable_tensors()->Reserve(static_cast<int>(tensors_.size()));
    for (const TensorDef& t : tensors_) {
      v1::Tensor* tensor = graph_.add_tensors();
      tensor->set_id(t.id);
      tensor->set_size_bytes(static_cast<uint64_t>(NumElements(t.dims)) * 4);
      tensor->set_role(t.role);
    }
    return std::move(graph_);
  }

 private:
  using Attributes = std::vector<std::pair<std::string, std::string>>;

  int NewTensor(std::string id, std::vector<int64_t> dims,
                v1::TensorRole role) {
    if (!tensor_ids_.insert(id).second) {
      if (status_.ok()) {
        status_ = absl::InvalidArgumentError(absl::StrCat(
            "gradient tensor id '", id, "' collides with another tensor"));
      }
      return -1;
    }
    tensors_.push_back({std::move(id), std::move(dims), role});
    return static_cast<int>(tensors_.size()) - 1;
  }

  // A gradient tensor shaped like `like`.
  int NewGrad(std::string id, int like) {
    return NewTensor(std::move(id), tensors_[like].dims,
                     v1::TENSOR_ROLE_ACTIVATION);
  }

  // Emits one kernel. `views` optionally overrides the dims the signature
  // shows for some tensors (the flattened input of a linear layer).
  void Emit(std::string id, const char* op, const std::vector<int>& inputs,
            const std::vector<int>& outputs, const Attributes& attributes = {},
            const std::vector<std::pair<int, const std::vector<int64_t>*>>&
                views = {}) {
    v1::Kernel* kernel = graph_.add_kernels();
    kernel->set_id(std::move(id));
    kernel->set_op(op);
    v1::KernelSignature* signature = kernel->mutable_signature();
    signature->set_op(op);
    auto spec = [&](int t, v1::OperandSpec* operand) {
      const std::vector<int64_t>* dims = &tensors_[t].dims;
      for (const auto& [tensor, view] : views) {
        if (tensor == t) dims = view;
      }
      operand->mutable_dims()->Add(dims->begin(), dims->end());
      operand->set_dtype(v1::DATA_TYPE_F32);
    };
    for (int t : inputs) {
      kernel->add_inputs(tensors_[t].id);
      spec(t, signature->add_inputs());
    }
    for (int t : outputs) {
      kernel->add_outputs(tensors_[t].id);
      spec(t, signature->add_outputs());
    }
    for (const auto& [key, value] : attributes) {
      (*signature->mutable_attributes())[key] = value;
    }
  }

  bool NeedsGrad(int t) const {
    return tensors_[t].role == v1::TENSOR_ROLE_ACTIVATION ||
           tensors_[t].role == v1::TENSOR_ROLE_WEIGHT;
  }

  // Adds one gradient contribution `g` to tensor `t`, summing it into the
  // running gradient at once so that at most one partial sum stays live.
  void AddGrad(int t, int g) {
    if (g < 0 || !NeedsGrad(t)) return;
    if (grad_[t] < 0) {
      grad_[t] = g;
      return;
    }
    const std::string id =
        absl::StrCat(tensors_[t].id, ".grad.acc", ++num_acc_[t]);
    const int sum = NewGrad(id, t);
    if (sum < 0) return;
    Emit(id, ops::kAdd, {grad_[t], g}, {sum});
    grad_[t] = sum;
  }

  void Forward(const OpDef& op) {
    const char* name = nullptr;
    switch (op.kind) {
      case OpKind::kConv:
        name = ops::kConvFwd;
        break;
      case OpKind::kBatchNorm:
        name = ops::kBatchNormFwd;
        break;
      case OpKind::kRelu:
        name = ops::kReluFwd;
        break;
      case OpKind::kMaxPool:
        name = ops::kMaxPoolFwd;
        break;
      case OpKind::kAvgPool:
        name = ops::kAvgPoolFwd;
        break;
      case OpKind::kAdd:
        name = ops::kAdd;
        break;
      case OpKind::kConcat:
        name = ops::kConcat;
        break;
      case OpKind::kLinear:
        name = ops::kMatmulFwd;
        break;
      case OpKind::kSoftmaxXent:
        name = ops::kSoftmaxXentFwd;
        break;
    }
    std::vector<std::pair<int, const std::vector<int64_t>*>> views;
    if (op.kind == OpKind::kLinear) views.push_back({op.inputs[0], &op.x_view});
    Emit(op.name + ".fwd", name, op.inputs, op.outputs, op.attributes, views);
  }

  void Backward(const OpDef& op) {
    const std::string& n = op.name;
    const int y = op.outputs.front();
    if (op.kind == OpKind::kSoftmaxXent) {
      // The loss seeds backward: d(logits) = probs - labels.
      const int logits = op.inputs[0];
      const int dlogits = NewGrad(n + ".dlogits", logits);
      if (dlogits < 0) return;
      Emit(n + ".bwd", ops::kSoftmaxXentBwd, {op.outputs[1], op.inputs[1]},
           {dlogits});
      AddGrad(logits, dlogits);
      return;
    }
    const int dy = grad_[y];
    if (dy < 0) return;  // Does not reach the loss.
    switch (op.kind) {
      case OpKind::kConv:
      case OpKind::kLinear: {
        const bool linear = op.kind == OpKind::kLinear;
        const int x = op.inputs[0];
        const int w = op.inputs[1];
        std::vector<std::pair<int, const std::vector<int64_t>*>> views;
        int dx = -1;
        if (NeedsGrad(x)) {
          dx = NewGrad(n + ".dx", x);
          if (dx < 0) return;
          if (linear) views.push_back({dx, &op.x_view});
          Emit(n + ".bwd_data",
               linear ? ops::kMatmulBwdData : ops::kConvBwdData, {dy, w}, {dx},
               op.attributes, views);
        }
        std::vector<int> grads = {NewGrad(n + ".dw", w)};
        if (op.inputs.size() > 2)
          grads.push_back(NewGrad(n + ".db", op.inputs[2]));
        for (int g : grads) {
          if (g < 0) return;
        }
        views.clear();
        if (linear) views.push_back({x, &op.x_view});
        Emit(n + ".bwd_weights",
             linear ? ops::kMatmulBwdWeights : ops::kConvBwdWeights, {x, dy},
             grads, op.attributes, views);
        AddGrad(x, dx);
        for (size_t i = 0; i < grads.size(); ++i) {
          AddGrad(op.inputs[1 + i], grads[i]);
        }
        return;
      }
      case OpKind::kBatchNorm: {
        const int x = op.inputs[0];
        const int dx = NewGrad(n + ".dx", x);
        const int dgamma = NewGrad(n + ".dgamma", op.inputs[1]);
        const int dbeta = NewGrad(n + ".dbeta", op.inputs[2]);
        if (dx < 0 || dgamma < 0 || dbeta < 0) return;
        Emit(n + ".bwd", ops::kBatchNormBwd,
             {dy, x, op.inputs[1], op.outputs[1], op.outputs[2]},
             {dx, dgamma, dbeta});
        AddGrad(x, dx);
        AddGrad(op.inputs[1], dgamma);
        AddGrad(op.inputs[2], dbeta);
        return;
      }
      case OpKind::kRelu:
      case OpKind::kMaxPool:
      case OpKind::kAvgPool: {
        const int x = op.inputs[0];
        if (!NeedsGrad(x)) return;
        const int dx = NewGrad(n + ".dx", x);
        if (dx < 0) return;
        if (op.kind == OpKind::kRelu) {
          Emit(n + ".bwd", ops::kReluBwd, {dy, y}, {dx});
        } else if (op.kind == OpKind::kMaxPool) {
          Emit(n + ".bwd", ops::kMaxPoolBwd, {dy, x}, {dx}, op.attributes);
        } else {
          Emit(n + ".bwd", ops::kAvgPoolBwd, {dy}, {dx}, op.attributes);
        }
        AddGrad(x, dx);
        return;
      }
      case OpKind::kAdd:
        // The sum's gradient flows unchanged to each operand: no kernel.
        for (int x : op.inputs) AddGrad(x, dy);
        return;
      case OpKind::kConcat: {
        std::vector<int> dxs;
        dxs.reserve(op.inputs.size());
        for (size_t i = 0; i < op.inputs.size(); ++i) {
          const int dx = NewGrad(absl::StrCat(n, ".dx", i), op.inputs[i]);
          if (dx < 0) return;
          dxs.push_back(dx);
        }
        Emit(n + ".bwd", ops::kSplit, {dy}, dxs);
        for (size_t i = 0; i < op.inputs.size(); ++i) {
          AddGrad(op.inputs[i], dxs[i]);
        }
        return;
      }
      case OpKind::kSoftmaxXent:
        return;
    }
  }

  const NetworkBuilder& b_;
  std::vector<TensorDef> tensors_;
  absl::flat_hash_set<std::string> tensor_ids_;
  // Running gradient tensor of each forward tensor, -1 while none arrived.
  std::vector<int> grad_;
  std::vector<int> num_acc_;
  v1::Graph graph_;
  absl::Status status_;
};

absl::StatusOr<v1::Graph> NetworkBuilder::Finish() const {
  if (!status_.ok()) return status_;
  if (!has_loss_) {
    return absl::InvalidArgumentError(
        absl::StrCat("network '", graph_name_,
                     "' has no loss: end it with SoftmaxCrossEntropy"));
  }
  return Emitter(*this).Run();
}

}  // namespace autotm::zoo
