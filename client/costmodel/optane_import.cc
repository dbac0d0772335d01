#include "client/costmodel/optane_import.h"

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/costmodel/optane_data.h"
#include "client/zoo/ops.h"
#include "solver/signature.h"

namespace autotm::costmodel {
namespace {

constexpr absl::string_view kReasonNames[kNumUnmappedReasons] = {
    "unknown_op",      "no_counterpart", "fused_in_theirs",  "fused_in_ours",
    "operands_differ", "window_unknown", "shape_unsupported"};

// Our op names: the zoo's (a header of constants; no link dependency).
namespace ops = ::autotm::zoo::ops;

using Operands = std::vector<v1::OperandSpec>;
using Dims = std::vector<int64_t>;

MapResult Unmapped(UnmappedReason reason, std::string detail) {
  MapResult result;
  result.reason = reason;
  result.detail = std::move(detail);
  return result;
}

Dims DimsOf(const v1::OperandSpec& operand) {
  return Dims(operand.dims().begin(), operand.dims().end());
}

// Julia's column-major (W, H, C, N) is row-major (N, C, H, W): reversing the
// dims gives the same memory in our (NCHW, OIHW) order.
v1::OperandSpec Reversed(const v1::OperandSpec& operand) {
  v1::OperandSpec out;
  out.mutable_dims()->Add(operand.dims().rbegin(), operand.dims().rend());
  out.set_dtype(operand.dtype());
  return out;
}

v1::OperandSpec Spec(const Dims& dims) {
  v1::OperandSpec out;
  out.mutable_dims()->Add(dims.begin(), dims.end());
  out.set_dtype(v1::DATA_TYPE_F32);
  return out;
}

// Every operand position of the measured kernel, inputs then outputs.
Operands AllOperands(const v1::KernelSignature& s) {
  Operands all(s.inputs().begin(), s.inputs().end());
  all.insert(all.end(), s.outputs().begin(), s.outputs().end());
  return all;
}

KernelMapping Make(
    const char* op, const Operands& inputs, const Operands& outputs,
    std::vector<int> source,
    std::vector<std::pair<std::string, std::string>> attributes = {}) {
  KernelMapping m;
  m.signature.set_op(op);
  for (const auto& o : inputs) *m.signature.add_inputs() = o;
  for (const auto& o : outputs) *m.signature.add_outputs() = o;
  for (auto& [key, value] : attributes) {
    (*m.signature.mutable_attributes())[key] = value;
  }
  m.source = std::move(source);
  return m;
}

MapResult Mapped(KernelMapping mapping) {
  MapResult result;
  result.mapping = std::move(mapping);
  return result;
}

// "2" for a square window, "1x3" otherwise: the zoo's WindowText().
std::string WindowText(int64_t h, int64_t w) {
  return h == w ? absl::StrCat(h) : absl::StrCat(h, "x", w);
}

// The (stride, pad) pairs that take `in` to `out` under a window of `k`,
// with the zoo's floor((in + 2p - k) / s) + 1. Searched over the values CNNs
// use: stride 1-4, padding 0..k/2 (symmetric; "same" padding is k/2).
std::vector<std::pair<int64_t, int64_t>> StridePad(int64_t in, int64_t k,
                                                   int64_t out) {
  std::vector<std::pair<int64_t, int64_t>> found;
  for (int64_t s = 1; s <= 4; ++s) {
    for (int64_t p = 0; p <= k / 2; ++p) {
      if (in + 2 * p < k) continue;
      if ((in + 2 * p - k) / s + 1 == out) found.push_back({s, p});
    }
  }
  return found;
}

// The zoo's window attributes of a conv or pool kernel from its NCHW input
// [.., .., H, W], window kh x kw and output [.., .., P, Q]; nullopt with
// `why` set when no or several (stride, pad) pairs fit a dim.
std::optional<std::vector<std::pair<std::string, std::string>>> WindowAttrs(
    const Dims& x, int64_t kh, int64_t kw, const Dims& y, std::string* why) {
  const auto h = StridePad(x[2], kh, y[2]);
  const auto w = StridePad(x[3], kw, y[3]);
  if (h.size() != 1 || w.size() != 1) {
    *why = absl::StrCat(
        h.size(), " x ", w.size(), " (stride, pad) pairs fit a ", kh, "x", kw,
        " window from ", x[2], "x", x[3], " to ", y[2], "x", y[3]);
    return std::nullopt;
  }
  return std::vector<std::pair<std::string, std::string>>{
      {"kernel", absl::StrCat(kh, "x", kw)},
      {"stride", WindowText(h[0].first, w[0].first)},
      {"pad", WindowText(h[0].second, w[0].second)}};
}

bool AllF32(const Operands& operands) {
  for (const auto& o : operands) {
    if (o.dtype() != v1::DATA_TYPE_F32) return false;
  }
  return true;
}

bool HasRanks(const Operands& operands, std::initializer_list<int> ranks) {
  if (operands.size() != ranks.size()) return false;
  int i = 0;
  for (int rank : ranks) {
    if (operands[i++].dims_size() != rank) return false;
  }
  return true;
}

MapResult BadShape(const v1::KernelSignature& s, absl::string_view why) {
  return Unmapped(UnmappedReason::kShapeUnsupported,
                  absl::StrCat(s.op(), ": ", why));
}

// ConvolutionBias (x, w, b) -> (y), Convolution (x, w) -> (y),
// ConvolutionBackpropData (w, dy) -> (dx),
// ConvolutionBiasBackpropFiltersBias (x, dy) -> (dw, db) and
// ConvolutionBackpropFilters (x, dy) -> (dw): the operands MKL-DNN's
// convolution primitives read and write, exactly our conv2d_* kernels.
MapResult MapConv(const v1::KernelSignature& s) {
  const std::string& op = s.op();
  const Operands all = AllOperands(s);
  Operands r;
  for (const auto& o : all) r.push_back(Reversed(o));
  // Roles, as indices into `all`.
  int x = -1, w = -1, b = -1, y = -1;
  const bool fwd = op == "ConvolutionBias" || op == "Convolution";
  const bool bwd_data = op == "ConvolutionBackpropData";
  const bool bias =
      op == "ConvolutionBias" || op == "ConvolutionBiasBackpropFiltersBias";
  const int n_in = s.inputs_size();
  const int n_out = s.outputs_size();
  if (fwd) {
    if (n_in != (bias ? 3 : 2) || n_out != 1) {
      return BadShape(s, "operand counts");
    }
    x = 0, w = 1, b = bias ? 2 : -1, y = bias ? 3 : 2;
  } else if (bwd_data) {
    if (n_in != 2 || n_out != 1) return BadShape(s, "operand counts");
    w = 0, y = 1, x = 2;  // y = dy, x = dx
  } else {
    if (n_in != 2 || n_out != (bias ? 2 : 1)) {
      return BadShape(s, "operand counts");
    }
    x = 0, y = 1, w = 2, b = bias ? 3 : -1;  // y = dy, w = dw, b = db
  }
  if (r[x].dims_size() != 4 || r[w].dims_size() != 4 || r[y].dims_size() != 4 ||
      (b >= 0 && r[b].dims_size() != 1)) {
    return BadShape(s, "ranks are not those of a 2-D convolution");
  }
  const Dims xd = DimsOf(r[x]), wd = DimsOf(r[w]), yd = DimsOf(r[y]);
  // x [N, C, H, W], w [K, C, kh, kw], y [N, K, P, Q], b [K].
  if (xd[0] != yd[0] || xd[1] != wd[1] || yd[1] != wd[0] ||
      (b >= 0 && r[b].dims(0) != wd[0])) {
    return BadShape(s, "batch or channel dims disagree (grouped conv?)");
  }
  std::string why;
  auto attrs = WindowAttrs(xd, wd[2], wd[3], yd, &why);
  if (!attrs) {
    return Unmapped(UnmappedReason::kWindowUnknown,
                    absl::StrCat(op, ": ", why));
  }
  if (fwd) {
    Operands in = {r[x], r[w]};
    std::vector<int> source = {x, w};
    if (b >= 0) {
      in.push_back(r[b]);
      source.push_back(b);
    }
    source.push_back(y);
    return Mapped(Make(ops::kConvFwd, in, {r[y]}, source, *attrs));
  }
  if (bwd_data) {
    // Ours: (dy, w) -> (dx).
    return Mapped(
        Make(ops::kConvBwdData, {r[y], r[w]}, {r[x]}, {y, w, x}, *attrs));
  }
  // Ours: (x, dy) -> (dw[, db]).
  Operands out = {r[w]};
  std::vector<int> source = {x, y, w};
  if (b >= 0) {
    out.push_back(r[b]);
    source.push_back(b);
  }
  return Mapped(Make(ops::kConvBwdWeights, {r[x], r[y]}, out, source, *attrs));
}

// nGraph: BatchNormTraining (gamma, beta, x) -> (y, mean, var);
// BatchNormTrainingBackprop (gamma, beta, x, mean, var, dy)
//   -> (dx, dgamma, dbeta).
MapResult MapBatchNorm(const v1::KernelSignature& s) {
  const bool bwd = s.op() == "BatchNormTrainingBackprop";
  if (bwd ? !HasRanks(Operands(s.inputs().begin(), s.inputs().end()),
                      {1, 1, 4, 1, 1, 4})
          : !HasRanks(Operands(s.inputs().begin(), s.inputs().end()),
                      {1, 1, 4})) {
    return BadShape(s, "operands are not those of a 2-D batch norm");
  }
  if (!HasRanks(Operands(s.outputs().begin(), s.outputs().end()), {4, 1, 1})) {
    return BadShape(s, "outputs are not those of a 2-D batch norm");
  }
  Operands r;
  for (const auto& o : AllOperands(s)) r.push_back(Reversed(o));
  const int64_t c = r[2].dims(1);
  for (const auto& o : r) {
    if (o.dims_size() == 1 && o.dims(0) != c) {
      return BadShape(s, "a per-channel operand does not have C entries");
    }
  }
  if (!bwd) {
    // Ours: (x, gamma, beta) -> (y, mean, var).
    return Mapped(Make(ops::kBatchNormFwd, {r[2], r[0], r[1]},
                       {r[3], r[4], r[5]}, {2, 0, 1, 3, 4, 5}));
  }
  // Ours: (dy, x, gamma, mean, var) -> (dx, dgamma, dbeta); beta (1) dropped.
  KernelMapping m = Make(ops::kBatchNormBwd, {r[5], r[2], r[0], r[3], r[4]},
                         {r[6], r[7], r[8]}, {5, 2, 0, 3, 4, 6, 7, 8});
  m.note =
      "beta (read by nGraph, unused by the gradient, not an operand of ours) "
      "dropped; configurations differing only in its tier merged";
  return Mapped(std::move(m));
}

// Relu (x) -> (y); ReluBackprop (y, dy) -> (dx): nGraph's first operand is
// the forward tensor (the output y in the 2019 sources), ours comes second.
MapResult MapRelu(const v1::KernelSignature& s) {
  const bool bwd = s.op() == "ReluBackprop";
  if (s.inputs_size() != (bwd ? 2 : 1) || s.outputs_size() != 1) {
    return BadShape(s, "operand counts");
  }
  Operands r;
  for (const auto& o : AllOperands(s)) r.push_back(Reversed(o));
  for (const auto& o : r) {
    if (DimsOf(o) != DimsOf(r[0])) return BadShape(s, "shapes differ");
  }
  if (!bwd) return Mapped(Make(ops::kReluFwd, {r[0]}, {r[1]}, {0, 1}));
  return Mapped(Make(ops::kReluBwd, {r[1], r[0]}, {r[2]}, {1, 0, 2}));
}

MapResult MapAdd(const v1::KernelSignature& s) {
  if (s.inputs_size() != 2 || s.outputs_size() != 1) {
    return BadShape(s, "our add is binary");
  }
  Operands r;
  for (const auto& o : AllOperands(s)) r.push_back(Reversed(o));
  if (DimsOf(r[0]) != DimsOf(r[1]) || DimsOf(r[0]) != DimsOf(r[2])) {
    return BadShape(s, "broadcasting add (ours adds equal shapes)");
  }
  return Mapped(Make(ops::kAdd, {r[0], r[1]}, {r[2]}, {0, 1, 2}));
}

// Our concat joins NCHW activations along C.
MapResult MapConcat(const v1::KernelSignature& s) {
  if (s.inputs_size() < 1 || s.outputs_size() != 1) {
    return BadShape(s, "operand counts");
  }
  Operands r;
  for (const auto& o : AllOperands(s)) r.push_back(Reversed(o));
  const Dims y = DimsOf(r.back());
  if (y.size() != 4) return BadShape(s, "not a concat of NCHW activations");
  int64_t channels = 0;
  std::vector<int> source;
  Operands in;
  for (int i = 0; i < s.inputs_size(); ++i) {
    const Dims d = DimsOf(r[i]);
    if (d.size() != 4 || d[0] != y[0] || d[2] != y[2] || d[3] != y[3]) {
      return BadShape(s, "not a concat along channels");
    }
    channels += d[1];
    in.push_back(r[i]);
    source.push_back(i);
  }
  if (channels != y[1]) return BadShape(s, "channels do not add up");
  source.push_back(s.inputs_size());
  return Mapped(Make(ops::kConcat, in, {r.back()}, source));
}

// Pooling: the window is not in the shapes. Only a pool to a 1x1 output is
// mapped, as the zoo's GlobalAvgPool emits it (kernel = input H x W,
// stride 1, pad 0); any other window has several candidates.
MapResult MapPool(const v1::KernelSignature& s) {
  const std::string& op = s.op();
  const bool max = op == "MaxPool" || op == "MaxPoolBackprop";
  const bool bwd = op == "MaxPoolBackprop" || op == "AvgPoolBackprop";
  // nGraph: MaxPool (x) -> (y); MaxPoolBackprop (x, dy) -> (dx);
  // AvgPool (x) -> (y); AvgPoolBackprop (dy) -> (dx).
  const int n_in = max && bwd ? 2 : 1;
  if (s.inputs_size() != n_in || s.outputs_size() != 1) {
    return BadShape(s, "operand counts");
  }
  Operands r;
  for (const auto& o : AllOperands(s)) r.push_back(Reversed(o));
  for (const auto& o : r) {
    if (o.dims_size() != 4) return BadShape(s, "not a 2-D pool");
  }
  // The forward input (big) and output (small) shapes.
  const Dims big = bwd ? DimsOf(r.back()) : DimsOf(r[0]);
  const Dims small = bwd ? DimsOf(r[n_in - 1]) : DimsOf(r.back());
  if (big[0] != small[0] || big[1] != small[1]) {
    return BadShape(s, "batch or channels change");
  }
  if (small[2] != 1 || small[3] != 1) {
    return Unmapped(UnmappedReason::kWindowUnknown,
                    absl::StrCat(op, ": window of a ", big[2], "x", big[3],
                                 " -> ", small[2], "x", small[3],
                                 " pool not recoverable from shapes"));
  }
  std::vector<std::pair<std::string, std::string>> attrs = {
      {"kernel", absl::StrCat(big[2], "x", big[3])},
      {"stride", "1"},
      {"pad", "0"}};
  KernelMapping m;
  if (!bwd) {
    m = Make(max ? ops::kMaxPoolFwd : ops::kAvgPoolFwd, {r[0]}, {r[1]}, {0, 1},
             attrs);
  } else if (max) {
    // Ours: (dy, x) -> (dx).
    m = Make(ops::kMaxPoolBwd, {r[1], r[0]}, {r[2]}, {1, 0, 2}, attrs);
  } else {
    m = Make(ops::kAvgPoolBwd, {r[0]}, {r[1]}, {0, 1}, attrs);
  }
  m.note = "1x1 output read as a global pool (kernel = input HxW, stride 1)";
  return Mapped(std::move(m));
}

// nGraph's CPU MatmulBias is a GEMM with optional bias. Shapes in Julia
// order: x [F.., N], W [out, F] (Flux's weight, already in our [out, F]
// order), b [out]. Forward (x, W, b) -> (y [out, N]); the data gradient
// (dy [out, N], W [out, F]) -> (dx [F, N]); the weight gradient
// (x [F, N], dy [out, N]) -> (dW [out, F]) has no db output, which our
// matmul_bwd_weights (x, dy) -> (dw, db) produces in the same kernel.
MapResult MapMatmul(const v1::KernelSignature& s) {
  if (!AllF32(AllOperands(s)) || s.outputs_size() != 1) {
    return BadShape(s, "operand counts or types");
  }
  const Operands in(s.inputs().begin(), s.inputs().end());
  const Dims y = DimsOf(s.outputs(0));
  if (y.size() != 2) return BadShape(s, "output is not a matrix");
  if (s.inputs_size() == 3) {
    const Dims x = DimsOf(in[0]), w = DimsOf(in[1]), b = DimsOf(in[2]);
    if (x.size() < 2 || w.size() != 2 || b.size() != 1) {
      return BadShape(s, "ranks");
    }
    int64_t features = 1;
    for (size_t i = 0; i + 1 < x.size(); ++i) features *= x[i];
    const int64_t n = x.back(), out = w[0];
    if (w[1] != features || b[0] != out || y[0] != out || y[1] != n) {
      return BadShape(s, "dims are not x [F, N], W [out, F], b [out]");
    }
    // The zoo's linear layer sees x through an [N, F] view.
    KernelMapping m =
        Make(ops::kMatmulFwd,
             {Spec({n, features}), Spec({out, features}), Spec({out})},
             {Spec({n, out})}, {0, 1, 2, 3});
    return Mapped(std::move(m));
  }
  if (s.inputs_size() != 2) return BadShape(s, "operand counts");
  const Dims a = DimsOf(in[0]), c = DimsOf(in[1]);
  if (a.size() != 2 || c.size() != 2) return BadShape(s, "ranks");
  // Data gradient: a = dy [out, N], c = W [out, F], y = dx [F, N].
  const bool data = c[0] == a[0] && y[0] == c[1] && y[1] == a[1];
  // Weight gradient: a = x [F, N], c = dy [out, N], y = dW [out, F].
  const bool weights = c[1] == a[1] && y[0] == c[0] && y[1] == a[0];
  if (data && weights) {
    return BadShape(s, "data or weight gradient: shapes do not tell");
  }
  if (weights) {
    return Unmapped(UnmappedReason::kFusedInOurs,
                    "MatmulBias weight gradient: ours also writes db");
  }
  if (!data) return BadShape(s, "not a GEMM of a linear layer");
  const int64_t out = a[0], n = a[1], features = c[1];
  // Ours: (dy [N, out], w [out, F]) -> (dx [N, F]).
  return Mapped(Make(ops::kMatmulBwdData,
                     {Spec({n, out}), Spec({out, features})},
                     {Spec({n, features})}, {0, 1, 2}));
}

struct OpEntry {
  absl::string_view op;
  MapResult (*map)(const v1::KernelSignature&) = nullptr;
  // When map is null: why, and the detail a report prints.
  UnmappedReason reason = UnmappedReason::kUnknownOp;
  absl::string_view detail = {};
};

// Every nGraph op of the measurements (and the unfused forms nGraph can
// emit), with its mapper or the reason it has none.
constexpr OpEntry kOps[] = {
    {"Convolution", MapConv},
    {"ConvolutionBias", MapConv},
    {"ConvolutionBackpropData", MapConv},
    {"ConvolutionBackpropFilters", MapConv},
    {"ConvolutionBiasBackpropFiltersBias", MapConv},
    {"BatchNormTraining", MapBatchNorm},
    {"BatchNormTrainingBackprop", MapBatchNorm},
    {"BatchNormTrainingRelu", nullptr, UnmappedReason::kFusedInTheirs,
     "batch norm + ReLU in one kernel; ours are batchnorm_fwd, relu_fwd"},
    {"Relu", MapRelu},
    {"ReluBackprop", MapRelu},
    {"Add", MapAdd},
    {"Concat", MapConcat},
    {"Slice", nullptr, UnmappedReason::kFusedInOurs,
     "one Slice per piece; our split writes every piece in one kernel"},
    {"MaxPool", MapPool},
    {"MaxPoolBackprop", MapPool},
    {"AvgPool", MapPool},
    {"AvgPoolBackprop", MapPool},
    {"MaxPoolWithIndices", nullptr, UnmappedReason::kOperandsDiffer,
     "writes an index tensor; our maxpool_fwd writes only y"},
    {"MaxPoolWithIndicesBackprop", nullptr, UnmappedReason::kOperandsDiffer,
     "reads the index tensor; our maxpool_bwd reads (dy, x)"},
    {"MatmulBias", MapMatmul},
    {"Softmax", nullptr, UnmappedReason::kFusedInOurs,
     "part of our softmax_xent_fwd"},
    {"Log", nullptr, UnmappedReason::kFusedInOurs,
     "part of our softmax_xent_fwd"},
    {"Sum", nullptr, UnmappedReason::kFusedInOurs,
     "loss or bias-gradient reduction; ours are inside softmax_xent_fwd and "
     "matmul_bwd_weights"},
    {"Negative", nullptr, UnmappedReason::kFusedInOurs,
     "part of the loss (softmax_xent_*)"},
    {"Divide", nullptr, UnmappedReason::kFusedInOurs,
     "part of the loss (softmax_xent_*)"},
    {"Greater", nullptr, UnmappedReason::kFusedInOurs,
     "part of the loss (softmax_xent_*)"},
    {"Maximum", nullptr, UnmappedReason::kFusedInOurs,
     "part of the loss (softmax_xent_*)"},
    {"Multiply", nullptr, UnmappedReason::kFusedInOurs,
     "part of the loss or the SGD update (softmax_xent_*, sgd_update)"},
    {"Subtract", nullptr, UnmappedReason::kFusedInOurs,
     "part of the loss or the SGD update (softmax_xent_*, sgd_update)"},
    {"ConvertLayout", nullptr, UnmappedReason::kNoCounterpart,
     "MKL-DNN layout conversion; our graphs have no layout kernels"},
    {"Reshape", nullptr, UnmappedReason::kNoCounterpart,
     "our graphs reshape by views, without a kernel"},
    {"Broadcast", nullptr, UnmappedReason::kNoCounterpart,
     "our graphs have no broadcast kernel"},
    {"Convert", nullptr, UnmappedReason::kNoCounterpart,
     "type conversion; our graphs are fp32 throughout"},
};

std::string ConfigString(const std::vector<bool>& slow, int inputs) {
  std::string config;
  for (size_t p = 0; p < slow.size(); ++p) {
    if (static_cast<int>(p) == inputs) config.push_back('|');
    config.push_back(slow[p] ? 'S' : 'F');
  }
  if (static_cast<int>(slow.size()) == inputs) config.push_back('|');
  return config;
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// AutoTM's cache key of a measured kernel (as GroupMeasurements groups).
std::string MeasuredKey(const OptaneMeasurement& m,
                        const v1::KernelSignature& signature) {
  return absl::StrCat(solver::SignatureKey(signature), m.mkldnn() ? "mkl" : "",
                      "{", absl::StrJoin(m.input_mkldnn_formats(), ","), "}");
}

// `where(i)` names measurement i in errors.
template <typename Where>
absl::StatusOr<OptaneImport> Import(
    const std::vector<OptaneMeasurement>& measurements,
    const OptaneImportOptions& options, Where where) {
  struct Entry {
    v1::KernelSignature signature;
    std::string op;  // nGraph op
    // Config string -> times (sorted: the profile lists configs in order).
    std::map<std::string, std::vector<double>> times;
  };
  struct Kernel {
    std::string op;
    std::optional<std::string> our_key;  // set when mapped
    UnmappedReason reason = UnmappedReason::kUnknownOp;
  };
  std::vector<Entry> entries;
  absl::flat_hash_map<std::string, size_t> entry_of;
  absl::flat_hash_map<std::string, Kernel> kernels;  // by MeasuredKey
  // Mappings by measured signature key (the mapping is independent of
  // formats and configurations).
  absl::flat_hash_map<std::string, MapResult> map_cache;

  OptaneImport result;
  OptaneImportReport& report = result.report;
  for (size_t i = 0; i < measurements.size(); ++i) {
    const OptaneMeasurement& m = measurements[i];
    // Validate and convert through the parser's own rules.
    absl::StatusOr<std::vector<MeasuredKernel>> one = GroupMeasurements({m});
    if (!one.ok()) {
      absl::string_view message = one.status().message();
      // GroupMeasurements numbers from 1 within the batch of one.
      absl::ConsumePrefix(&message, "measurement 1: ");
      return absl::InvalidArgumentError(absl::StrCat(where(i), message));
    }
    const MeasuredKernel& measured = (*one)[0];
    ++report.records;
    OptaneOpStats& op_stats = report.ops[m.op()];
    ++op_stats.records;

    const std::string measured_sig = solver::SignatureKey(measured.signature);
    auto cached = map_cache.find(measured_sig);
    if (cached == map_cache.end()) {
      cached =
          map_cache.emplace(measured_sig, MapOptaneKernel(measured.signature))
              .first;
    }
    const MapResult& mapped = cached->second;

    auto [kernel, new_kernel] =
        kernels.try_emplace(MeasuredKey(m, measured.signature));
    if (new_kernel) {
      kernel->second.op = m.op();
      ++report.kernels;
      ++op_stats.kernels;
      if (mapped.mapping) {
        kernel->second.our_key =
            solver::SignatureKey(mapped.mapping->signature);
        ++report.mapped_kernels;
        ++op_stats.mapped_kernels;
        op_stats.our_ops.insert(mapped.mapping->signature.op());
        if (!mapped.mapping->note.empty()) {
          op_stats.note = mapped.mapping->note;
        }
      } else {
        kernel->second.reason = mapped.reason;
        ++report.unmapped_kernels[mapped.reason];
        ++op_stats.unmapped_kernels[mapped.reason];
      }
    }
    if (!mapped.mapping) continue;
    ++report.mapped_records;
    ++op_stats.mapped_records;

    const KernelMapping& mapping = *mapped.mapping;
    const std::string& key = *kernel->second.our_key;
    auto [it, new_entry] = entry_of.try_emplace(key, entries.size());
    if (new_entry) {
      entries.push_back({mapping.signature, m.op(), {}});
      ++op_stats.signatures;
    }
    const std::vector<bool>& slow = measured.configs[0].slow;
    std::vector<bool> ours;
    ours.reserve(mapping.source.size());
    for (int p : mapping.source) ours.push_back(slow[p]);
    entries[it->second]
        .times[ConfigString(ours, mapping.signature.inputs_size())]
        .push_back(measured.configs[0].time_us);
  }

  v1::Profile& profile = result.profile;
  v1::HostClass* host = profile.mutable_host_class();
  host->set_name(options.host_class);
  host->set_fingerprint(kOptaneFingerprint);
  host->set_fast_tier_name(kOptaneFastTier);
  host->set_slow_tier_name(kOptaneSlowTier);
  *profile.mutable_bandwidths() = OptaneCopyBandwidths();
  for (Entry& entry : entries) {
    v1::KernelProfile* kernel = profile.add_kernels();
    *kernel->mutable_signature() = std::move(entry.signature);
    for (auto& [config, times] : entry.times) {
      v1::ConfigTiming* timing = kernel->add_configs();
      timing->set_config(config);
      timing->set_repetitions(static_cast<uint32_t>(times.size()));
      timing->set_time_us(Median(times));
      if (times.size() > 1) ++report.merged_configs;
    }
    ++report.signatures;
    report.configs += kernel->configs_size();
    report.ops[entry.op].configs += kernel->configs_size();
  }
  return result;
}

}  // namespace

absl::string_view UnmappedReasonName(UnmappedReason reason) {
  const int index = static_cast<int>(reason);
  if (index < 0 || index >= kNumUnmappedReasons) return "unknown";
  return kReasonNames[index];
}

MapResult MapOptaneKernel(const v1::KernelSignature& measured) {
  for (const OpEntry& e : kOps) {
    if (e.op != measured.op()) continue;
    if (e.map == nullptr) {
      return Unmapped(e.reason, absl::StrCat(e.op, ": ", e.detail));
    }
    if (!AllF32(AllOperands(measured))) {
      return BadShape(measured, "an operand is not f32 (ours are)");
    }
    return e.map(measured);
  }
  return Unmapped(UnmappedReason::kUnknownOp,
                  absl::StrCat(measured.op(), ": not an op we know"));
}

v1::CopyBandwidths OptaneCopyBandwidths() {
  // From bandwidth_vs_threads_GBps.csv (darchr/ml-tools, same machine),
  // the "stream" (non-temporal AVX-512) copy rows, which is the kernel
  // AutoTM's nGraph fork runs for a Move (the AutoTM paper, ASPLOS 2020):
  //   sync copies block compute and may use the threads the fork gives
  //   them: PMM -> DRAM with all 24 threads (27.4364 GB/s, also the row's
  //   peak) and DRAM -> PMM with 4 threads (11.8571 GB/s; the fork uses 4
  //   because PMM writes degrade with more: 7.85 GB/s at 24);
  //   async copies run on one helper thread beside a kernel: the 1-thread
  //   row, PMM -> DRAM 2.3702 and DRAM -> PMM 3.6969 GB/s.
  // optane_import_test.cc checks these against the CSV when it is present.
  v1::CopyBandwidths b;
  b.set_slow_to_fast_sync_gb_per_s(27.4364);
  b.set_fast_to_slow_sync_gb_per_s(11.8571);
  b.set_slow_to_fast_async_gb_per_s(2.3702);
  b.set_fast_to_slow_async_gb_per_s(3.6969);
  return b;
}

absl::StatusOr<OptaneImport> ImportOptaneMeasurements(
    const std::vector<OptaneMeasurement>& measurements,
    const OptaneImportOptions& options) {
  return Import(measurements, options, [](size_t i) {
    return absl::StrCat("measurement ", i + 1, ": ");
  });
}

absl::StatusOr<OptaneImport> ImportOptaneFile(
    const std::string& path, const OptaneImportOptions& options) {
  absl::StatusOr<MeasurementFile> file = ReadMeasurementFile(path);
  if (!file.ok()) return file.status();
  const std::vector<OptaneMeasurement>& measurements = file->measurements;
  const std::vector<int>& lines = file->lines;
  if (measurements.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": no measurements (empty file)"));
  }
  return Import(measurements, options, [&](size_t i) {
    return absl::StrCat(path, ":", lines[i], ": ");
  });
}

ProfileCoverage ComputeCoverage(const v1::Graph& graph,
                                const v1::Profile& profile) {
  absl::flat_hash_set<std::string> have;
  for (const v1::KernelProfile& k : profile.kernels()) {
    have.insert(solver::SignatureKey(k.signature()));
  }
  ProfileCoverage coverage;
  absl::flat_hash_set<std::string> seen;
  for (const v1::Kernel& k : graph.kernels()) {
    const std::string key = solver::SignatureKey(k.signature());
    const bool covered = have.contains(key);
    ++coverage.kernels;
    if (covered) ++coverage.covered_kernels;
    if (!seen.insert(key).second) continue;
    ProfileCoverage::OpCoverage& op = coverage.ops[k.signature().op()];
    ++coverage.signatures;
    ++op.signatures;
    if (covered) {
      ++coverage.covered;
      ++op.covered;
    }
  }
  return coverage;
}

}  // namespace autotm::costmodel
