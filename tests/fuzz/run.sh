#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (and, with --unit-tests, the
# solver's unit tests and the JSON file tests) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer in a build directory of their own, runs each
# target for a bounded time on its committed seed corpus, then runs the unit
# tests under the same sanitizers. Prints executions per target and in
# total; exits 1 when a target crashed (the crashing input is kept in
# BUILD_DIR/fuzz-artifacts and named in the output) or a unit test failed.
#
#   bash tests/fuzz/run.sh                      # 20 s per target, as in CI
#   bash tests/fuzz/run.sh --seconds 600        # a longer run
#   bash tests/fuzz/run.sh --unit-tests         # + sanitized unit tests
#   FUZZ_BUILD_DIR=/tmp/f bash tests/fuzz/run.sh --targets fuzz_verifier
#
# New inputs that add coverage go to BUILD_DIR/corpus/TARGET, not into the
# committed seeds (tests/fuzz/corpus/TARGET); copy the interesting ones there
# by hand. Needs clang-14 and libclang-rt-14-dev (deploy/install-deps.sh).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
BUILD_DIR=$(realpath -m "${FUZZ_BUILD_DIR:-build-sanitize}")
SECONDS_PER_TARGET=20
UNIT_TESTS=0
TARGETS=(fuzz_graph_json fuzz_graph_proto fuzz_profile_json fuzz_profile_proto
  fuzz_plan_json fuzz_verifier fuzz_request_limits)
# The unit tests run under the sanitizers: every test of solver/, the
# JSON reader/writer's, the plan pictures' (they draw plans a dashboard may
# be sent) with the SVG primitives under them, and the metrics registry's
# and HTTP endpoint's (threads and sockets).
# Slowest first (they run side by side, below).
UNIT_TEST_TARGETS=(solver_formulation_test solver_planner_test
  solver_signature_test solver_work_list_test
  solver_graph_model_test solver_profile_model_test solver_schedule_test
  solver_verifier_test solver_baselines_test
  solver_allocator_test solver_cbc_solver_test
  solver_planner_guarantees_test solver_planner_fallback_test
  solver_sweep_test solver_window_search_test solver_heuristic_test
  solver_two_level_memory_test solver_repetition_test
  solver_fragmentation_test solver_best_fit_layout_test
  client_proto_json_test client_plan_picture_test client_svg_chart_test
  server_metrics_test server_http_endpoint_test)

while [ $# -gt 0 ]; do
  case $1 in
    --seconds) SECONDS_PER_TARGET=$2; shift 2 ;;
    --unit-tests) UNIT_TESTS=1; shift ;;
    --targets) shift; TARGETS=(); while [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; do TARGETS+=("$1"); shift; done ;;
    *) echo "usage: $0 [--seconds N] [--unit-tests] [--targets T...]" >&2; exit 2 ;;
  esac
done

# Every test of solver/ must be in the list above: a new one is not
# silently left out of the sanitized run.
for t in $(sed -n 's/^autotm_add_test(\(solver_[a-z_]*\) .*/\1/p' solver/CMakeLists.txt); do
  case " ${UNIT_TEST_TARGETS[*]} " in
    *" $t "*) ;;
    *) echo "fuzz/run.sh: $t (solver/CMakeLists.txt) is missing from UNIT_TEST_TARGETS" >&2; exit 2 ;;
  esac
done

SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
start=$(date +%s)
CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUTOTM_BUILD_TESTS=ON -DAUTOTM_FUZZ=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -fno-omit-frame-pointer" \
  -DCMAKE_CXX_FLAGS="$SANITIZE -fsanitize=fuzzer-no-link" \
  -DCMAKE_EXE_LINKER_FLAGS="$SANITIZE" >/dev/null
build_targets=("${TARGETS[@]}")
[ "$UNIT_TESTS" = 1 ] && build_targets+=("${UNIT_TEST_TARGETS[@]}")
cmake --build "$BUILD_DIR" --target "${build_targets[@]}" -- -j"${FUZZ_BUILD_JOBS:-2}"
echo "fuzz/run.sh: built in $(($(date +%s) - start)) s"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Leaks inside COIN-OR's libraries are theirs (tests/fuzz/lsan.supp says which).
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/tests/fuzz/lsan.supp:print_suppressions=0}

