#!/usr/bin/env bash
# End-to-end tests of the `autotm` command line on the bundled example.
#
#   tests/e2e/cli_test.sh AUTOTM_BINARY TESTDATA_DIR
#
# Runs the real binary: solves at several budgets with every variant, checks
# exit codes, the ordering of predicted times that the formulations imply,
# the verifier on good and corrupted plans, and the messages for bad inputs.
# Prints one line per check and "N passed, M failed"; exits 1 on any failure.
# Registered with ctest in tests/CMakeLists.txt.
set -uo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 AUTOTM_BINARY TESTDATA_DIR" >&2
  exit 2
fi
AUTOTM=$1
DATA=$2
PY=/usr/bin/python3
GRAPH=$DATA/example_cnn.graph.json
PROFILE=$DATA/example_cnn.profile.json

WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm_cli_test.XXXXXX")
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap 'rm -rf "$WORK"' EXIT

# fail NAME WHY [FILE...]: the named files (the command's output) follow.
# run NAME CMD...: runs CMD with stdout in $WORK/NAME.out, stderr in
# $WORK/NAME.err, and its exit code in RC.
# expect NAME WANT_RC CMD...: runs CMD and checks its exit code.
# expect_text NAME FILE TEXT: FILE contains TEXT (fixed string).
# predicted FILE: the plan's predictedTimeUs (fails if FILE is not JSON).
predicted() {
  "$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["predictedTimeUs"])' "$1"
}

# at_least NAME A B: A >= B, allowing 0.1% for the solver's optimality gap.
at_least() {
  local name=$1 a=$2 b=$3
  if "$PY" -c 'import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if a >= b * (1 - 1e-3) else 1)' "$a" "$b"; then
    pass "$name ($a >= $b)"
  else
    fail "$name" "$a < $b"
  fi
}

# --- the basics ---------------------------------------------------------
expect version 0 "$AUTOTM" --version && expect_text version "$WORK/version.out" "autotm "
for cmd in "" solve verify graph "graph stats"; do
  name="help_${cmd// /_}"
  # shellcheck disable=SC2086  # $cmd is deliberately split into words
  expect "$name" 0 "$AUTOTM" $cmd --help && expect_text "$name" "$WORK/$name.out" "Example"
done
expect help_solve_units 0 "$AUTOTM" solve --help &&
  expect_text help_solve_units "$WORK/help_solve_units.out" "GiB"
expect no_command 1 "$AUTOTM"
expect bad_flag 1 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" --budget 50% --frobnicate

expect graph_stats 0 "$AUTOTM" graph stats "$GRAPH" &&
  expect_text graph_stats "$WORK/graph_stats.out" "peak live bytes"
# A buffer the step reads as it is (persistent) stays to the last kernel:
# 4096 + 8192 bytes live at k1 where its last reader was k0.
cat >"$WORK/persistent.graph.json" <<'EOF'
{"name": "persistent", "tensors": [
  {"id": "mask", "sizeBytes": "4096", "role": "TENSOR_ROLE_WEIGHT", "persistent": true},
  {"id": "a", "sizeBytes": "8192", "role": "TENSOR_ROLE_ACTIVATION"},
  {"id": "b", "sizeBytes": "8192", "role": "TENSOR_ROLE_ACTIVATION"}],
 "kernels": [
  {"id": "k0", "inputs": ["mask"], "outputs": ["a"], "signature": {"op": "f",
   "inputs": [{"dims": ["1024"], "dtype": "DATA_TYPE_F32"}],
   "outputs": [{"dims": ["2048"], "dtype": "DATA_TYPE_F32"}]}},
  {"id": "k1", "inputs": ["a"], "outputs": ["b"], "signature": {"op": "g",
   "inputs": [{"dims": ["2048"], "dtype": "DATA_TYPE_F32"}],
   "outputs": [{"dims": ["2048"], "dtype": "DATA_TYPE_F32"}]}}]}
EOF
expect graph_stats_persistent 0 "$AUTOTM" graph stats "$WORK/persistent.graph.json" &&
  expect_text graph_stats_persistent "$WORK/graph_stats_persistent.out" "1 tensor, 4.00 KiB" &&
  expect_text graph_stats_persistent "$WORK/graph_stats_persistent.out" "20.00 KiB at kernel 1"

# --- solve every variant at 100%, 50% and 25% of the peak live bytes -----
declare -A TIME
for budget in 100 50 25; do
  for variant in sync static first-touch; do
    name="solve_${variant}_${budget}"
    if expect "$name" 0 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" \
        --budget "$budget%" --variant "$variant" --gap 0.0001 --json \
        --out "$WORK/$name.plan.json"; then
      if t=$(predicted "$WORK/$name.out" 2>"$WORK/$name.py.err"); then
        TIME[$variant,$budget]=$t
        pass "$name prints only plan JSON on stdout"
      else
        fail "$name" "stdout is not plan JSON" "$WORK/$name.py.err" "$WORK/$name.out"
      fi
      if "$PY" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
          "$WORK/$name.out" "$WORK/$name.plan.json"; then
        pass "$name --out file equals the --json output"
      else
        fail "$name" "--out file differs from the --json output"
      fi
    fi
  done
