#include "profiler-agent/kernels.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "solver/signature.h"

namespace autotm::agent {
namespace {

using dnnl::memory;
using Dims = memory::dims;
using Tag = memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;

dnnl::engine& Engine() {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

enum class Fill { kUniform, kPositive, kOneHot };

// Where a primitive argument's memory comes from: an operand (optionally
// seen through another descriptor over the same bytes: a sub-tensor view or
// a reshape) or an extra buffer (scratchpad, workspace, temporary).
struct Ref {
  enum Kind { kOperand, kExtra } kind;
  int index;
  std::optional<memory::desc> view;
};
Ref Op(int p) { return {Ref::kOperand, p, std::nullopt}; }
Ref Ex(int e) { return {Ref::kExtra, e, std::nullopt}; }

struct Step {
  dnnl::primitive primitive;
  std::vector<std::pair<int, Ref>> args;
};

struct Extra {
  memory::desc md;
  int tier_of_operand = -1;  // -1: the fast tier
};

struct Recipe {
  std::vector<memory::desc> operand_mds;
  std::vector<Fill> fills;
  std::vector<Extra> extras;
  std::vector<Step> setup;  // run once after the inputs are filled
  std::vector<Step> steps;  // the measured kernel

  int AddExtra(const memory::desc& md, int tier_of_operand = -1) {
    extras.push_back({md, tier_of_operand});
    return static_cast<int>(extras.size()) - 1;
  }
  // Adds a step; its scratchpad (if any) becomes a fast-tier extra.
  void Add(const dnnl::primitive& primitive, const memory::desc& scratchpad,
           std::vector<std::pair<int, Ref>> args, bool timed = true) {
    if (scratchpad.get_size() > 0) {
      args.push_back({DNNL_ARG_SCRATCHPAD, Ex(AddExtra(scratchpad))});
    }
    (timed ? steps : setup).push_back({primitive, std::move(args)});
  }
};

dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

Dims DimsOf(const v1::OperandSpec& spec) {
  Dims dims(spec.dims().begin(), spec.dims().end());
  if (dims.empty()) dims.push_back(1);  // a scalar
  return dims;
}

memory::desc Plain(const Dims& dims) {
  Dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) {
    strides[i] = strides[i + 1] * dims[i + 1];
  }
  return memory::desc(dims, kF32, strides);
}
memory::desc Any(const Dims& dims) {
  return memory::desc(dims, kF32, Tag::any);
}

struct Sig {
  const v1::KernelSignature& s;
  std::vector<Dims> in, out;
  int ni() const { return static_cast<int>(in.size()); }
  int no() const { return static_cast<int>(out.size()); }
};

absl::Status Bad(const Sig& sig, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat(sig.s.op(), ": ", why, " in ", solver::SignatureKey(sig.s)));
}

absl::Status Arity(const Sig& sig, int min_in, int max_in, int min_out,
                   int max_out) {
  if (sig.ni() < min_in || sig.ni() > max_in || sig.no() < min_out ||
      sig.no() > max_out) {
    return Bad(sig,
               absl::StrCat("expects ", min_in, "..", max_in, " inputs and ",
                            min_out, "..", max_out, " outputs"));
  }
  return absl::OkStatus();
}

absl::Status Rank(const Sig& sig, const Dims& d, size_t rank,
                  absl::string_view what) {
  if (d.size() != rank) {
    return Bad(sig, absl::StrCat(what, " must have rank ", rank));
  }
  return absl::OkStatus();
}

// "3" -> {3,3}; "1x7" -> {1,7}.
absl::StatusOr<Dims> Window(const Sig& sig, const std::string& name,
                            std::optional<int64_t> fallback) {
  auto it = sig.s.attributes().find(name);
  if (it == sig.s.attributes().end()) {
    if (fallback) return Dims{*fallback, *fallback};
    return Bad(sig, absl::StrCat("attribute '", name, "' is required"));
  }
  std::vector<std::string> parts = absl::StrSplit(it->second, 'x');
  Dims dims;
  for (const std::string& part : parts) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 0) dims.clear(), dims.push_back(-1);
    dims.push_back(v);
  }
  if (dims.size() == 1) dims.push_back(dims[0]);
  if (dims.size() != 2 || dims[0] < 0 || dims[1] < 0) {
    return Bad(sig, absl::StrCat("attribute ", name, "='", it->second,
                                 "' is not N or HxW"));
  }
  return dims;
}

struct Geometry {
  Dims strides, kernel, pad_l, pad_r;
};

// Window geometry from the attributes; the right/bottom padding is what
// makes oneDNN's output size equal the signature's (floor division).
absl::StatusOr<Geometry> WindowGeometry(const Sig& sig, const Dims& x,
                                        const Dims& y,
                                        std::optional<Dims> kernel) {
  Geometry g;
  if (kernel) {
    g.kernel = *kernel;
  } else {
    auto k = Window(sig, "kernel", std::nullopt);
    if (!k.ok()) return k.status();
    g.kernel = *k;
  }
  auto s = Window(sig, "stride", 1);
  if (!s.ok()) return s.status();
  auto p = Window(sig, "pad", 0);
  if (!p.ok()) return p.status();
  g.strides = *s;
  g.pad_l = *p;
  g.pad_r = {0, 0};
  for (int i = 0; i < 2; ++i) {
    if (g.strides[i] < 1) return Bad(sig, "stride must be >= 1");
    g.pad_r[i] =
        (y[2 + i] - 1) * g.strides[i] + g.kernel[i] - x[2 + i] - g.pad_l[i];
  }
  return g;
}

