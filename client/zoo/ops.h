// The kernel vocabulary shared by the graph zoo (client/zoo) and the cost
// model (client/costmodel): KernelSignature.op values and the op families
// the cost model fits slowdown factors for.
#ifndef AUTOTM_CLIENT_ZOO_OPS_H_
#define AUTOTM_CLIENT_ZOO_OPS_H_

namespace autotm::zoo::ops {

// Signature op names. Attributes used (all strings): "kernel" ("3x3"),
// "stride" ("2"), "pad" ("1"), "groups", "eps", "alpha" as applicable.
// Operand order is documented per op.
inline constexpr char kConvFwd[] = "conv2d_fwd";           // (x, w[, b]) -> (y)
inline constexpr char kConvBwdData[] = "conv2d_bwd_data";  // (dy, w) -> (dx)
inline constexpr char kConvBwdWeights[] =
    "conv2d_bwd_weights";  // (x, dy) -> (dw[, db])
inline constexpr char kBatchNormFwd[] =
    "batchnorm_fwd";  // (x, gamma, beta) -> (y, mean, var)
inline constexpr char kBatchNormBwd[] =
    "batchnorm_bwd";  // (dy, x, gamma, mean, var) -> (dx, dgamma, dbeta)
inline constexpr char kReluFwd[] = "relu_fwd";        // (x) -> (y)
inline constexpr char kReluBwd[] = "relu_bwd";        // (dy, y) -> (dx)
inline constexpr char kMaxPoolFwd[] = "maxpool_fwd";  // (x) -> (y)
inline constexpr char kMaxPoolBwd[] = "maxpool_bwd";  // (dy, x) -> (dx)
inline constexpr char kAvgPoolFwd[] = "avgpool_fwd";  // (x) -> (y)
inline constexpr char kAvgPoolBwd[] = "avgpool_bwd";  // (dy) -> (dx)
inline constexpr char kAdd[] = "add";                 // (a, b, ...) -> (sum)
inline constexpr char kConcat[] = "concat";           // (x0, x1, ...) -> (y)
inline constexpr char kSplit[] = "split";             // (dy) -> (dx0, dx1, ...)
inline constexpr char kMatmulFwd[] = "matmul_fwd";    // (x, w, b) -> (y)
inline constexpr char kMatmulBwdData[] = "matmul_bwd_data";  // (dy, w) -> (dx)
inline constexpr char kMatmulBwdWeights[] =
    "matmul_bwd_weights";  // (x, dy) -> (dw, db)
inline constexpr char kSoftmaxXentFwd[] =
    "softmax_xent_fwd";  // (logits, labels) -> (loss, probs)
inline constexpr char kSoftmaxXentBwd[] =
    "softmax_xent_bwd";  // (probs, labels) -> (dlogits)
inline constexpr char kSgdUpdate[] = "sgd_update";  // (w, dw) -> (w.next)

}  // namespace autotm::zoo::ops

#endif  // AUTOTM_CLIENT_ZOO_OPS_H_
