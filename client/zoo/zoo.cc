#include "client/zoo/zoo.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/zoo/architectures.h"
#include "client/zoo/network_builder.h"

namespace autotm::zoo {

const std::vector<ZooModelInfo>& ZooModels() {
  // Batches and footprints: the paper's experiment matrix, as recorded in
  // AutoTM's experiments/{conventional,large}.jl.
  static const std::vector<ZooModelInfo>& kModels =
      *new std::vector<ZooModelInfo>{
          {"vgg19",
           "VGG19 (Simonyan & Zisserman 2015, config E): 16 conv + 3 FC, "
           "224x224 input, 143.7M params",
           2048, 0, 143, 0},
          {"vgg416",
           "VGG416 (AutoTM zoo/vgg.jl): 413 3x3 conv + 3 FC, 224x224 input",
           320, 320, 0, 658},
          {"resnet50",
           "ResNet-50 (He et al. 2016, bottleneck v1, blocks 3/4/6/3), "
           "224x224 input, 25.6M params",
           16, 0, 0, 0},
          {"resnet200",
           "ResNet-200 (bottleneck v1, blocks 3/24/36/3), 224x224 input, "
           "64.7M params",
           512, 2560, 132, 651},
          {"inception_v4",
           "Inception v4 (Szegedy et al. 2016, conv+BN+ReLU units), 299x299 "
           "input, 42.7M params",
           1024, 6144, 111, 659},
          {"densenet264",
           "DenseNet-264-BC (Huang et al. 2017, k=32, blocks 6/12/64/48, "
           "compression 0.5), 224x224 input, 33.3M params",
           512, 3072, 115, 688},
      };
  return kModels;
}

absl::StatusOr<v1::Graph> BuildZooGraph(absl::string_view model, int batch) {
  if (batch < 1 || batch > kMaxZooBatch) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch ", batch, " is out of range [1, ", kMaxZooBatch, "]"));
  }
  NetworkBuilder b(absl::StrCat(model, "-bs", batch));
  if (model == "vgg19") {
    AddVgg19(b, batch);
  } else if (model == "vgg416") {
    AddVgg416(b, batch);
  } else if (model == "resnet50") {
    AddResNet(b, batch, {3, 4, 6, 3});
  } else if (model == "resnet200") {
    AddResNet(b, batch, {3, 24, 36, 3});
  } else if (model == "inception_v4") {
    AddInceptionV4(b, batch);
  } else if (model == "densenet264") {
    AddDenseNet(
        b, batch,
        DenseNetConfig{
            .growth = 32, .blocks = {6, 12, 64, 48}, .compression = 0.5});
  } else {
    std::vector<std::string> names;
    for (const ZooModelInfo& info : ZooModels()) names.push_back(info.name);
    return absl::InvalidArgumentError(
        absl::StrCat("unknown zoo model '", model,
                     "'; known models: ", absl::StrJoin(names, ", ")));
  }
  return b.Finish();
}

}  // namespace autotm::zoo