absl::Status NoGroups(const Sig& sig) {
  auto it = sig.s.attributes().find("groups");
  if (it != sig.s.attributes().end() && it->second != "1") {
    return absl::UnimplementedError(
        absl::StrCat(sig.s.op(), ": grouped convolution (groups=", it->second,
                     ") is not implemented"));
  }
  return absl::OkStatus();
}

#define AUTOTM_AGENT_CHECK(expr)                       \
  do {                                                 \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (false)

// --- Builders: one per op. Each returns the recipe or why not.

absl::StatusOr<Recipe> ConvFwd(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 3, 1, 1));
  AUTOTM_AGENT_CHECK(NoGroups(sig));
  const Dims &x = sig.in[0], &w = sig.in[1], &y = sig.out[0];
  AUTOTM_AGENT_CHECK(Rank(sig, x, 4, "x"));
  AUTOTM_AGENT_CHECK(Rank(sig, w, 4, "w"));
  AUTOTM_AGENT_CHECK(Rank(sig, y, 4, "y"));
  auto g = WindowGeometry(sig, x, y, Dims{w[2], w[3]});
  if (!g.ok()) return g.status();
  const bool bias = sig.ni() == 3;
  using CF = dnnl::convolution_forward;
  CF::desc d =
      bias ? CF::desc(dnnl::prop_kind::forward_training,
                      dnnl::algorithm::convolution_direct, Any(x), Any(w),
                      Plain(sig.in[2]), Any(y), g->strides, g->pad_l, g->pad_r)
           : CF::desc(dnnl::prop_kind::forward_training,
                      dnnl::algorithm::convolution_direct, Any(x), Any(w),
                      Any(y), g->strides, g->pad_l, g->pad_r);
  CF::primitive_desc pd(d, UserScratchpad(), Engine());
  Recipe r;
  r.operand_mds = {pd.src_desc(), pd.weights_desc()};
  std::vector<std::pair<int, Ref>> args = {{DNNL_ARG_SRC, Op(0)},
                                           {DNNL_ARG_WEIGHTS, Op(1)}};
  if (bias) {
    r.operand_mds.push_back(pd.bias_desc());
    args.push_back({DNNL_ARG_BIAS, Op(2)});
  }
  r.operand_mds.push_back(pd.dst_desc());
  args.push_back({DNNL_ARG_DST, Op(sig.ni())});
  r.Add(CF(pd), pd.scratchpad_desc(), std::move(args));
  return r;
}

absl::StatusOr<Recipe> ConvBwdData(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 2, 1, 1));
  AUTOTM_AGENT_CHECK(NoGroups(sig));
  const Dims &dy = sig.in[0], &w = sig.in[1], &dx = sig.out[0];
  AUTOTM_AGENT_CHECK(Rank(sig, dy, 4, "dy"));
  AUTOTM_AGENT_CHECK(Rank(sig, w, 4, "w"));
  AUTOTM_AGENT_CHECK(Rank(sig, dx, 4, "dx"));
  auto g = WindowGeometry(sig, dx, dy, Dims{w[2], w[3]});
  if (!g.ok()) return g.status();
  using CF = dnnl::convolution_forward;
  using CB = dnnl::convolution_backward_data;
  CF::primitive_desc hint(
      CF::desc(dnnl::prop_kind::forward_training,
               dnnl::algorithm::convolution_direct, Any(dx), Any(w), Any(dy),
               g->strides, g->pad_l, g->pad_r),
      Engine());
  CB::primitive_desc pd(
      CB::desc(dnnl::algorithm::convolution_direct, Any(dx), Any(w), Any(dy),
               g->strides, g->pad_l, g->pad_r),
      UserScratchpad(), Engine(), hint);
  Recipe r;
  r.operand_mds = {pd.diff_dst_desc(), pd.weights_desc(), pd.diff_src_desc()};
  r.Add(CB(pd), pd.scratchpad_desc(),
        {{DNNL_ARG_DIFF_DST, Op(0)},
         {DNNL_ARG_WEIGHTS, Op(1)},
         {DNNL_ARG_DIFF_SRC, Op(2)}});
  return r;
}

absl::StatusOr<Recipe> ConvBwdWeights(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 2, 1, 2));
  AUTOTM_AGENT_CHECK(NoGroups(sig));
  const Dims &x = sig.in[0], &dy = sig.in[1], &dw = sig.out[0];
  AUTOTM_AGENT_CHECK(Rank(sig, x, 4, "x"));
  AUTOTM_AGENT_CHECK(Rank(sig, dy, 4, "dy"));
  AUTOTM_AGENT_CHECK(Rank(sig, dw, 4, "dw"));
  auto g = WindowGeometry(sig, x, dy, Dims{dw[2], dw[3]});
  if (!g.ok()) return g.status();
  const bool bias = sig.no() == 2;
  using CF = dnnl::convolution_forward;
  using CB = dnnl::convolution_backward_weights;
  const auto alg = dnnl::algorithm::convolution_direct;
  CF::primitive_desc hint =
      bias ? CF::primitive_desc(
                 CF::desc(dnnl::prop_kind::forward_training, alg, Any(x),
                          Any(dw), Plain(sig.out[1]), Any(dy), g->strides,
                          g->pad_l, g->pad_r),
                 Engine())
           : CF::primitive_desc(
                 CF::desc(dnnl::prop_kind::forward_training, alg, Any(x),
                          Any(dw), Any(dy), g->strides, g->pad_l, g->pad_r),
                 Engine());
  CB::desc d = bias ? CB::desc(alg, Any(x), Any(dw), Plain(sig.out[1]), Any(dy),
                               g->strides, g->pad_l, g->pad_r)
                    : CB::desc(alg, Any(x), Any(dw), Any(dy), g->strides,
                               g->pad_l, g->pad_r);
  CB::primitive_desc pd(d, UserScratchpad(), Engine(), hint);
  Recipe r;
  r.operand_mds = {pd.src_desc(), pd.diff_dst_desc(), pd.diff_weights_desc()};
  std::vector<std::pair<int, Ref>> args = {{DNNL_ARG_SRC, Op(0)},
                                           {DNNL_ARG_DIFF_DST, Op(1)},
                                           {DNNL_ARG_DIFF_WEIGHTS, Op(2)}};
  if (bias) {
    r.operand_mds.push_back(pd.diff_bias_desc());
    args.push_back({DNNL_ARG_DIFF_BIAS, Op(3)});
  }
  r.Add(CB(pd), pd.scratchpad_desc(), std::move(args));
  return r;
}

