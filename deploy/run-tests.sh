#!/usr/bin/env bash
# Sets up autotm on a fresh Debian 12 machine, builds everything with tests
# and runs them all (unit tests and the end-to-end CLI test) with ctest,
# then (tests/fuzz/run.sh, in its own build directory) runs each libFuzzer
# target for FUZZ_SECONDS (default 20) and the solver's unit tests under
# AddressSanitizer + UndefinedBehaviorSanitizer.
# Exits non-zero when anything fails. Idempotent; works from any directory.
#
#   bash deploy/run-tests.sh             # as root (or with sudo available)
#   BUILD_DIR=/tmp/b bash deploy/run-tests.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}

bash deploy/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DAUTOTM_BUILD_TESTS=ON >/dev/null
cmake --build "$BUILD_DIR"
(cd "$BUILD_DIR" && ctest --output-on-failure -j2)
FUZZ_BUILD_DIR=${FUZZ_BUILD_DIR:-build-sanitize} \
  bash tests/fuzz/run.sh --seconds "${FUZZ_SECONDS:-20}" --unit-tests
