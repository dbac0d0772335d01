// Real CPU kernels (oneDNN 2.6) for autotm kernel signatures, with every
// operand placed on the tier an IO configuration names.
//
// A PreparedKernel is one signature under one configuration: the oneDNN
// primitive(s) plus a buffer per operand (inputs then outputs, the order of
// v1::KernelSignature and of solver::ConfigMask bits) allocated on the slow
// tier where the configuration says so and on the fast tier otherwise. The
// user scratchpad and any temporaries (pooling workspace, softmax
// intermediates) go on the fast tier, as a framework's would; a max-pooling
// workspace follows the tier of `x`. Every buffer's placement is verified at
// allocation (see tier.h).
//
// Layouts: convolution and inner-product operands use the layout the
// primitive prefers (format_tag::any, as a framework that propagates oneDNN
// layouts holds them); every other op uses the plain row-major layout of the
// signature's dims.
//
// Supported ops (client/zoo/ops.h): conv2d_fwd, conv2d_bwd_data,
// conv2d_bwd_weights, relu_fwd, relu_bwd, maxpool_fwd, maxpool_bwd,
// avgpool_fwd, avgpool_bwd, add, concat, split, matmul_fwd, matmul_bwd_data,
// matmul_bwd_weights, batchnorm_fwd, batchnorm_bwd, softmax_xent_fwd,
// softmax_xent_bwd, sgd_update, plus the aliases conv2d_bwd_filter,
// maxpool2d_fwd and maxpool2d_bwd; f32 only. batchnorm_bwd also gets a
// fast-tier zero `beta` (oneDNN 2.6 reads the shift in backward).
//
// Thread safety: a PreparedKernel is used by one thread at a time (oneDNN
// itself runs each primitive on its OpenMP threads).
#ifndef AUTOTM_PROFILER_AGENT_KERNELS_H_
#define AUTOTM_PROFILER_AGENT_KERNELS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "autotm/v1/graph.pb.h"
#include "profiler-agent/tier.h"

namespace autotm::agent {

// True when this file knows the op; says nothing about the shapes.
bool IsSupportedOp(const std::string& op);
// The supported op names, sorted.
std::vector<std::string> SupportedOps();

class PreparedKernel {
 public:
  // Builds the primitives for `signature` and allocates every operand on
  // `slow_tier` where slow[p] and on `fast_tier` otherwise (p over inputs
  // then outputs). Inputs are filled with deterministic values in [-1, 1]
  // (variances in [0.5, 1.5], labels one-hot). Unimplemented naming the op
  // for an op or dtype it cannot run; InvalidArgument naming the op and the
  // operand for shapes or attributes that do not fit the op or that oneDNN
  // rejects; errors of Tier::Allocate as they come.
  static absl::StatusOr<std::unique_ptr<PreparedKernel>> Create(
      const v1::KernelSignature& signature, const std::vector<bool>& slow,
      Tier& fast_tier, Tier& slow_tier);

  ~PreparedKernel();
  PreparedKernel(const PreparedKernel&) = delete;
  PreparedKernel& operator=(const PreparedKernel&) = delete;

  // Runs the kernel once and waits for it. Internal when oneDNN fails.
  absl::Status Run();

  int num_operands() const;
  // The buffer of operand p (inputs then outputs).
  const TierBuffer& operand_buffer(int p) const;
  // Re-checks every operand's placement against its tier.
  absl::Status VerifyPlacement() const;

  // Operand p as plain row-major f32 values of the signature's dims
  // (converted from the primitive's layout), and the reverse. For tests.
  absl::StatusOr<std::vector<float>> ReadOperand(int p);
  absl::Status WriteOperand(int p, absl::Span<const float> values);

  struct State;

 private:
  explicit PreparedKernel(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The oneDNN version, e.g. "2.6.3", and the CPU ISA it dispatches to.
std::string OneDnnVersion();
std::string OneDnnCpuIsa();

}  // namespace autotm::agent

#endif  // AUTOTM_PROFILER_AGENT_KERNELS_H_