absl::Status SameDims(const Sig& sig) {
  const Dims& first = sig.in.empty() ? sig.out[0] : sig.in[0];
  for (const auto* list : {&sig.in, &sig.out}) {
    for (const Dims& d : *list) {
      if (d != first) return Bad(sig, "operand dims differ");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Recipe> ReluFwd(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 1, 1, 1, 1));
  AUTOTM_AGENT_CHECK(SameDims(sig));
  using EF = dnnl::eltwise_forward;
  const memory::desc md = Plain(sig.in[0]);
  EF::primitive_desc pd(EF::desc(dnnl::prop_kind::forward_training,
                                 dnnl::algorithm::eltwise_relu, md, 0.f, 0.f),
                        UserScratchpad(), Engine());
  Recipe r;
  r.operand_mds = {md, md};
  r.Add(EF(pd), pd.scratchpad_desc(),
        {{DNNL_ARG_SRC, Op(0)}, {DNNL_ARG_DST, Op(1)}});
  return r;
}

absl::StatusOr<Recipe> ReluBwd(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 2, 1, 1));
  AUTOTM_AGENT_CHECK(SameDims(sig));
  using EF = dnnl::eltwise_forward;
  using EB = dnnl::eltwise_backward;
  const auto alg = dnnl::algorithm::eltwise_relu_use_dst_for_bwd;
  const memory::desc md = Plain(sig.in[0]);
  EF::primitive_desc hint(
      EF::desc(dnnl::prop_kind::forward_training, alg, md, 0.f, 0.f), Engine());
  EB::primitive_desc pd(EB::desc(alg, md, md, 0.f, 0.f), UserScratchpad(),
                        Engine(), hint);
  Recipe r;
  r.operand_mds = {md, md, md};
  r.Add(EB(pd), pd.scratchpad_desc(),
        {{DNNL_ARG_DIFF_DST, Op(0)},
         {DNNL_ARG_DST, Op(1)},
         {DNNL_ARG_DIFF_SRC, Op(2)}});
  return r;
}

absl::StatusOr<Recipe> PoolFwd(const Sig& sig, dnnl::algorithm alg) {
  AUTOTM_AGENT_CHECK(Arity(sig, 1, 1, 1, 1));
  const Dims &x = sig.in[0], &y = sig.out[0];
  AUTOTM_AGENT_CHECK(Rank(sig, x, 4, "x"));
  AUTOTM_AGENT_CHECK(Rank(sig, y, 4, "y"));
  auto g = WindowGeometry(sig, x, y, std::nullopt);
  if (!g.ok()) return g.status();
  using PF = dnnl::pooling_forward;
  // Inference mode: the signature has no workspace operand; the backward
  // kernel recomputes it from x (see PoolBwd).
  PF::primitive_desc pd(
      PF::desc(dnnl::prop_kind::forward_inference, alg, Plain(x), Plain(y),
               g->strides, g->kernel, g->pad_l, g->pad_r),
      UserScratchpad(), Engine());
  Recipe r;
  r.operand_mds = {pd.src_desc(), pd.dst_desc()};
  r.Add(PF(pd), pd.scratchpad_desc(),
        {{DNNL_ARG_SRC, Op(0)}, {DNNL_ARG_DST, Op(1)}});
  return r;
}

absl::StatusOr<Recipe> PoolBwd(const Sig& sig, dnnl::algorithm alg) {
  const bool max = alg == dnnl::algorithm::pooling_max;
  AUTOTM_AGENT_CHECK(Arity(sig, max ? 2 : 1, max ? 2 : 1, 1, 1));
  const Dims &dy = sig.in[0], &dx = sig.out[0];
  AUTOTM_AGENT_CHECK(Rank(sig, dy, 4, "dy"));
  AUTOTM_AGENT_CHECK(Rank(sig, dx, 4, "dx"));
  if (max && sig.in[1] != dx) return Bad(sig, "x and dx dims differ");
  auto g = WindowGeometry(sig, dx, dy, std::nullopt);
  if (!g.ok()) return g.status();
  using PF = dnnl::pooling_forward;
  using PB = dnnl::pooling_backward;
  PF::primitive_desc hint(
      PF::desc(dnnl::prop_kind::forward_training, alg, Plain(dx), Plain(dy),
               g->strides, g->kernel, g->pad_l, g->pad_r),
      UserScratchpad(), Engine());
  PB::primitive_desc pd(PB::desc(alg, Plain(dx), Plain(dy), g->strides,
                                 g->kernel, g->pad_l, g->pad_r),
                        UserScratchpad(), Engine(), hint);
  Recipe r;
  const int dx_p = sig.ni();
  r.operand_mds.push_back(pd.diff_dst_desc());
  if (max) r.operand_mds.push_back(hint.src_desc());
  r.operand_mds.push_back(pd.diff_src_desc());
  std::vector<std::pair<int, Ref>> args = {{DNNL_ARG_DIFF_DST, Op(0)},
                                           {DNNL_ARG_DIFF_SRC, Op(dx_p)}};
  if (max) {
    // The argmax workspace is recomputed from x once (not timed) and lives
    // where x lives.
    const int ws = r.AddExtra(hint.workspace_desc(), /*tier_of_operand=*/1);
    const int y = r.AddExtra(hint.dst_desc());
    r.Add(PF(hint), hint.scratchpad_desc(),
          {{DNNL_ARG_SRC, Op(1)},
           {DNNL_ARG_DST, Ex(y)},
           {DNNL_ARG_WORKSPACE, Ex(ws)}},
          /*timed=*/false);
    args.push_back({DNNL_ARG_WORKSPACE, Ex(ws)});
  }
  r.Add(PB(pd), pd.scratchpad_desc(), std::move(args));
  return r;
}

