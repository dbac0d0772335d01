#!/usr/bin/env bash
# The long fuzzing run: every libFuzzer target of tests/fuzz for SECONDS
# each (default 1800: 3.5 hours for the seven targets), in the same sanitized
# build as CI's short run (tests/fuzz/run.sh), keeping the corpus it grows
# in BUILD_DIR/corpus between runs. Prints executions per target and in
# total; exits 1 if any target crashed (the input is in
# BUILD_DIR/fuzz-artifacts).
#
#   bash tests/fuzz/long_run.sh            # 30 min per target
#   bash tests/fuzz/long_run.sh 600        # 10 min per target
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/run.sh" --seconds "${1:-1800}"
