#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/zoo/architectures.h"

namespace autotm::zoo {

Value ConvBnRelu(NetworkBuilder& b, absl::string_view scope, Value x,
                 int out_channels, Window kernel, Window stride, Window pad) {
  Value y = b.Conv(absl::StrCat(scope, ".conv"), x, out_channels, kernel,
                   stride, pad);
  y = b.BatchNorm(absl::StrCat(scope, ".bn"), y);
  return b.Relu(absl::StrCat(scope, ".relu"), y);
}

void AddVgg(NetworkBuilder& b, int64_t batch,
            const std::vector<std::vector<int>>& stages) {
  Value x = b.Input("input", {batch, 3, 224, 224});
  const Value labels = b.Input("labels", {batch, kImageNetClasses});
  for (size_t s = 0; s < stages.size(); ++s) {
    for (size_t i = 0; i < stages[s].size(); ++i) {
      const std::string suffix = absl::StrCat(s + 1, "_", i + 1);
      x = b.Conv(absl::StrCat("conv", suffix), x, stages[s][i], 3, 1, 1,
                 /*bias=*/true);
      x = b.Relu(absl::StrCat("relu", suffix), x);
    }
    x = b.MaxPool(absl::StrCat("pool", s + 1), x, 2, 2);
  }
  x = b.Relu("relu6", b.Linear("fc6", x, 4096));
  x = b.Relu("relu7", b.Linear("fc7", x, 4096));
  x = b.Linear("fc8", x, kImageNetClasses);
  b.SoftmaxCrossEntropy("loss", x, labels);
}

void AddVgg19(NetworkBuilder& b, int64_t batch) {
  AddVgg(b, batch,
         {{64, 64},
          {128, 128},
          {256, 256, 256, 256},
          {512, 512, 512, 512},
          {512, 512, 512, 512}});
}

void AddVgg416(NetworkBuilder& b, int64_t batch) {
  // AutoTM's zoo/vgg.jl: loops of (80, 81, 82, 83, 83) same-width convs; the
  // 64->128, 128->256 and 256->512 convs end stages 1-3 (before the pool).
  std::vector<std::vector<int>> stages(5);
  stages[0].push_back(64);
  stages[0].insert(stages[0].end(), 80, 64);
  stages[0].push_back(128);
  stages[1].insert(stages[1].end(), 81, 128);
  stages[1].push_back(256);
  stages[2].insert(stages[2].end(), 82, 256);
  stages[2].push_back(512);
  stages[3].insert(stages[3].end(), 83, 512);
  stages[4].insert(stages[4].end(), 83, 512);
  AddVgg(b, batch, stages);
}

}  // namespace autotm::zoo