absl::StatusOr<Recipe> Sum(const Sig& sig, std::vector<float> scales) {
  AUTOTM_AGENT_CHECK(SameDims(sig));
  std::vector<memory::desc> srcs;
  for (const Dims& d : sig.in) srcs.push_back(Plain(d));
  dnnl::sum::primitive_desc pd(Plain(sig.out[0]), scales, srcs, Engine(),
                               UserScratchpad());
  Recipe r;
  r.operand_mds = srcs;
  r.operand_mds.push_back(pd.dst_desc());
  std::vector<std::pair<int, Ref>> args;
  for (int i = 0; i < sig.ni(); ++i) {
    args.push_back({DNNL_ARG_MULTIPLE_SRC + i, Op(i)});
  }
  args.push_back({DNNL_ARG_DST, Op(sig.ni())});
  r.Add(dnnl::sum(pd), pd.scratchpad_desc(), std::move(args));
  return r;
}

absl::StatusOr<Recipe> Add(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 64, 1, 1));
  return Sum(sig, std::vector<float>(sig.in.size(), 1.f));
}

absl::StatusOr<Recipe> SgdUpdate(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 2, 1, 1));
  return Sum(sig, {1.f, -0.01f});  // w - lr * dw
}

// Checks that `parts` concatenated along axis 1 make `whole`.
absl::Status ConcatDims(const Sig& sig, const std::vector<Dims>& parts,
                        const Dims& whole) {
  int64_t channels = 0;
  for (const Dims& d : parts) {
    if (d.size() != whole.size() || d.size() < 2) {
      return Bad(sig, "operand ranks differ or are below 2");
    }
    for (size_t i = 0; i < d.size(); ++i) {
      if (i != 1 && d[i] != whole[i]) return Bad(sig, "non-axis dims differ");
    }
    channels += d[1];
  }
  if (channels != whole[1]) return Bad(sig, "axis-1 sizes do not add up");
  return absl::OkStatus();
}

absl::StatusOr<Recipe> Concat(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 1, 1024, 1, 1));
  AUTOTM_AGENT_CHECK(ConcatDims(sig, sig.in, sig.out[0]));
  std::vector<memory::desc> srcs;
  for (const Dims& d : sig.in) srcs.push_back(Plain(d));
  dnnl::concat::primitive_desc pd(Plain(sig.out[0]), 1, srcs, Engine(),
                                  UserScratchpad());
  Recipe r;
  r.operand_mds = srcs;
  r.operand_mds.push_back(pd.dst_desc());
  std::vector<std::pair<int, Ref>> args;
  for (int i = 0; i < sig.ni(); ++i) {
    args.push_back({DNNL_ARG_MULTIPLE_SRC + i, Op(i)});
  }
  args.push_back({DNNL_ARG_DST, Op(sig.ni())});
  r.Add(dnnl::concat(pd), pd.scratchpad_desc(), std::move(args));
  return r;
}

absl::StatusOr<Recipe> Split(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 1, 1, 1, 1024));
  AUTOTM_AGENT_CHECK(ConcatDims(sig, sig.out, sig.in[0]));
  Recipe r;
  const memory::desc whole = Plain(sig.in[0]);
  r.operand_mds.push_back(whole);
  Dims offsets(sig.in[0].size(), 0);
  for (int i = 0; i < sig.no(); ++i) {
    const memory::desc part = whole.submemory_desc(sig.out[i], offsets);
    offsets[1] += sig.out[i][1];
    const memory::desc dst = Plain(sig.out[i]);
    r.operand_mds.push_back(dst);
    dnnl::reorder::primitive_desc pd(Engine(), part, Engine(), dst,
                                     UserScratchpad());
    r.Add(dnnl::reorder(pd), pd.scratchpad_desc(),
          {{DNNL_ARG_FROM, Ref{Ref::kOperand, 0, part}},
           {DNNL_ARG_TO, Op(1 + i)}});
  }
  return r;
}

absl::StatusOr<Recipe> MatmulFwd(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 3, 1, 1));
  const Dims &x = sig.in[0], &w = sig.in[1], &y = sig.out[0];
  AUTOTM_AGENT_CHECK(Rank(sig, x, 2, "x"));
  AUTOTM_AGENT_CHECK(Rank(sig, w, 2, "w"));
  AUTOTM_AGENT_CHECK(Rank(sig, y, 2, "y"));
  const bool bias = sig.ni() == 3;
  using IF = dnnl::inner_product_forward;
  IF::desc d = bias ? IF::desc(dnnl::prop_kind::forward_training, Any(x),
                               Any(w), Plain(sig.in[2]), Any(y))
                    : IF::desc(dnnl::prop_kind::forward_training, Any(x),
                               Any(w), Any(y));
  IF::primitive_desc pd(d, UserScratchpad(), Engine());
  Recipe r;
  r.operand_mds = {pd.src_desc(), pd.weights_desc()};
  std::vector<std::pair<int, Ref>> args = {{DNNL_ARG_SRC, Op(0)},
                                           {DNNL_ARG_WEIGHTS, Op(1)}};
  if (bias) {
    r.operand_mds.push_back(pd.bias_desc());
    args.push_back({DNNL_ARG_BIAS, Op(2)});
  }
  r.operand_mds.push_back(pd.dst_desc());
  args.push_back({DNNL_ARG_DST, Op(sig.ni())});
  r.Add(IF(pd), pd.scratchpad_desc(), std::move(args));
  return r;
}

