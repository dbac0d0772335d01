#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/zoo/architectures.h"

namespace autotm::zoo {
namespace {

// Records Inception v4's units on a builder; `batch_norm_` picks conv + BN +
// ReLU (the reference implementation) or conv with bias + ReLU (AutoTM).
class InceptionV4 {
 public:
  InceptionV4(NetworkBuilder& b, bool batch_norm)
      : b_(b), batch_norm_(batch_norm) {}

  Value Unit(const std::string& scope, Value x, int out_channels, Window kernel,
             Window stride = 1, Window pad = 0) {
    if (batch_norm_) {
      return ConvBnRelu(b_, scope, x, out_channels, kernel, stride, pad);
    }
    const Value y = b_.Conv(scope + ".conv", x, out_channels, kernel, stride,
                            pad, /*bias=*/true);
    return b_.Relu(scope + ".relu", y);
  }

  Value Stem(Value x) {
    x = Unit("stem.conv1", x, 32, 3, 2);     // 149x149x32
    x = Unit("stem.conv2", x, 32, 3);        // 147x147x32
    x = Unit("stem.conv3", x, 64, 3, 1, 1);  // 147x147x64
    x = b_.Concat("stem.mixed1.concat",      // 73x73x160
                  {b_.MaxPool("stem.mixed1.pool", x, 3, 2),
                   Unit("stem.mixed1.conv", x, 96, 3, 2)});
    Value left = Unit("stem.mixed2.b0.conv1", x, 64, 1);
    left = Unit("stem.mixed2.b0.conv2", left, 96, 3);
    Value right = Unit("stem.mixed2.b1.conv1", x, 64, 1);
    right = Unit("stem.mixed2.b1.conv2", right, 64, {7, 1}, 1, {3, 0});
    right = Unit("stem.mixed2.b1.conv3", right, 64, {1, 7}, 1, {0, 3});
    right = Unit("stem.mixed2.b1.conv4", right, 96, 3);
    x = b_.Concat("stem.mixed2.concat", {left, right});  // 71x71x192
    return b_.Concat("stem.mixed3.concat",               // 35x35x384
                     {Unit("stem.mixed3.conv", x, 192, 3, 2),
                      b_.MaxPool("stem.mixed3.pool", x, 3, 2)});
  }

  Value BlockA(const std::string& s, Value x) {
    Value b0 = b_.AvgPool(s + ".b0.pool", x, 3, 1, 1);
    b0 = Unit(s + ".b0.conv", b0, 96, 1);
    const Value b1 = Unit(s + ".b1.conv", x, 96, 1);
    Value b2 = Unit(s + ".b2.conv1", x, 64, 1);
    b2 = Unit(s + ".b2.conv2", b2, 96, 3, 1, 1);
    Value b3 = Unit(s + ".b3.conv1", x, 64, 1);
    b3 = Unit(s + ".b3.conv2", b3, 96, 3, 1, 1);
    b3 = Unit(s + ".b3.conv3", b3, 96, 3, 1, 1);
    return b_.Concat(s + ".concat", {b0, b1, b2, b3});  // 35x35x384
  }

  Value ReductionA(const std::string& s, Value x) {
    const Value b0 = b_.MaxPool(s + ".b0.pool", x, 3, 2);
    const Value b1 = Unit(s + ".b1.conv", x, 384, 3, 2);
    Value b2 = Unit(s + ".b2.conv1", x, 192, 1);
    b2 = Unit(s + ".b2.conv2", b2, 224, 3, 1, 1);
    b2 = Unit(s + ".b2.conv3", b2, 256, 3, 2);
    return b_.Concat(s + ".concat", {b0, b1, b2});  // 17x17x1024
  }

