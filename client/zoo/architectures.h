// The zoo's network definitions, recorded on a NetworkBuilder. Internal to
// client/zoo: callers use BuildZooGraph() in zoo.h.
//
// Each function records the input "input" (NCHW, fp32), the one-hot labels
// "labels" [N, 1000], the forward pass and a softmax cross-entropy loss
// "loss". Dropout is left out (it is not part of the paper's graphs).
#ifndef AUTOTM_CLIENT_ZOO_ARCHITECTURES_H_
#define AUTOTM_CLIENT_ZOO_ARCHITECTURES_H_

#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "client/zoo/network_builder.h"

namespace autotm::zoo {

inline constexpr int kImageNetClasses = 1000;

// "<scope>.conv" (no bias) -> "<scope>.bn" -> "<scope>.relu".
Value ConvBnRelu(NetworkBuilder& b, absl::string_view scope, Value x,
                 int out_channels, Window kernel, Window stride = 1,
                 Window pad = 0);

// VGG with 3x3 convolutions (bias, ReLU), 2x2/2 max pools after each stage
// and three fully connected layers 4096-4096-1000. `stages` lists each
// stage's output channels per convolution, in order.
void AddVgg(NetworkBuilder& b, int64_t batch,
            const std::vector<std::vector<int>>& stages);
// Simonyan & Zisserman 2015, configuration E: 16 conv + 3 FC, 143.7M params.
void AddVgg19(NetworkBuilder& b, int64_t batch);
// AutoTM's VGG416 (zoo/vgg.jl): 413 conv (409 in loops of 80/81/82/83/83
// plus the 4 channel-changing ones) + 3 FC.
void AddVgg416(NetworkBuilder& b, int64_t batch);

// ResNet v1 with bottleneck blocks (He et al. 2016): stem 7x7/2 conv + 3x3/2
// max pool, four stages of `blocks[i]` bottlenecks (1x1, 3x3, 1x1 x4; the
// first 1x1 of a stage's first block carries the stride, as in the original
// Caffe model), projection shortcuts on each stage's first block, global
// average pool, FC 1000. ResNet-50 = {3, 4, 6, 3}, ResNet-200 = {3, 24, 36, 3}.
void AddResNet(NetworkBuilder& b, int64_t batch,
               const std::vector<int>& blocks);

// Inception v4 (Szegedy et al. 2016) on 299x299 input: stem, 4 x Inception-A,
// Reduction-A (k, l, m, n = 192, 224, 256, 384), 7 x Inception-B,
// Reduction-B, 3 x Inception-C, 8x8 average pool, FC 1000. Every convolution
// is conv + batchnorm + ReLU as in the TF-Slim reference implementation;
// with `batch_norm` false it is conv (with bias) + ReLU, as in AutoTM's
// zoo/inception.jl.
void AddInceptionV4(NetworkBuilder& b, int64_t batch, bool batch_norm = true);

// DenseNet-BC (Huang et al. 2017): stem 7x7/2 conv to 2k channels + 3x3/2 max
// pool; dense blocks whose layers are BN-ReLU-1x1 conv (4k) - BN-ReLU-3x3
// conv (k) on the concatenation of the block input and all earlier layers'
// outputs; transitions BN-ReLU-1x1 conv-2x2/2 average pool; final BN-ReLU,
// global average pool, FC 1000.
struct DenseNetConfig {
  int growth = 32;  // k
  std::vector<int> blocks = {6, 12, 64, 48};
  // A transition keeps floor(compression x channels) channels...
  double compression = 0.5;
  // ...unless this is > 0: then it outputs this many. AutoTM's
  // zoo/densenet.jl uses 2k (64) at every transition.
  int transition_channels = 0;
};
// DenseNet-264 is the default config.
void AddDenseNet(NetworkBuilder& b, int64_t batch,
                 const DenseNetConfig& config = {});

}  // namespace autotm::zoo

#endif  // AUTOTM_CLIENT_ZOO_ARCHITECTURES_H_