absl::StatusOr<Recipe> MatmulBwdData(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 2, 1, 1));
  const Dims &dy = sig.in[0], &w = sig.in[1], &dx = sig.out[0];
  AUTOTM_AGENT_CHECK(Rank(sig, dy, 2, "dy"));
  AUTOTM_AGENT_CHECK(Rank(sig, w, 2, "w"));
  AUTOTM_AGENT_CHECK(Rank(sig, dx, 2, "dx"));
  using IF = dnnl::inner_product_forward;
  using IB = dnnl::inner_product_backward_data;
  IF::primitive_desc hint(
      IF::desc(dnnl::prop_kind::forward_training, Any(dx), Any(w), Any(dy)),
      Engine());
  IB::primitive_desc pd(IB::desc(Any(dx), Any(w), Any(dy)), UserScratchpad(),
                        Engine(), hint);
  Recipe r;
  r.operand_mds = {pd.diff_dst_desc(), pd.weights_desc(), pd.diff_src_desc()};
  r.Add(IB(pd), pd.scratchpad_desc(),
        {{DNNL_ARG_DIFF_DST, Op(0)},
         {DNNL_ARG_WEIGHTS, Op(1)},
         {DNNL_ARG_DIFF_SRC, Op(2)}});
  return r;
}

absl::StatusOr<Recipe> MatmulBwdWeights(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 2, 1, 2));
  const Dims &x = sig.in[0], &dy = sig.in[1], &dw = sig.out[0];
  AUTOTM_AGENT_CHECK(Rank(sig, x, 2, "x"));
  AUTOTM_AGENT_CHECK(Rank(sig, dy, 2, "dy"));
  AUTOTM_AGENT_CHECK(Rank(sig, dw, 2, "dw"));
  const bool bias = sig.no() == 2;
  using IF = dnnl::inner_product_forward;
  using IB = dnnl::inner_product_backward_weights;
  IF::primitive_desc hint =
      bias ? IF::primitive_desc(
                 IF::desc(dnnl::prop_kind::forward_training, Any(x), Any(dw),
                          Plain(sig.out[1]), Any(dy)),
                 Engine())
           : IF::primitive_desc(IF::desc(dnnl::prop_kind::forward_training,
                                         Any(x), Any(dw), Any(dy)),
                                Engine());
  IB::desc d = bias ? IB::desc(Any(x), Any(dw), Plain(sig.out[1]), Any(dy))
                    : IB::desc(Any(x), Any(dw), Any(dy));
  IB::primitive_desc pd(d, UserScratchpad(), Engine(), hint);
  Recipe r;
  r.operand_mds = {pd.src_desc(), pd.diff_dst_desc(), pd.diff_weights_desc()};
  std::vector<std::pair<int, Ref>> args = {{DNNL_ARG_SRC, Op(0)},
                                           {DNNL_ARG_DIFF_DST, Op(1)},
                                           {DNNL_ARG_DIFF_WEIGHTS, Op(2)}};
  if (bias) {
    r.operand_mds.push_back(pd.diff_bias_desc());
    args.push_back({DNNL_ARG_DIFF_BIAS, Op(3)});
  }
  r.Add(IB(pd), pd.scratchpad_desc(), std::move(args));
  return r;
}

absl::StatusOr<float> Epsilon(const Sig& sig) {
  auto it = sig.s.attributes().find("eps");
  if (it == sig.s.attributes().end()) return 1e-5f;
  float eps = 0;
  if (!absl::SimpleAtof(it->second, &eps) || !(eps > 0)) {
    return Bad(sig, absl::StrCat("attribute eps='", it->second, "'"));
  }
  return eps;
}

absl::Status PerChannel(const Sig& sig, const Dims& x,
                        const std::vector<Dims>& params) {
  for (const Dims& p : params) {
    if (p.size() != 1 || p[0] != x[1]) {
      return Bad(sig, "per-channel operands must be [C]");
    }
  }
  return absl::OkStatus();
}

dnnl::normalization_flags BnFlags() {
  return dnnl::normalization_flags::use_scale |
         dnnl::normalization_flags::use_shift;
}

absl::StatusOr<Recipe> BatchNormFwd(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 3, 3, 3, 3));
  const Dims& x = sig.in[0];
  if (x.size() < 2 || sig.out[0] != x) return Bad(sig, "x and y differ");
  AUTOTM_AGENT_CHECK(
      PerChannel(sig, x, {sig.in[1], sig.in[2], sig.out[1], sig.out[2]}));
  auto eps = Epsilon(sig);
  if (!eps.ok()) return eps.status();
  using BF = dnnl::batch_normalization_forward;
  BF::primitive_desc pd(
      BF::desc(dnnl::prop_kind::forward_training, Plain(x), *eps, BnFlags()),
      UserScratchpad(), Engine());
  const memory::desc c = Plain({x[1]});
  Recipe r;
  r.operand_mds = {pd.src_desc(), c, c, pd.dst_desc(), c, c};
  r.Add(BF(pd), pd.scratchpad_desc(),
        {{DNNL_ARG_SRC, Op(0)},
         {DNNL_ARG_SCALE, Op(1)},
         {DNNL_ARG_SHIFT, Op(2)},
         {DNNL_ARG_DST, Op(3)},
         {DNNL_ARG_MEAN, Op(4)},
         {DNNL_ARG_VARIANCE, Op(5)}});
  return r;
}

