#!/usr/bin/env bash
# Sets up autotm on a fresh Debian 12 machine and runs the main job: plans
# the bundled example CNN at a 50% fast-memory budget and prints the plan
# summary. Idempotent; works from any directory.
#
#   bash deploy/run-example.sh           # as root (or with sudo available)
#   BUILD_DIR=/tmp/b bash deploy/run-example.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}

bash deploy/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target autotm

echo
echo "+ autotm solve --graph tests/testdata/example_cnn.graph.json \\"
echo "      --profile tests/testdata/example_cnn.profile.json --budget 50% \\"
echo "      --out $BUILD_DIR/example_cnn.plan.json"
"$BUILD_DIR/client/autotm" solve \
  --graph tests/testdata/example_cnn.graph.json \
  --profile tests/testdata/example_cnn.profile.json \
  --budget 50% \
  --out "$BUILD_DIR/example_cnn.plan.json"
