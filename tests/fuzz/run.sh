#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (and, with --unit-tests, the
# solver's unit tests and the JSON file tests) with clang, AddressSanitizer
# and UndefinedBehaviorSanitizer in a build directory of their own, runs each
# target for a bounded time on its committed seed corpus and the unit tests
# under the same sanitizers, as many at once as there are cores (FUZZ_JOBS).
# Prints executions per target and in total; exits 1 when a target crashed
# (the crashing input is kept in BUILD_DIR/fuzz-artifacts and named in the
# output) or a unit test failed.
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
  solver_best_fit_layout_test solver_heuristic_test
  solver_planner_guarantees_test solver_graph_model_test solver_sweep_test
  solver_window_search_test client_plan_picture_test solver_repetition_test
  solver_allocator_test solver_cbc_solver_test solver_cbc_root_bound_test
  solver_planner_fallback_test
  solver_two_level_memory_test solver_signature_test solver_work_list_test
  solver_profile_model_test solver_schedule_test solver_verifier_test
  solver_baselines_test solver_fragmentation_test solver_skyline_layout_test
  client_proto_json_test client_svg_chart_test
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
# Tests that check one property on many random instances check fewer of
# them here (solver/testing/test_graphs.h, VariantCount): under the
# sanitizers each costs 5-20 times more and repeats the code paths of the
# first ones; the Release ctest checks them all.
export AUTOTM_TEST_REDUCED=${AUTOTM_TEST_REDUCED:-1}

# The slowest sanitized tests, slowest first, as BINARY:Suite.Test: each
# runs as a job of its own (--gtest_filter) and the rest of its binary as
# another, so that the two cores share them; gtest's own sharding
# (GTEST_TOTAL_SHARDS) deals tests round-robin and left one shard of
# solver_formulation_test with 726 of its 1,356 s. CPU seconds of each
# (user+sys, AUTOTM_TEST_REDUCED=1, 2026-12-07): about 200 (50 for a
# quarter of its trials), 98, 143, 129, 78 and 60.
SLOW_UNIT_TESTS=(
  solver_planner_test:PlanGraphTest.FragmentedAsyncPlansAreRepairedByWindowSearch
  solver_planner_test:PlanGraphTest.SameInputsAndOptionsGiveTheSamePlan
  solver_formulation_test:FormulationBruteForceTest.RecomputeOptimumEqualsEnumeratedOptimum
  solver_formulation_test:FormulationBruteForceTest.ReRunChainsMatchEnumeration
  solver_formulation_test:FormulationBruteForceTest.AsyncAndStaticMultiOutputReRunsMatchEnumeration
  solver_formulation_test:FormulationBruteForceTest.StaticAndAsyncRecomputeEqualEnumeratedOptimum
)

failed=0
# A pool of as many jobs at once as there are cores (FUZZ_JOBS overrides):
# the fuzzers and the unit tests share it, so that no core idles between
# the two. pool_start waits for a free slot; a job that fails sets failed.
jobs_max=${FUZZ_JOBS:-$(nproc)}
running=0
pool_start() {
  if [ "$running" -ge "$jobs_max" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
  "$@" &
  running=$((running + 1))
}
pool_drain() {
  while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
  done
}

# Runs one fuzz target for SECONDS_PER_TARGET on its corpus and seeds;
# prints its verdict in one write and returns non-zero when it crashed.
run_fuzzer() {
  local target=$1 corpus seeds log rc runs dict=()
  corpus=$BUILD_DIR/corpus/$target
  seeds=$ROOT/tests/fuzz/corpus/$target
  mkdir -p "$corpus"
  # The JSON readers get the protos' field and enum names as a dictionary.
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
  if [ "$rc" -ne 0 ]; then
    echo "FAIL  $target: exit $rc after $runs executions; see $log"$'\n'"$(grep -E "^==[0-9]+==ERROR|runtime error|fuzz check failed|Test unit written" "$log" | head -n 5 | sed 's/^/        | /' || true)"
    return 1
  fi
  echo "PASS  $target: $runs executions in ${SECONDS_PER_TARGET} s, $(ls "$corpus" | wc -l) new corpus entries, 0 crashes"
}

# Runs sanitized unit test binary T, only the tests FILTER selects
# (--gtest_filter; all when empty), as job NAME; prints its verdict in one
# write and returns non-zero when it failed.
run_unit_test() {
  local t=$1 filter=$2 name=$3 exe t0 verdict log
  exe=$(find "$BUILD_DIR" -type f -name "$t" -perm -u+x | head -n 1)
  log="$BUILD_DIR/$name.log"
  t0=$(date +%s)
  if (cd "$(dirname "$exe")" && AUTOTM_SOURCE_DIR=$ROOT \
      "$exe" ${filter:+--gtest_filter="$filter"} >"$log" 2>&1); then
    echo "PASS  $name under ASan+UBSan ($(($(date +%s) - t0)) s)"
    return 0
  fi
  verdict="FAIL  $name under ASan+UBSan; see $log"$'\n'
  verdict+=$(grep -E "^==[0-9]+==ERROR|runtime error|\[  FAILED  \]" "$log" | head -n 5 | sed 's/^/        | /' || true)
  echo "$verdict"
  return 1
}

# Each test named in SLOW_UNIT_TESTS must exist, or a rename would quietly
# drop it from its own job and from the rest of its binary alike.
if [ "$UNIT_TESTS" = 1 ]; then
  for entry in "${SLOW_UNIT_TESTS[@]}"; do
    exe=$(find "$BUILD_DIR" -type f -name "${entry%%:*}" -perm -u+x | head -n 1)
    if ! "$exe" --gtest_list_tests --gtest_filter="${entry#*:}" 2>/dev/null |
        grep -q "^  ${entry#*.}$"; then
      echo "fuzz/run.sh: $entry (SLOW_UNIT_TESTS) is not a test of that binary" >&2
      exit 2
    fi
  done
fi

mkdir -p "$BUILD_DIR/fuzz-artifacts"
for target in "${TARGETS[@]}"; do
  pool_start run_fuzzer "$target"
done
if [ "$UNIT_TESTS" = 1 ]; then
  # The slow tests first, each alone; then every binary in list order
  # (slowest first), less the tests that ran alone.
  declare -A excluded=()
  for entry in "${SLOW_UNIT_TESTS[@]}"; do
    pool_start run_unit_test "${entry%%:*}" "${entry#*:}" "${entry#*:}"
    excluded[${entry%%:*}]+=":${entry#*:}"
  done
  for t in "${UNIT_TEST_TARGETS[@]}"; do
    filter=
    [ -n "${excluded[$t]:-}" ] && filter="-${excluded[$t]#:}"
    pool_start run_unit_test "$t" "$filter" "$t"
  done
fi
pool_drain

total=0
for target in "${TARGETS[@]}"; do
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' \
    "$BUILD_DIR/fuzz-artifacts/$target.log" | tail -n 1)
  total=$((total + ${runs:-0}))
done
echo "fuzz/run.sh: $total executions in total"
echo "fuzz/run.sh: done in $(($(date +%s) - start)) s"
exit "$failed"
