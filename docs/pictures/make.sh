#!/usr/bin/env bash
# Regenerates the plan pictures of docs/PICTURES.md:
#
#   docs/pictures/make.sh [AUTOTM_BINARY]     (default: build/client/autotm)
#
# from the repository root, after building autotm. Writes, under
# docs/pictures/:
#   example_cnn_50.svg  the bundled example planned by the sync ILP at 50% of
#                       its all-fast footprint (deterministic: serial CBC)
#   resnet200_50.svg    ResNet-200 at the paper's batch 512 (the zoo), priced
#                       by the Optane cost model, planned by the sync ILP at
#                       50% (2,164 kernels: drawn in buckets of kernels)
# Prints what `autotm plan show` says about each plan. The plans, graphs and
# profiles go to a temporary directory. Takes about 10 s on two cores.
# Serial CBC (--threads 0) is deterministic, so the pictures only change
# when the planner or the pictures do.
set -euo pipefail

AUTOTM=${1:-build/client/autotm}
OUT=docs/pictures
DATA=tests/testdata
if [ ! -x "$AUTOTM" ]; then
  echo "make.sh: no autotm binary at $AUTOTM (build it: ninja -C build autotm)" >&2
  exit 1
fi
if [ ! -d "$OUT" ]; then
  echo "make.sh: run from the repository root" >&2
  exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm_pictures.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# 1. The bundled example: sync ILP at 50%.
"$AUTOTM" solve --graph "$DATA/example_cnn.graph.json" \
  --profile "$DATA/example_cnn.profile.json" --budget 50% --threads 0 \
  --out "$WORK/example.plan.json" >/dev/null
"$AUTOTM" plan show "$WORK/example.plan.json" \
  --graph "$DATA/example_cnn.graph.json" \
  --profile "$DATA/example_cnn.profile.json" \
  --svg "$OUT/example_cnn_50.svg" --top 12

# 2. A paper workload from the zoo (docs/ZOO.md): ResNet-200, batch 512,
# sync ILP at 50%.
"$AUTOTM" zoo export --model resnet200 --batch 512 --out "$WORK/r200.graph.json"
"$AUTOTM" profile synth --cost-model optane-2019 --graph "$WORK/r200.graph.json" \
  --out "$WORK/r200.profile.json"
"$AUTOTM" solve --graph "$WORK/r200.graph.json" \
  --profile "$WORK/r200.profile.json" --budget 50% --threads 0 \
  --out "$WORK/r200.plan.json" >/dev/null
"$AUTOTM" plan show "$WORK/r200.plan.json" --graph "$WORK/r200.graph.json" \
  --profile "$WORK/r200.profile.json" --svg "$OUT/resnet200_50.svg" \
  --top 12

for svg in "$OUT"/*.svg; do
  xmllint --noout "$svg"
done
echo "make.sh: wrote $OUT/example_cnn_50.svg and $OUT/resnet200_50.svg"