done
# All-fast at 110% is the reference; its time does not depend on the
# budget. At exactly 100% nothing can move, so only the pool layout decides:
# best fit's orders leave it over the pool, the skyline layout
# (solver/skyline_layout.h) fits it, and it must verify at the same time.
# (The fragmentation diagnostic itself is checked in solver/baselines_test.)
expect solve_all-fast_110 0 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" \
  --budget 110% --variant all-fast --json &&
  TIME[all-fast]=$(predicted "$WORK/solve_all-fast_110.out")
expect solve_all-fast_100 0 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" \
  --budget 100% --variant all-fast --json &&
  if [ "$(predicted "$WORK/solve_all-fast_100.out")" != "${TIME[all-fast]:-}" ]; then
    fail solve_all-fast_100 "predicted $(predicted "$WORK/solve_all-fast_100.out") us, want the 110% plan's ${TIME[all-fast]:-}"
  fi
expect solve_summary 0 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" --budget 50% &&
  expect_text solve_summary "$WORK/solve_summary.out" "verified" &&
  expect_text solve_summary "$WORK/solve_summary.out" "largest moves"

# Static plans are sync plans without moves, and first-touch is one static
# plan, so at one budget: first-touch >= static >= sync >= all-fast.
for budget in 100 50 25; do
  s=${TIME[static,$budget]:-} y=${TIME[sync,$budget]:-} f=${TIME[first-touch,$budget]:-}
  a=${TIME[all-fast]:-}
  if [ -z "$s" ] || [ -z "$y" ] || [ -z "$f" ] || [ -z "$a" ]; then
    fail "ordering_$budget" "a solve above failed; nothing to compare"
    continue
  fi
  at_least "static >= sync at $budget%" "$s" "$y"
  at_least "sync >= all-fast at $budget%" "$y" "$a"
  at_least "first-touch >= static at $budget%" "$f" "$s"
done
if [ -n "${TIME[sync,25]:-}" ] && [ -n "${TIME[sync,50]:-}" ]; then
  at_least "sync at 25% >= sync at 50%" "${TIME[sync,25]}" "${TIME[sync,50]}"
fi

# --- zoo and synthetic profiles ---------------------------------------------
expect zoo_list 0 "$AUTOTM" zoo list &&
  expect_text zoo_list "$WORK/zoo_list.out" "densenet264"
expect zoo_unknown 1 "$AUTOTM" zoo export --model alexnet --out "$WORK/x.json" &&
  expect_text zoo_unknown "$WORK/zoo_unknown.err" "resnet50"
if expect zoo_export 0 "$AUTOTM" zoo export --model resnet50 --batch 2 \
    --out "$WORK/resnet50.graph.json" &&
  expect profile_synth 0 "$AUTOTM" profile synth --cost-model optane-2019 \
    --graph "$WORK/resnet50.graph.json" --out "$WORK/resnet50.profile.json"; then
  expect zoo_solve 0 "$AUTOTM" solve --graph "$WORK/resnet50.graph.json" \
    --profile "$WORK/resnet50.profile.json" --budget 30% --variant sync \
    --time-limit 60s &&
    expect_text zoo_solve "$WORK/zoo_solve.out" "verified"
fi
expect solve_async_50 0 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" \
  --budget 50% --variant async --time-limit 60s &&
  expect_text solve_async_50 "$WORK/solve_async_50.out" "verified"
expect synth_bad_model 1 "$AUTOTM" profile synth --cost-model nope \
  --graph "$GRAPH" --out "$WORK/p.json" &&
  expect_text synth_bad_model "$WORK/synth_bad_model.err" "optane-2019"

# --- verify ----------------------------------------------------------------
PLAN=$WORK/solve_sync_50.plan.json
if [ -f "$PLAN" ]; then
  expect verify_plan 0 "$AUTOTM" verify --graph "$GRAPH" --profile "$PROFILE" --plan "$PLAN" &&
    expect_text verify_plan "$WORK/verify_plan.out" "verified"
  expect verify_static_plan 0 "$AUTOTM" verify --graph "$GRAPH" --profile "$PROFILE" \
    --plan "$WORK/solve_static_25.plan.json"
  expect verify_smaller_budget 3 "$AUTOTM" verify --graph "$GRAPH" --profile "$PROFILE" \
    --plan "$PLAN" --budget 10%
  # Corrupt the plan: flip the creation tier of one tensor the planner was
  # free to place (x is pinned to fast memory by the graph).
  if "$PY" - "$PLAN" "$WORK/corrupt.plan.json" >"$WORK/corrupt.log" 2>&1 <<'EOF'