  Value BlockB(const std::string& s, Value x) {
    Value b0 = b_.AvgPool(s + ".b0.pool", x, 3, 1, 1);
    b0 = Unit(s + ".b0.conv", b0, 128, 1);
    const Value b1 = Unit(s + ".b1.conv", x, 384, 1);
    Value b2 = Unit(s + ".b2.conv1", x, 192, 1);
    b2 = Unit(s + ".b2.conv2", b2, 224, {1, 7}, 1, {0, 3});
    b2 = Unit(s + ".b2.conv3", b2, 256, {7, 1}, 1, {3, 0});
    Value b3 = Unit(s + ".b3.conv1", x, 192, 1);
    b3 = Unit(s + ".b3.conv2", b3, 192, {1, 7}, 1, {0, 3});
    b3 = Unit(s + ".b3.conv3", b3, 224, {7, 1}, 1, {3, 0});
    b3 = Unit(s + ".b3.conv4", b3, 224, {1, 7}, 1, {0, 3});
    b3 = Unit(s + ".b3.conv5", b3, 256, {7, 1}, 1, {3, 0});
    return b_.Concat(s + ".concat", {b0, b1, b2, b3});  // 17x17x1024
  }

  Value ReductionB(const std::string& s, Value x) {
    const Value b0 = b_.MaxPool(s + ".b0.pool", x, 3, 2);
    Value b1 = Unit(s + ".b1.conv1", x, 192, 1);
    b1 = Unit(s + ".b1.conv2", b1, 192, 3, 2);
    Value b2 = Unit(s + ".b2.conv1", x, 256, 1);
    b2 = Unit(s + ".b2.conv2", b2, 256, {1, 7}, 1, {0, 3});
    b2 = Unit(s + ".b2.conv3", b2, 320, {7, 1}, 1, {3, 0});
    b2 = Unit(s + ".b2.conv4", b2, 320, 3, 2);
    return b_.Concat(s + ".concat", {b0, b1, b2});  // 8x8x1536
  }

  Value BlockC(const std::string& s, Value x) {
    Value b0 = b_.AvgPool(s + ".b0.pool", x, 3, 1, 1);
    b0 = Unit(s + ".b0.conv", b0, 256, 1);
    const Value b1 = Unit(s + ".b1.conv", x, 256, 1);
    const Value b2 = Unit(s + ".b2.conv", x, 384, 1);
    const Value b2a = Unit(s + ".b2a.conv", b2, 256, {1, 3}, 1, {0, 1});
    const Value b2b = Unit(s + ".b2b.conv", b2, 256, {3, 1}, 1, {1, 0});
    Value b3 = Unit(s + ".b3.conv1", x, 384, 1);
    b3 = Unit(s + ".b3.conv2", b3, 448, {1, 3}, 1, {0, 1});
    b3 = Unit(s + ".b3.conv3", b3, 512, {3, 1}, 1, {1, 0});
    const Value b3a = Unit(s + ".b3a.conv", b3, 256, {1, 3}, 1, {0, 1});
    const Value b3b = Unit(s + ".b3b.conv", b3, 256, {3, 1}, 1, {1, 0});
    return b_.Concat(s + ".concat", {b0, b1, b2a, b2b, b3a, b3b});  // 8x8x1536
  }

 private:
  NetworkBuilder& b_;
  bool batch_norm_;
};

}  // namespace

void AddInceptionV4(NetworkBuilder& b, int64_t batch, bool batch_norm) {
  InceptionV4 net(b, batch_norm);
  Value x = b.Input("input", {batch, 3, 299, 299});
  const Value labels = b.Input("labels", {batch, kImageNetClasses});
  x = net.Stem(x);
  for (int i = 1; i <= 4; ++i)
    x = net.BlockA(absl::StrCat("inception_a", i), x);
  x = net.ReductionA("reduction_a", x);
  for (int i = 1; i <= 7; ++i)
    x = net.BlockB(absl::StrCat("inception_b", i), x);
  x = net.ReductionB("reduction_b", x);
  for (int i = 1; i <= 3; ++i)
    x = net.BlockC(absl::StrCat("inception_c", i), x);
  x = b.GlobalAvgPool("pool", x);
  x = b.Linear("fc", x, kImageNetClasses);
  b.SoftmaxCrossEntropy("loss", x, labels);
}

}  // namespace autotm::zoo
