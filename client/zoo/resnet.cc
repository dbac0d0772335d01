#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/zoo/architectures.h"

namespace autotm::zoo {
namespace {

// One bottleneck block "<scope>": 1x1 (width) -> 3x3 (width) -> 1x1
// (4 x width), each with batchnorm, plus the shortcut, then ReLU.
Value Bottleneck(NetworkBuilder& b, const std::string& scope, Value x,
                 int width, int stride, bool project) {
  Value y = ConvBnRelu(b, scope + ".a", x, width, 1, stride, 0);
  y = ConvBnRelu(b, scope + ".b", y, width, 3, 1, 1);
  y = b.Conv(scope + ".c.conv", y, 4 * width, 1);
  y = b.BatchNorm(scope + ".c.bn", y);
  Value shortcut = x;
  if (project) {
    shortcut = b.Conv(scope + ".proj.conv", x, 4 * width, 1, stride, 0);
    shortcut = b.BatchNorm(scope + ".proj.bn", shortcut);
  }
  return b.Relu(scope + ".relu", b.Add(scope + ".add", y, shortcut));
}

}  // namespace

void AddResNet(NetworkBuilder& b, int64_t batch,
               const std::vector<int>& blocks) {
  Value x = b.Input("input", {batch, 3, 224, 224});
  const Value labels = b.Input("labels", {batch, kImageNetClasses});
  x = ConvBnRelu(b, "stem", x, 64, 7, 2, 3);
  x = b.MaxPool("stem.pool", x, 3, 2, 1);
  int width = 64;
  for (size_t s = 0; s < blocks.size(); ++s) {
    for (int i = 0; i < blocks[s]; ++i) {
      const int stride = (i == 0 && s > 0) ? 2 : 1;
      x = Bottleneck(b, absl::StrCat("stage", s + 2, ".block", i + 1), x, width,
                     stride, /*project=*/i == 0);
    }
    width *= 2;
  }
  x = b.GlobalAvgPool("pool", x);
  x = b.Linear("fc", x, kImageNetClasses);
  b.SoftmaxCrossEntropy("loss", x, labels);
}

}  // namespace autotm::zoo
