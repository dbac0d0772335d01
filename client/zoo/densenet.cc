#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/zoo/architectures.h"

namespace autotm::zoo {
namespace {

// BN -> ReLU -> conv, the pre-activation unit of DenseNet.
Value BnReluConv(NetworkBuilder& b, const std::string& scope, Value x,
                 int out_channels, Window kernel, Window pad) {
  Value y = b.BatchNorm(scope + ".bn", x);
  y = b.Relu(scope + ".relu", y);
  return b.Conv(scope + ".conv", y, out_channels, kernel, 1, pad);
}

}  // namespace

void AddDenseNet(NetworkBuilder& b, int64_t batch,
                 const DenseNetConfig& config) {
  const int growth = config.growth;
  const std::vector<int>& blocks = config.blocks;
  Value x = b.Input("input", {batch, 3, 224, 224});
  const Value labels = b.Input("labels", {batch, kImageNetClasses});
  x = ConvBnRelu(b, "stem", x, 2 * growth, 7, 2, 3);
  x = b.MaxPool("stem.pool", x, 3, 2, 1);
  for (size_t s = 0; s < blocks.size(); ++s) {
    const std::string block = absl::StrCat("block", s + 1);
    // Every layer reads the concatenation of the block input and all earlier
    // layers' outputs; a framework materialises each concatenation.
    std::vector<Value> features = {x};
    for (int i = 1; i <= blocks[s]; ++i) {
      const std::string layer = absl::StrCat(block, ".layer", i);
      const Value in = features.size() == 1
                           ? features[0]
                           : b.Concat(layer + ".concat", features);
      Value y = BnReluConv(b, layer + ".1x1", in, 4 * growth, 1, 0);
      y = BnReluConv(b, layer + ".3x3", y, growth, 3, 1);
      features.push_back(y);
    }
    x = b.Concat(block + ".concat", features);
    if (s + 1 < blocks.size()) {
      const std::string transition = absl::StrCat("transition", s + 1);
      const std::vector<int64_t>& dims = b.dims(x);  // Empty after an error.
      const int64_t in_channels = dims.size() > 1 ? dims[1] : 1;
      const int channels =
          config.transition_channels > 0
              ? config.transition_channels
              : static_cast<int>(static_cast<double>(in_channels) *
                                 config.compression);
      x = BnReluConv(b, transition, x, channels, 1, 0);
      x = b.AvgPool(transition + ".pool", x, 2, 2);
    }
  }
  x = b.BatchNorm("final.bn", x);
  x = b.Relu("final.relu", x);
  x = b.GlobalAvgPool("pool", x);
  x = b.Linear("fc", x, kImageNetClasses);
  b.SoftmaxCrossEntropy("loss", x, labels);
}

}  // namespace autotm::zoo