absl::StatusOr<Recipe> BatchNormBwd(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 5, 5, 3, 3));
  const Dims& x = sig.in[1];
  if (x.size() < 2 || sig.in[0] != x || sig.out[0] != x) {
    return Bad(sig, "dy, x and dx must have equal dims");
  }
  AUTOTM_AGENT_CHECK(PerChannel(
      sig, x, {sig.in[2], sig.in[3], sig.in[4], sig.out[1], sig.out[2]}));
  auto eps = Epsilon(sig);
  if (!eps.ok()) return eps.status();
  using BF = dnnl::batch_normalization_forward;
  using BB = dnnl::batch_normalization_backward;
  BF::primitive_desc hint(
      BF::desc(dnnl::prop_kind::forward_training, Plain(x), *eps, BnFlags()),
      Engine());
  BB::primitive_desc pd(
      BB::desc(dnnl::prop_kind::backward, Plain(x), Plain(x), *eps, BnFlags()),
      UserScratchpad(), Engine(), hint);
  const memory::desc c = Plain({x[1]});
  Recipe r;
  r.operand_mds = {
      pd.diff_dst_desc(), pd.src_desc(), c, c, c, pd.diff_src_desc(), c, c};
  r.fills = {Fill::kUniform, Fill::kUniform, Fill::kUniform, Fill::kUniform,
             Fill::kPositive};
  // oneDNN 2.6 wants the shift as an input of the backward pass too (the
  // signature does not carry beta; its values do not change the work).
  const int shift = r.AddExtra(c);
  r.Add(BB(pd), pd.scratchpad_desc(),
        {{DNNL_ARG_SHIFT, Ex(shift)},
         {DNNL_ARG_DIFF_DST, Op(0)},
         {DNNL_ARG_SRC, Op(1)},
         {DNNL_ARG_SCALE, Op(2)},
         {DNNL_ARG_MEAN, Op(3)},
         {DNNL_ARG_VARIANCE, Op(4)},
         {DNNL_ARG_DIFF_SRC, Op(5)},
         {DNNL_ARG_DIFF_SCALE, Op(6)},
         {DNNL_ARG_DIFF_SHIFT, Op(7)}});
  return r;
}

absl::StatusOr<Recipe> SoftmaxXentFwd(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 2, 2, 2));
  const Dims& logits = sig.in[0];
  if (logits.size() != 2 || sig.in[1] != logits || sig.out[1] != logits ||
      sig.out[0] != Dims{1}) {
    return Bad(sig, "expects logits, labels, probs [N,K] and a scalar loss");
  }
  const memory::desc md = Plain(logits);
  Recipe r;
  r.operand_mds = {md, md, Plain({1}), md};
  r.fills = {Fill::kUniform, Fill::kOneHot};
  // probs = softmax(logits).
  using SF = dnnl::softmax_forward;
  SF::primitive_desc softmax(
      SF::desc(dnnl::prop_kind::forward_inference, md, 1), UserScratchpad(),
      Engine());
  r.Add(SF(softmax), softmax.scratchpad_desc(),
        {{DNNL_ARG_SRC, Op(0)}, {DNNL_ARG_DST, Op(3)}});
  // loss = -sum(labels * logsoftmax(logits)) / N.
  using LF = dnnl::logsoftmax_forward;
  LF::primitive_desc log_softmax(
      LF::desc(dnnl::prop_kind::forward_inference, md, 1), UserScratchpad(),
      Engine());
  const int log_probs = r.AddExtra(md);
  r.Add(LF(log_softmax), log_softmax.scratchpad_desc(),
        {{DNNL_ARG_SRC, Op(0)}, {DNNL_ARG_DST, Ex(log_probs)}});
  dnnl::binary::primitive_desc mul(
      dnnl::binary::desc(dnnl::algorithm::binary_mul, md, md, md),
      UserScratchpad(), Engine());
  r.Add(dnnl::binary(mul), mul.scratchpad_desc(),
        {{DNNL_ARG_SRC_0, Ex(log_probs)},
         {DNNL_ARG_SRC_1, Op(1)},
         {DNNL_ARG_DST, Ex(log_probs)}});
  dnnl::post_ops scale;
  scale.append_eltwise(1.f, dnnl::algorithm::eltwise_linear,
                       -1.f / static_cast<float>(logits[0]), 0.f);
  dnnl::primitive_attr attr = UserScratchpad();
  attr.set_post_ops(scale);
  const memory::desc loss_2d = Plain({1, 1});
  dnnl::reduction::primitive_desc reduce(
      dnnl::reduction::desc(dnnl::algorithm::reduction_sum, md, loss_2d, 0.f,
                            0.f),
      attr, Engine());
  r.Add(dnnl::reduction(reduce), reduce.scratchpad_desc(),
        {{DNNL_ARG_SRC, Ex(log_probs)},
         {DNNL_ARG_DST, Ref{Ref::kOperand, 2, loss_2d}}});
  return r;
}

absl::StatusOr<Recipe> SoftmaxXentBwd(const Sig& sig) {
  AUTOTM_AGENT_CHECK(Arity(sig, 2, 2, 1, 1));
  AUTOTM_AGENT_CHECK(SameDims(sig));
  const memory::desc md = Plain(sig.in[0]);
  Recipe r;
  r.operand_mds = {md, md, md};
  r.fills = {Fill::kUniform, Fill::kOneHot};
  // dlogits = probs - labels.
  dnnl::binary::primitive_desc sub(
      dnnl::binary::desc(dnnl::algorithm::binary_sub, md, md, md),
      UserScratchpad(), Engine());
  r.Add(dnnl::binary(sub), sub.scratchpad_desc(),
        {{DNNL_ARG_SRC_0, Op(0)},
         {DNNL_ARG_SRC_1, Op(1)},
         {DNNL_ARG_DST, Op(2)}});
  return r;
}

