#!/usr/bin/env bash
# End-to-end tests of `autotm sweep` on the bundled example.
#
#   tests/e2e/sweep_test.sh AUTOTM_BINARY TESTDATA_DIR
#
# Runs the real binary: a 10%..100% sweep with its table, CSV, SVG and
# per-budget plans (time never rising with the budget, every plan accepted
# by `autotm verify`), the JSON form, budget ranges, and the exit codes and
# messages for bad budget lists and budgets that all fail. Prints one line
# per check and "N passed, M failed"; exits 1 on any failure. Registered with
# ctest in tests/CMakeLists.txt.
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

WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm_sweep_test.XXXXXX")
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap 'rm -rf "$WORK"' EXIT

# fail NAME WHY [FILE...]: the named files (the command's output) follow.
# expect NAME WANT_RC CMD...: runs CMD with stdout in $WORK/NAME.out and
# stderr in $WORK/NAME.err, and checks its exit code.
# expect_text NAME FILE TEXT: FILE contains TEXT (fixed string).
# check NAME PYTHON_CODE ARGS...: runs the Python check; it prints why on
# failure and exits non-zero.
check() {
  local name=$1 code=$2
  shift 2
  if "$PY" -c "$code" "$@" >"$WORK/$name.check" 2>&1; then
    pass "$name"
  else
    fail "$name" "check failed" "$WORK/$name.check"
  fi
}

# --- The full sweep: table, CSV, SVG, plans.
PLANS=$WORK/plans
if expect sweep 0 "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" \
  --budgets 10%:100%:10% --csv "$WORK/curve.csv" --svg "$WORK/curve.svg" \
  --plans-dir "$PLANS"; then
  for column in budget "% peak" predicted slowdown termination gap solve warm; do
    expect_text sweep_table "$WORK/sweep.out" "$column"
  done
  expect_text sweep_table "$WORK/sweep.out" "10 of 10 budget(s) planned"
  expect_text sweep_table "$WORK/sweep.out" "all-fast"
  check sweep_table_rows '
import sys
rows = [l for l in open(sys.argv[1]) if "%" in l and ("OPTIMAL" in l or "FEASIBLE" in l or "HEURISTIC" in l)]
if len(rows) != 10: sys.exit("want 10 table rows, got %d" % len(rows))
warm = [l.split()[-2] for l in rows]
if warm[0] != "-" or "yes" not in warm[1:]:
    sys.exit("want no warm start on the first row and some later: %s" % warm)
' "$WORK/sweep.out"
  check csv_one_row_per_budget_time_never_rises '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if len(rows) != 10: sys.exit("want 10 rows, got %d" % len(rows))
budgets = [int(r["budget_bytes"]) for r in rows]
if budgets != sorted(budgets) or len(set(budgets)) != 10:
    sys.exit("budgets not strictly ascending: %s" % budgets)
pct = [round(float(r["percent_of_peak"])) for r in rows]
if pct != list(range(10, 101, 10)): sys.exit("percentages %s" % pct)
times = [float(r["predicted_time_us"]) for r in rows]
for a, b in zip(times, times[1:]):
    if b > a + 1e-6: sys.exit("time rises with budget: %s" % times)
if times[0] <= times[-1]: sys.exit("a tighter budget should cost time: %s" % times)
' "$WORK/curve.csv"
  check svg_is_well_formed_with_references '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
if root.tag != ns + "svg": sys.exit("root is %s" % root.tag)
texts = " | ".join(t.text or "" for t in root.iter(ns + "text"))
for want in ("all-fast", "all-slow", "(MiB)", "(ms)"):
    if want not in texts: sys.exit("no %r in the texts: %s" % (want, texts))
lines = list(root.iter(ns + "polyline"))
if len(lines) != 1: sys.exit("want one curve, got %d" % len(lines))
if len(lines[0].get("points").split()) != 10: sys.exit("want 10 points")
dashed = [l for l in root.iter(ns + "line") if l.get("stroke-dasharray")]
if len(dashed) != 2: sys.exit("want 2 reference lines, got %d" % len(dashed))
' "$WORK/curve.svg"
  n=$(ls "$PLANS"/budget_*.plan.json 2>/dev/null | wc -l)
  if [ "$n" -eq 10 ]; then pass "plans_dir holds 10 plans"; else
    fail plans_dir "want 10 plans, got $n"
  fi
  first=$(ls "$PLANS"/budget_*.plan.json | sort -t_ -k2 -n | head -n 1)
  expect verify_swept_plan 0 "$AUTOTM" verify --graph "$GRAPH" \
    --profile "$PROFILE" --plan "$first"
fi

# --- JSON, ranges, warm starts on and off.
if expect sweep_json 0 "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" \
  --budgets 30%:50%:20%,150% --json; then
  check sweep_json_points '
import json, sys
d = json.load(open(sys.argv[1]))
p = d["points"]
if [round(x["percentOfPeak"]) for x in p] != [30, 50, 150]:
    sys.exit("points %s" % [x["percentOfPeak"] for x in p])
if p[1]["warmStart"] != "yes" or d["warmStartsUsed"] < 1:
    sys.exit("the 50%% solve should start from the 30%% plan: %s" % p[1])
if p[2]["how"] != "all-fast" or p[2]["termination"] != "OPTIMAL":
    sys.exit("150%% should take the all-fast plan: %s" % p[2])
if abs(p[2]["predictedTimeUs"] - d["allFastTimeUs"]) > 1e-3:
    sys.exit("all-fast point %s vs reference %s" % (p[2], d["allFastTimeUs"]))
' "$WORK/sweep_json.out"
fi
if expect sweep_cold 0 "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" \
  --budgets 30%,50% --json --no-warm-start; then
  check sweep_cold_no_warm_start '
import json, sys
d = json.load(open(sys.argv[1]))
if d["warmStartsUsed"] != 0 or d["points"][1]["warmStart"] != "no":
    sys.exit("warm starts were off: %s" % d)
' "$WORK/sweep_cold.out"
fi

# --- Bad input and budgets without a plan.
expect bad_budget 1 "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" \
  --budgets 10%,4G &&
  expect_text bad_budget "$WORK/bad_budget.err" "--budgets: invalid byte count \"4G\""
expect bad_range 1 "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" \
  --budgets 50%:10%:10% &&
  expect_text bad_range "$WORK/bad_range.err" "stops below its start"
expect bad_variant 1 "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" \
  --budgets 50% --variant all-fast
expect bad_svg_dir 1 "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" \
  --budgets 50% --svg "$WORK/no/such/dir/curve.svg" &&
  expect_text bad_svg_dir "$WORK/bad_svg_dir.err" "--svg:"
if expect all_infeasible 2 "$AUTOTM" sweep --graph "$GRAPH" \
  --profile "$PROFILE" --budgets 0.5%,1% --csv "$WORK/infeasible.csv"; then
  expect_text all_infeasible "$WORK/all_infeasible.out" "INFEASIBLE"
  expect_text all_infeasible "$WORK/all_infeasible.err" "autotm: no plan:"
  expect_text all_infeasible "$WORK/all_infeasible.err" "'conv1a.fwd'"
  check infeasible_csv_rows '
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if len(rows) != 2 or any(r["termination"] != "INFEASIBLE" or r["predicted_time_us"] for r in rows):
    sys.exit("rows %s" % rows)
' "$WORK/infeasible.csv"
fi

finish
