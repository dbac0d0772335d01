#!/usr/bin/env bash
# Captures the training graphs of the corpus benchmark's real models
# (autotm-corpus-bench --graph-dir DIR): torchvision ResNet, DenseNet,
# Inception, VGG and MobileNet, and the GPT example, two batch sizes each,
# one SGD training step each, with `python -m autotm.torch capture`.
# Needs the build's Python package (cmake --build build).
#
#   bash client/bench/capture_corpus.sh OUT_DIR [BUILD_DIR]
set -euo pipefail
out=${1:?usage: capture_corpus.sh OUT_DIR [BUILD_DIR]}
build=${2:-$(dirname "${BASH_SOURCE[0]}")/../../build}
mkdir -p "$out"
export PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}"
models=(
  torchvision:resnet18:2 torchvision:resnet18:16
  torchvision:resnet50:2 torchvision:resnet50:8
  torchvision:densenet121:2 torchvision:densenet121:8
  torchvision:inception_v3:2 torchvision:inception_v3:8
  torchvision:vgg11:2 torchvision:vgg11:8
  torchvision:mobilenet_v2:2 torchvision:mobilenet_v2:16
  gpt:tiny:2 gpt:tiny:16 gpt:small:2 gpt:small:8
)
for entry in "${models[@]}"; do
  model=${entry%:*}
  batch=${entry##*:}
  name="${model/:/-}-bs${batch}"
  file="$out/$name.json"
  if [[ -s $file ]]; then continue; fi
  echo "capturing $model at batch $batch -> $file" >&2
  /usr/bin/python3 -m autotm.torch capture --model "$model" --batch "$batch" \
    --out "$file"
done