using Builder = absl::StatusOr<Recipe> (*)(const Sig&);

const std::vector<std::pair<std::string, Builder>>& Builders() {
  static const auto* builders = new std::vector<
      std::pair<std::string, Builder>>{
      {"add", Add},
      {"avgpool_bwd",
       [](const Sig& s) {
         return PoolBwd(s, dnnl::algorithm::pooling_avg_include_padding);
       }},
      {"avgpool_fwd",
       [](const Sig& s) {
         return PoolFwd(s, dnnl::algorithm::pooling_avg_include_padding);
       }},
      {"batchnorm_bwd", BatchNormBwd},
      {"batchnorm_fwd", BatchNormFwd},
      {"concat", Concat},
      {"conv2d_bwd_data", ConvBwdData},
      // Alias used by tests/testdata/make_example.py graphs.
      {"conv2d_bwd_filter", ConvBwdWeights},
      {"conv2d_bwd_weights", ConvBwdWeights},
      {"conv2d_fwd", ConvFwd},
      {"matmul_bwd_data", MatmulBwdData},
      {"matmul_bwd_weights", MatmulBwdWeights},
      {"matmul_fwd", MatmulFwd},
      {"maxpool_bwd",
       [](const Sig& s) { return PoolBwd(s, dnnl::algorithm::pooling_max); }},
      {"maxpool_fwd",
       [](const Sig& s) { return PoolFwd(s, dnnl::algorithm::pooling_max); }},
      // Aliases used by tests/testdata/make_example.py graphs.
      {"maxpool2d_bwd",
       [](const Sig& s) { return PoolBwd(s, dnnl::algorithm::pooling_max); }},
      {"maxpool2d_fwd",
       [](const Sig& s) { return PoolFwd(s, dnnl::algorithm::pooling_max); }},
      {"relu_bwd", ReluBwd},
      {"relu_fwd", ReluFwd},
      {"sgd_update", SgdUpdate},
      {"softmax_xent_bwd", SoftmaxXentBwd},
      {"softmax_xent_fwd", SoftmaxXentFwd},
      {"split", Split},
  };
  return *builders;
}

Builder FindBuilder(const std::string& op) {
  for (const auto& [name, builder] : Builders()) {
    if (name == op) return builder;
  }
  return nullptr;
}

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

bool IsSupportedOp(const std::string& op) { return FindBuilder(op) != nullptr; }

std::vector<std::string> SupportedOps() {
  std::vector<std::string> ops;
  for (const auto& [name, builder] : Builders()) ops.push_back(name);
  return ops;
}

struct PreparedKernel::State {
  std::vector<Dims> plain_dims;
  Recipe recipe;
  std::vector<Tier*> operand_tiers;
  std::vector<TierBuffer> operand_buffers;
  std::vector<memory> operand_mems;
  std::vector<TierBuffer> extra_buffers;
  std::vector<memory> extra_mems;
  dnnl::stream stream;
  using Bound = std::pair<dnnl::primitive, std::unordered_map<int, memory>>;
  std::vector<Bound> setup, steps;
};

PreparedKernel::PreparedKernel(std::unique_ptr<State> state)
    : state_(std::move(state)) {}
PreparedKernel::~PreparedKernel() = default;

int PreparedKernel::num_operands() const {
  return static_cast<int>(state_->operand_buffers.size());
}
const TierBuffer& PreparedKernel::operand_buffer(int p) const {
  return state_->operand_buffers[p];
}