failed=0
total=0
mkdir -p "$BUILD_DIR/fuzz-artifacts"
for target in "${TARGETS[@]}"; do
  corpus=$BUILD_DIR/corpus/$target
  seeds=$ROOT/tests/fuzz/corpus/$target
  mkdir -p "$corpus"
  # The JSON readers get the protos' field and enum names as a dictionary.
  dict=()
  case $target in
    *_json | fuzz_verifier) dict=(-dict="$ROOT/tests/fuzz/dict/json.dict") ;;
  esac
  log=$BUILD_DIR/fuzz-artifacts/$target.log
  set +e
  "$BUILD_DIR/tests/fuzz/$target" -max_total_time="$SECONDS_PER_TARGET" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    "${dict[@]}" -artifact_prefix="$BUILD_DIR/fuzz-artifacts/$target-" \
    "$corpus" "$seeds" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
  runs=${runs:-0}
  total=$((total + runs))
  if [ "$rc" -ne 0 ]; then
    failed=1
    echo "FAIL  $target: exit $rc after $runs executions; see $log"
    grep -E "^==[0-9]+==ERROR|runtime error|fuzz check failed|Test unit written" "$log" | head -n 5 | sed 's/^/        | /' || true
  else
    echo "PASS  $target: $runs executions in ${SECONDS_PER_TARGET} s, $(ls "$corpus" | wc -l) new corpus entries, 0 crashes"
  fi
done
echo "fuzz/run.sh: $total executions in total"

# The slowest binaries run as several gtest shards (GTEST_TOTAL_SHARDS), so
# that the cores share them: solver_formulation_test alone took 1,356 s
# under the sanitizers, the critical path of the whole CI run.
declare -A UNIT_TEST_SHARDS=([solver_formulation_test]=4 [solver_planner_test]=2)

# Runs shard SHARD of SHARDS of one sanitized unit test binary; prints its
# verdict in one write (the tests run side by side) and returns non-zero
# when it failed.
run_unit_test() {
  local t=$1 shard=$2 shards=$3 exe t0 verdict name log
  exe=$(find "$BUILD_DIR" -type f -name "$t" -perm -u+x | head -n 1)
  name=$t
  [ "$shards" -gt 1 ] && name="$t (shard $((shard + 1))/$shards)"
  log="$BUILD_DIR/$t.$shard.log"
  t0=$(date +%s)
  if (cd "$(dirname "$exe")" && GTEST_TOTAL_SHARDS=$shards GTEST_SHARD_INDEX=$shard \
      AUTOTM_SOURCE_DIR=$ROOT "$exe" >"$log" 2>&1); then
    echo "PASS  $name under ASan+UBSan ($(($(date +%s) - t0)) s)"
    return 0
  fi
  verdict="FAIL  $name under ASan+UBSan; see $log"$'\n'
  verdict+=$(grep -E "^==[0-9]+==ERROR|runtime error|\[  FAILED  \]" "$log" | head -n 5 | sed 's/^/        | /' || true)
  echo "$verdict"
  return 1
}

if [ "$UNIT_TESTS" = 1 ]; then
  # As many binaries at once as there are cores (FUZZ_UNIT_JOBS overrides):
  # run one after another they were the longest part of CI. The list
  # starts with the slowest, so the rest fill the other cores beside it.
  jobs_max=${FUZZ_UNIT_JOBS:-$(nproc)}
  running=0
  for t in "${UNIT_TEST_TARGETS[@]}"; do
    shards=${UNIT_TEST_SHARDS[$t]:-1}
    for ((shard = 0; shard < shards; shard++)); do
      if [ "$running" -ge "$jobs_max" ]; then
        wait -n || failed=1
        running=$((running - 1))
      fi
      run_unit_test "$t" "$shard" "$shards" &
      running=$((running + 1))
    done
  done
  while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
  done
fi
echo "fuzz/run.sh: done in $(($(date +%s) - start)) s"
exit "$failed"
