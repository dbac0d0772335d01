#!/usr/bin/env bash
# End-to-end test of the plan pictures (issue 23) on the bundled example:
#
#   tests/e2e/pictures_test.sh AUTOTM_BINARY TESTDATA_DIR [AUTOTM_SERVER]
#
# Plans the example (`solve --svg`), draws the saved plan again with
# `autotm plan show --svg`, with AUTOTM_SERVER also plans it through a
# server (`autotm plan --svg`), and checks each SVG with xmllint (a real XML
# parser) and its numbers against the plan file: the timeline's peak is the
# plan's peakFastBytes, the move ticks count every move once, and the Gantt
# rows are the N largest tensors of the graph. Then the errors: a plan for
# another graph, an unwritable --svg, `autotm plan` without its flags.
# Prints one line per check and "N passed, M failed"; exits 1 on any failure.
# Registered with ctest in tests/CMakeLists.txt.
set -uo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 AUTOTM_BINARY TESTDATA_DIR [AUTOTM_SERVER]" >&2
  exit 2
fi
AUTOTM=$1
DATA=$2
SERVER_BIN=${3:-}
PY=/usr/bin/python3
GRAPH=$DATA/example_cnn.graph.json
PROFILE=$DATA/example_cnn.profile.json

if ! command -v xmllint >/dev/null; then
  echo "FAIL  xmllint is missing (apt-get install libxml2-utils; deploy/install-deps.sh)"
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm_pictures_test.XXXXXX")
# shellcheck source=tests/e2e/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# expect NAME WANT_RC CMD...: runs CMD (output in $WORK/NAME.out/.err) and
# checks its exit code.
# check_svg NAME SVG PLAN ROWS: well-formed, and its numbers are the plan's.
check_svg() {
  local name=$1 svg=$2 plan=$3 rows=$4
  if xmllint --noout "$svg" 2>"$WORK/$name.xmllint"; then
    pass "$name is well-formed (xmllint)"
  else
    fail "$name" "xmllint rejects it" "$WORK/$name.xmllint"
  fi
  if "$PY" - "$svg" "$plan" "$GRAPH" "$rows" >"$WORK/$name.check" 2>&1 <<'PYEOF'
import json, sys, xml.etree.ElementTree as ET
svg, plan, graph, rows = sys.argv[1], json.load(open(sys.argv[2])), json.load(open(sys.argv[3])), int(sys.argv[4])
ns = "{http://www.w3.org/2000/svg}"
root = ET.parse(svg).getroot()
groups = {g.get("id"): g for g in root.iter(ns + "g") if g.get("id")}
peak = int(plan.get("peakFastBytes", 0))
timeline = groups["memory-timeline"]
if int(timeline.get("data-peak-bytes")) != peak:
    sys.exit("timeline peak %s, plan peakFastBytes %d" % (timeline.get("data-peak-bytes"), peak))
curve = [p for p in timeline.iter(ns + "polyline") if p.get("class") == "fast-bytes"][0]
if int(curve.get("data-max-bytes")) != peak:
    sys.exit("drawn curve's maximum %s != %d" % (curve.get("data-max-bytes"), peak))
# The curve's highest point is the peak's dot.
top = min(float(xy.split(",")[1]) for xy in curve.get("points").split())
dot = [c for c in timeline.iter(ns + "circle") if c.get("class") == "peak"][0]
if abs(top - float(dot.get("cy"))) > 0.01:
    sys.exit("curve top at y=%.2f, peak dot at y=%s" % (top, dot.get("cy")))
moves = plan.get("moves", [])
ticks = [r for r in groups["moves"].iter(ns + "rect") if (r.get("class") or "").startswith("move ")]
counted = sum(int(r.get("data-count")) for r in ticks)
if counted != len(moves) or len(moves) == 0:
    sys.exit("ticks count %d moves, the plan has %d" % (counted, len(moves)))
copied = sum(int(m.get("bytesCopied", 0)) for m in moves)
if sum(int(r.get("data-bytes")) for r in ticks) != copied:
    sys.exit("ticks carry other bytes than the moves copy")
gantt = [g for g in groups["residency"].iter(ns + "g") if g.get("class") == "tensor-row"]
if len(gantt) != rows:
    sys.exit("%d Gantt rows, want %d" % (len(gantt), rows))
sizes = {t["id"]: int(t["sizeBytes"]) for t in graph["tensors"]}
drawn = [g.get("data-tensor") for g in gantt]
smallest_drawn = min(sizes[t] for t in drawn)
largest_left = max(s for t, s in sizes.items() if t not in drawn)
if smallest_drawn < largest_left:
    sys.exit("rows %s are not the %d largest tensors" % (drawn, rows))
if [sizes[t] for t in drawn] != sorted((sizes[t] for t in drawn), reverse=True):
    sys.exit("rows not largest first: %s" % drawn)
texts = " ".join(t.text or "" for t in root.iter(ns + "text"))
for want in ("kernel (execution order)", "fast memory (MiB)", "copied (", "per kernel", "budget", "backward"):
    if want not in texts:
        sys.exit("no %r among the texts" % want)
PYEOF
  then
    pass "$name numbers match the plan"
  else
    fail "$name" "numbers differ from the plan" "$WORK/$name.check"
  fi
}