absl::Status PreparedKernel::VerifyPlacement() const {
  for (int p = 0; p < num_operands(); ++p) {
    const TierBuffer& b = state_->operand_buffers[p];
    if (absl::Status s =
            state_->operand_tiers[p]->VerifyPlacement(b.data(), b.size());
        !s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("operand ", p, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

namespace {

// Input operand `p`'s values (of shape `dims`), filled as `fill` says from
// a fixed hash: the same on every run, and finite.
std::vector<float> DeterministicInput(const Dims& dims, Fill fill, int p) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  std::vector<float> values(count);
  const int64_t row = dims.back();
  for (int64_t i = 0; i < count; ++i) {
    const float u = static_cast<float>(Mix(i * 131 + p) >> 40) / float(1 << 24);
    switch (fill) {
      case Fill::kUniform:
        values[i] = 2 * u - 1;
        break;
      case Fill::kPositive:
        values[i] = 0.5f + u;
        break;
      case Fill::kOneHot:
        values[i] = (i % row) == ((i / row) % row) ? 1.f : 0.f;
        break;
    }
  }
  return values;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreparedKernel>> PreparedKernel::Create(
    const v1::KernelSignature& signature, const std::vector<bool>& slow,
    Tier& fast_tier, Tier& slow_tier) {
  const Builder builder = FindBuilder(signature.op());
  if (builder == nullptr) {
    return absl::UnimplementedError(absl::StrCat(
        "op '", signature.op(), "' has no CPU kernel in autotm-agent"));
  }
  Sig sig{signature, {}, {}};
  for (const auto* list : {&signature.inputs(), &signature.outputs()}) {
    for (const v1::OperandSpec& spec : *list) {
      if (spec.dtype() != v1::DATA_TYPE_F32) {
        return absl::UnimplementedError(
            absl::StrCat("op '", signature.op(), "': dtype ",
                         solver::DataTypeName(spec.dtype()),
                         " is not implemented (f32 only)"));
      }
      for (int64_t d : spec.dims()) {
        if (d < 1) return Bad(sig, "every dim must be >= 1");
      }
    }
  }
  for (const auto& spec : signature.inputs()) sig.in.push_back(DimsOf(spec));
  for (const auto& spec : signature.outputs()) sig.out.push_back(DimsOf(spec));
  const int n = sig.ni() + sig.no();
  if (static_cast<int>(slow.size()) != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(signature.op(), ": configuration has ", slow.size(),
                     " operands, the signature ", n));
  }

  auto state = std::make_unique<State>();
  try {
    absl::StatusOr<Recipe> recipe = builder(sig);
    if (!recipe.ok()) return recipe.status();
    state->recipe = *std::move(recipe);
    state->stream = dnnl::stream(Engine());
  } catch (const dnnl::error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(signature.op(), ": oneDNN rejects ",
                     solver::SignatureKey(signature), ": ", e.what()));
  }
  Recipe& r = state->recipe;
  r.fills.resize(sig.ni(), Fill::kUniform);
  state->plain_dims = sig.in;
  state->plain_dims.insert(state->plain_dims.end(), sig.out.begin(),
                           sig.out.end());

  try {
    for (int p = 0; p < n; ++p) {
      Tier* tier = slow[p] ? &slow_tier : &fast_tier;
      absl::StatusOr<TierBuffer> buffer =
          tier->Allocate(std::max<size_t>(r.operand_mds[p].get_size(), 1));
      if (!buffer.ok()) return buffer.status();
      state->operand_mems.emplace_back(r.operand_mds[p], Engine(),
                                       buffer->data());
      state->operand_buffers.push_back(*std::move(buffer));
      state->operand_tiers.push_back(tier);
    }
    for (const Extra& extra : r.extras) {
      Tier* tier = extra.tier_of_operand >= 0
                       ? state->operand_tiers[extra.tier_of_operand]
                       : &fast_tier;
      absl::StatusOr<TierBuffer> buffer =
          tier->Allocate(std::max<size_t>(extra.md.get_size(), 1));
      if (!buffer.ok()) return buffer.status();
      state->extra_mems.emplace_back(extra.md, Engine(), buffer->data());
      state->extra_buffers.push_back(*std::move(buffer));
    }
    auto bind = [&](const std::vector<Step>& steps,
                    std::vector<State::Bound>* out) {
      for (const Step& step : steps) {
        std::unordered_map<int, memory> args;
        for (const auto& [arg, ref] : step.args) {
          const memory& base = ref.kind == Ref::kOperand
                                   ? state->operand_mems[ref.index]
                                   : state->extra_mems[ref.index];
          args.emplace(arg, ref.view ? memory(*ref.view, Engine(),
                                              base.get_data_handle())
                                     : base);
        }
        out->push_back({step.primitive, std::move(args)});
      }
    };
    bind(r.setup, &state->setup);
    bind(r.steps, &state->steps);
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat(signature.op(), ": binding memory: ", e.what()));
  }

  std::unique_ptr<PreparedKernel> kernel(new PreparedKernel(std::move(state)));
  // Deterministic inputs so that runs are comparable and values finite.
  for (int p = 0; p < sig.ni(); ++p) {
    const std::vector<float> values =
        DeterministicInput(kernel->state_->plain_dims[p], r.fills[p], p);
    if (absl::Status s = kernel->WriteOperand(p, values); !s.ok()) return s;
  }
  try {
    for (auto& [primitive, args] : kernel->state_->setup) {
      primitive.execute(kernel->state_->stream, args);
    }
    kernel->state_->stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(
        absl::StrCat(signature.op(), ": setup: ", e.what()));
  }
  return kernel;
}

absl::Status PreparedKernel::Run() {
  try {
    for (auto& [primitive, args] : state_->steps) {
      primitive.execute(state_->stream, args);
    }
    state_->stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("oneDNN execute: ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> PreparedKernel::ReadOperand(int p) {
  if (p < 0 || p >= num_operands()) {
    return absl::OutOfRangeError(absl::StrCat("no operand ", p));
  }
  const memory::desc plain = Plain(state_->plain_dims[p]);
  std::vector<float> values(plain.get_size() / sizeof(float));
  try {
    memory user(plain, Engine(), values.data());
    dnnl::reorder(state_->operand_mems[p], user)
        .execute(state_->stream, state_->operand_mems[p], user);
    state_->stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("reorder: ", e.what()));
  }
  return values;
}

absl::Status PreparedKernel::WriteOperand(int p,
                                          absl::Span<const float> values) {
  if (p < 0 || p >= num_operands()) {
    return absl::OutOfRangeError(absl::StrCat("no operand ", p));
  }
  const memory::desc plain = Plain(state_->plain_dims[p]);
  if (values.size() * sizeof(float) != plain.get_size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("operand ", p, " holds ", plain.get_size() / 4,
                     " values, not ", values.size()));
  }
  try {
    memory user(plain, Engine(), const_cast<float*>(values.data()));
    dnnl::reorder(user, state_->operand_mems[p])
        .execute(state_->stream, user, state_->operand_mems[p]);
    state_->stream.wait();
  } catch (const dnnl::error& e) {
    return absl::InternalError(absl::StrCat("reorder: ", e.what()));
  }
  return absl::OkStatus();
}

std::string OneDnnVersion() {
  const dnnl_version_t* v = dnnl_version();
  return absl::StrCat(v->major, ".", v->minor, ".", v->patch);
}

std::string OneDnnCpuIsa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx512_mic:
      return "avx512_mic";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other";
  }
}

}  // namespace autotm::agent