import json, sys
plan = json.load(open(sys.argv[1]))
tensor = next(t for t in plan["tensors"] if t["tensorId"] != "x")
flip = {"TIER_FAST": "TIER_SLOW", "TIER_SLOW": "TIER_FAST"}
tensor["creationTier"] = flip[tensor.get("creationTier", "TIER_SLOW")]
print("flipped", tensor["tensorId"], "to", tensor["creationTier"])
json.dump(plan, open(sys.argv[2], "w"), indent=1)
EOF
  then
    expect verify_corrupt_plan 3 "$AUTOTM" verify --graph "$GRAPH" --profile "$PROFILE" \
      --plan "$WORK/corrupt.plan.json" &&
      expect_text verify_corrupt_plan "$WORK/verify_corrupt_plan.err" "corrupt.plan.json"
  else
    fail corrupt_plan "could not edit the plan" "$WORK/corrupt.log"
  fi
else
  fail verify_plan "no plan was written by solve_sync_50"
fi

# --- a model on which CBC's probing made Debian's Clp abort the process ------
# (ClpNonLinearCost::checkInfeasibilities assertion; probing is off now).
expect clp_probing_abort 0 "$AUTOTM" solve \
  --graph "$DATA/clp_probing_abort.graph.json" \
  --profile "$DATA/clp_probing_abort.profile.json" --budget 11534336B \
  --variant sync

# --- a model on which CBC's feasibility pump made Debian's Clp abort --------
# (OsiClpSolverInterface::crunch assertion in the pump's second pass,
# coin-or/Clp#288; the pump is off now).
expect clp_pump_abort 0 "$AUTOTM" solve \
  --graph "$DATA/clp_pump_abort.graph.json" \
  --profile "$DATA/clp_pump_abort.profile.json" --budget 14155776B \
  --variant sync

# --- bad inputs: exit 1 and a message naming the file ----------------------
expect bad_unknown_tensor 1 "$AUTOTM" solve --graph "$DATA/bad_unknown_tensor.graph.json" \
  --profile "$PROFILE" --budget 50% &&
  expect_text bad_unknown_tensor "$WORK/bad_unknown_tensor.err" "bad_unknown_tensor.graph.json" &&
  expect_text bad_unknown_tensor "$WORK/bad_unknown_tensor.err" "relu2x.out"
expect bad_malformed 1 "$AUTOTM" solve --graph "$DATA/bad_malformed.graph.json" \
  --profile "$PROFILE" --budget 50% &&
  expect_text bad_malformed "$WORK/bad_malformed.err" "bad_malformed.graph.json:" &&
  expect_text bad_malformed "$WORK/bad_malformed.err" "invalid JSON"
expect bad_missing_kernel 1 "$AUTOTM" solve --graph "$GRAPH" \
  --profile "$DATA/bad_missing_kernel.profile.json" --budget 50% &&
  expect_text bad_missing_kernel "$WORK/bad_missing_kernel.err" "bad_missing_kernel.profile.json" &&
  expect_text bad_missing_kernel "$WORK/bad_missing_kernel.err" "sgd_update(f32[10],f32[10])->(f32[10])"
expect missing_file 1 "$AUTOTM" solve --graph "$WORK/no_such_graph.json" \
  --profile "$PROFILE" --budget 50% &&
  expect_text missing_file "$WORK/missing_file.err" "no_such_graph.json"
expect verify_missing_plan 1 "$AUTOTM" verify --graph "$GRAPH" --profile "$PROFILE" \
  --plan "$WORK/no_such_plan.json" &&
  expect_text verify_missing_plan "$WORK/verify_missing_plan.err" "no_such_plan.json"
expect bad_budget 1 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" --budget 4G &&
  expect_text bad_budget "$WORK/bad_budget.err" "\"4G\""
expect bad_time_limit 1 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" --budget 50% \
  --time-limit soon &&
  expect_text bad_time_limit "$WORK/bad_time_limit.err" "--time-limit"
expect bad_out_dir 1 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" --budget 50% \
  --out "$WORK/no/such/dir/plan.json" &&
  expect_text bad_out_dir "$WORK/bad_out_dir.err" "no/such/dir"
expect graph_stats_bad 1 "$AUTOTM" graph stats "$DATA/bad_unknown_tensor.graph.json"

# --- no plan: exit 2 and a message naming a kernel ----------------------------
for variant in sync static all-fast; do
  name="infeasible_$variant"
  budget=1KiB
  [ "$variant" = all-fast ] && budget=50%
  if expect "$name" 2 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" \
      --budget "$budget" --variant "$variant" --json; then
    if "$PY" - "$GRAPH" "$WORK/$name.err" <<'EOF'
import json, sys
kernels = [k["id"] for k in json.load(open(sys.argv[1]))["kernels"]]
message = open(sys.argv[2]).read()
sys.exit(0 if any(f"'{k}'" in message or f" {k} " in message for k in kernels) else 1)
EOF
    then
      pass "$name names a kernel"
    else
      fail "$name" "the message names no kernel of the graph" "$WORK/$name.err"
    fi
    if [ -s "$WORK/$name.out" ]; then
      fail "$name" "stdout should be empty with --json and no plan" "$WORK/$name.out"
    else
      pass "$name prints nothing on stdout"
    fi
  fi
done

echo
finish