# --- solve --svg: the picture as the plan is made (the heuristic: fast).
if expect solve_svg 0 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" \
  --budget 50% --variant heuristic --out "$WORK/plan.json" \
  --svg "$WORK/solve.svg"; then
  expect_text solve_svg "$WORK/solve_svg.err" "wrote $WORK/solve.svg"
  check_svg solve_svg "$WORK/solve.svg" "$WORK/plan.json" 12
fi

# --- plan show: the summary and the picture of a saved plan.
if expect plan_show 0 "$AUTOTM" plan show "$WORK/plan.json" --graph "$GRAPH" \
  --profile "$PROFILE" --svg "$WORK/show.svg" --top 5; then
  expect_text plan_show "$WORK/plan_show.out" "peak fast memory"
  expect_text plan_show "$WORK/plan_show.out" "backward from kernel 19 (loss.bwd)"
  expect_text plan_show "$WORK/plan_show.out" "largest tensors (5 of 88"
  expect_text plan_show "$WORK/plan_show.out" "slow-operand penalty"
  check_svg plan_show "$WORK/show.svg" "$WORK/plan.json" 5
fi
# Without --svg only the text; without --profile no time split.
if expect plan_show_text 0 "$AUTOTM" plan show "$WORK/plan.json" \
  --graph "$GRAPH"; then
  if grep -q "penalty" "$WORK/plan_show_text.out"; then
    fail plan_show_text "a time split without a profile" "$WORK/plan_show_text.out"
  else
    pass "plan_show_text has no time split without --profile"
  fi
fi

# --- autotm plan --svg: the plan a server returns, drawn without the time
# split (the profile stays on the server).
if [ -n "$SERVER_BIN" ]; then
  "$SERVER_BIN" --listen 127.0.0.1:0 --db "$WORK/autotm.db" >"$WORK/server.out" \
    2>"$WORK/server.err" &
  SERVER_PID=$!
  ADDR=
  for _ in $(seq 1 100); do
    ADDR=$(sed -n 's/^autotm-server listening on \([^ ]*\).*/\1/p' "$WORK/server.out")
    [ -n "$ADDR" ] && break
    sleep 0.1
  done
  HOST_CLASS=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hostClass"]["name"])' "$PROFILE")
  if [ -z "$ADDR" ]; then
    fail server_start "autotm-server did not report its port" "$WORK/server.err"
  elif expect remote_import 0 "$AUTOTM" profiles import "$PROFILE" --server "$ADDR" &&
    expect remote_plan_svg 0 "$AUTOTM" plan --server "$ADDR" --graph "$GRAPH" \
      --host-class "$HOST_CLASS" --budget 50% --variant heuristic \
      --out "$WORK/remote.plan.json" --svg "$WORK/remote.svg"; then
    check_svg remote_plan_svg "$WORK/remote.svg" "$WORK/remote.plan.json" 12
    expect_text remote_plan_svg "$WORK/remote.svg" "pass the profile to split kernel time"
  fi
else
  echo "SKIP  autotm plan --svg: no AUTOTM_SERVER argument"
fi

# --- Errors.
"$AUTOTM" zoo export --model vgg19 --batch 2 --out "$WORK/vgg.json" 2>/dev/null
expect wrong_graph 1 "$AUTOTM" plan show "$WORK/plan.json" --graph "$WORK/vgg.json" &&
  expect_text wrong_graph "$WORK/wrong_graph.err" "is not a plan for"
expect bad_svg_dir 1 "$AUTOTM" plan show "$WORK/plan.json" --graph "$GRAPH" \
  --svg "$WORK/no/such/dir/plan.svg" &&
  expect_text bad_svg_dir "$WORK/bad_svg_dir.err" "--svg:"
expect solve_bad_svg_dir 1 "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" \
  --budget 50% --variant heuristic --svg "$WORK/no/such/dir/plan.svg" &&
  expect_text solve_bad_svg_dir "$WORK/solve_bad_svg_dir.err" "--svg:"
expect plan_without_flags 1 "$AUTOTM" plan &&
  expect_text plan_without_flags "$WORK/plan_without_flags.err" "--graph is required"
expect show_help 0 "$AUTOTM" plan show --help &&
  expect_text show_help "$WORK/show_help.out" "residency"

finish
