#!/usr/bin/env bash
# End-to-end test of every output-file writer against a character device
# and a FIFO (issue 18, finding 7): `autotm solve --out /dev/null` used to
# rename a temporary file over the device node, destroying /dev/null for
# the whole machine when run as root.
#
#   tests/e2e/output_files_test.sh AUTOTM AUTOTM_SERVER AUTOTM_AGENT TESTDATA
#
# Each writer (solve --out/--svg, zoo export --out, profile synth --out,
# sweep --svg/--csv/--plans-dir, profiles export -o, plan --out/--svg, plan
# show --svg, autotm-agent --out and --cache) writes once to a scratch device node made with
# `mknod PATH c 1 3` (/dev/null's numbers; needs root: skipped with the
# reason when mknod is not permitted) and once to a FIFO with a reader. The
# node must still be the same device afterwards, the FIFO still a FIFO with
# the complete output delivered to its reader, and no temporary file may be
# left beside either. A directory given as output must be refused, not
# replaced. Prints one line per check; exits 1 on any failure.
set -uo pipefail

if [ $# -ne 4 ]; then
  echo "usage: $0 AUTOTM AUTOTM_SERVER AUTOTM_AGENT TESTDATA" >&2
  exit 2
fi
AUTOTM=$1
SERVER_BIN=$2
AGENT=$3
DATA=$4
PY=/usr/bin/python3
GRAPH=$DATA/example_cnn.graph.json
PROFILE=$DATA/example_cnn.profile.json

WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm_output_files.XXXXXX")
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

# Whether mknod works here (root with CAP_MKNOD, not a restricted container).
DEVICES=1
if ! mknod "$WORK/probe" c 1 3 2>"$WORK/probe.err"; then
  DEVICES=0
  echo "SKIP  device-node checks: mknod is not permitted here ($(cat "$WORK/probe.err")); FIFO checks still run"
fi
rm -f "$WORK/probe"

# The server for the writers that download (profiles export, plan).
"$SERVER_BIN" --listen 127.0.0.1:0 --db "$WORK/autotm.db" >"$WORK/server.out" \
  2>"$WORK/server.err" &
SERVER_PID=$!
ADDR=
for _ in $(seq 1 100); do
  ADDR=$(sed -n 's/^autotm-server listening on \([^ ]*\).*/\1/p' "$WORK/server.out")
  [ -n "$ADDR" ] && break
  sleep 0.1
done
if [ -z "$ADDR" ]; then
  fail server_start "autotm-server did not report its port" "$WORK/server.err"
  exit 1
fi
if ! "$AUTOTM" profiles import "$PROFILE" --server "$ADDR" >"$WORK/import.out" 2>&1; then
  fail profiles_import "cannot upload the example profile" "$WORK/import.out"
  exit 1
fi
HOST_CLASS=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["hostClass"]["name"])' "$PROFILE")

# A tiny graph for the profiler agent (one ReLU: quick to measure).
cat >"$WORK/agent.graph.json" <<'EOF'
{
  "name": "output-files",
  "tensors": [
    {"id": "x", "sizeBytes": "4096", "role": "TENSOR_ROLE_INPUT"},
    {"id": "y", "sizeBytes": "4096", "role": "TENSOR_ROLE_ACTIVATION"}
  ],
  "kernels": [
    {"id": "relu", "op": "relu_fwd", "inputs": ["x"], "outputs": ["y"],
     "signature": {"op": "relu_fwd",
                   "inputs": [{"dims": ["1024"], "dtype": "DATA_TYPE_F32"}],
                   "outputs": [{"dims": ["1024"], "dtype": "DATA_TYPE_F32"}]}}
  ]
}
EOF
mkdir -p "$WORK/slowtier"
AGENT_FLAGS=(profile --graph "$WORK/agent.graph.json" --fast numa:0
  --slow "file:$WORK/slowtier" --warmup 1 --min-reps 3 --max-reps 5
  --copy-mib 4 --quiet)

# The name --plans-dir gives the 50% plan: learned from a regular run.
if ! "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" --budgets 50% \
  --plans-dir "$WORK/plans_probe" >"$WORK/sweep_probe.out" 2>&1; then
  fail sweep_probe "sweep into a regular directory failed" "$WORK/sweep_probe.out"
  exit 1
fi
PLAN_NAME=$(ls "$WORK/plans_probe")

# write_with WRITER OUT: runs the writer with its output at OUT; stdout and
# stderr in $WORK/WRITER.log; returns its exit code.
write_with() {
  local writer=$1 out=$2
  case $writer in
    solve)
      "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" --budget 50% \
        --out "$out" ;;
    solve_svg)
      "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" --budget 50% \
        --variant heuristic --svg "$out" ;;
    plan_show_svg)
      "$AUTOTM" plan show "$WORK/plans_probe/$PLAN_NAME" --graph "$GRAPH" \
        --profile "$PROFILE" --svg "$out" ;;
    zoo_export)
      "$AUTOTM" zoo export --model vgg19 --batch 2 --out "$out" ;;
    profile_synth)
      "$AUTOTM" profile synth --cost-model optane-2019 --graph "$GRAPH" \
        --out "$out" ;;
    sweep_svg)
      "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" --budgets 50% \
        --svg "$out" ;;
    sweep_csv)
      "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" --budgets 50% \
        --csv "$out" ;;
    sweep_plans_dir)
      # The plan file inside --plans-dir is the node.
      "$AUTOTM" sweep --graph "$GRAPH" --profile "$PROFILE" --budgets 50% \
        --plans-dir "$(dirname "$out")" ;;
    profiles_export)
      "$AUTOTM" profiles export "$HOST_CLASS" --server "$ADDR" -o "$out" ;;
    plan)
      "$AUTOTM" plan --server "$ADDR" --graph "$GRAPH" \
        --host-class "$HOST_CLASS" --budget 50% --out "$out" ;;
    plan_svg)
      "$AUTOTM" plan --server "$ADDR" --graph "$GRAPH" \
        --host-class "$HOST_CLASS" --budget 50% --svg "$out" ;;
    agent_out)
      "$AGENT" "${AGENT_FLAGS[@]}" --out "$out" ;;
    agent_cache)
      "$AGENT" "${AGENT_FLAGS[@]}" --cache "$out" --out "$WORK/agent_cache_side.json" ;;
  esac >"$WORK/$writer.log" 2>&1
}

# valid WRITER FILE: FILE holds what the writer writes (complete).
valid() {
  local writer=$1 file=$2
  case $writer in
    *_svg) grep -q '</svg>' "$file" ;;
    sweep_csv) head -n 1 "$file" | grep -q 'budget' && [ "$(wc -l <"$file")" -ge 2 ] ;;
    # One JSON document, or several back to back (a rewritten cache).
    *) "$PY" -c '
import json, sys
text = open(sys.argv[1]).read().strip()
decoder, end, docs = json.JSONDecoder(), 0, 0
while end < len(text):
    _, end = decoder.raw_decode(text, end)
    while end < len(text) and text[end].isspace():
        end += 1
    docs += 1
sys.exit(0 if docs > 0 else 1)
' "$file" 2>/dev/null ;;
  esac
}

# no_leftovers DIR NAME: no temporary file NAME.tmp.* beside the target.
no_leftovers() {
  ! ls "$1" | grep -q "^$2\.tmp\."
}

WRITERS=(solve solve_svg plan_show_svg zoo_export profile_synth sweep_svg
  sweep_csv sweep_plans_dir profiles_export plan plan_svg agent_out agent_cache)

for writer in "${WRITERS[@]}"; do
  dir=$WORK/$writer
  mkdir -p "$dir/dev" "$dir/fifo"
  name=out.json
  [ "$writer" = sweep_plans_dir ] && name=$PLAN_NAME

  # A character device: written through, still the same device after.
  if [ "$DEVICES" = 1 ]; then
    node=$dir/dev/$name
    mknod "$node" c 1 3
    if write_with "$writer" "$node"; then
      if [ -c "$node" ] && [ "$(stat -c '%t,%T' "$node")" = "1,3" ] &&
        no_leftovers "$dir/dev" "$name"; then
        pass "$writer: device node kept"
      else
        fail "$writer" "the device node was replaced: $(stat -c '%F' "$node" 2>&1)" \
          "$WORK/$writer.log"
      fi
    else
      fail "$writer" "exit $? writing to a device node" "$WORK/$writer.log"
    fi
  fi

  # A FIFO with a reader: the whole output arrives, the FIFO stays. The
  # reader holds the FIFO open read-write, so a writer that opens it several
  # times (the agent rewrites its cache after each step) never blocks, and
  # collects everything until told to stop.
  fifo=$dir/fifo/$name
  mkfifo "$fifo"
  "$PY" -c '
import os, select, sys
fifo, out, stop = sys.argv[1:4]
fd = os.open(fifo, os.O_RDWR)
data = bytearray()
while True:
    ready, _, _ = select.select([fd], [], [], 0.1)
    if ready:
        data += os.read(fd, 1 << 16)
    elif os.path.exists(stop):
        break
open(out, "wb").write(data)
' "$fifo" "$dir/received" "$dir/stop" &
  reader=$!
  write_with "$writer" "$fifo"
  rc=$?
  touch "$dir/stop"
  wait "$reader"
  if [ "$rc" -ne 0 ]; then
    fail "$writer" "exit $rc writing to a FIFO" "$WORK/$writer.log"
  elif [ ! -p "$fifo" ]; then
    fail "$writer" "the FIFO was replaced: $(stat -c '%F' "$fifo" 2>&1)"
  elif ! valid "$writer" "$dir/received"; then
    fail "$writer" "the reader got incomplete output" "$dir/received"
  elif ! no_leftovers "$dir/fifo" "$name"; then
    fail "$writer" "temporary files left beside the FIFO"
  else
    pass "$writer: FIFO kept, reader got the whole output"
  fi
done

# A directory is never replaced: a clear error naming it.
mkdir -p "$WORK/a_directory"
if "$AUTOTM" solve --graph "$GRAPH" --profile "$PROFILE" --budget 50% \
  --out "$WORK/a_directory" >"$WORK/dir.log" 2>&1; then
  fail solve_into_directory "exit 0 with a directory as --out" "$WORK/dir.log"
elif grep -qF "$WORK/a_directory: is a directory" "$WORK/dir.log" &&
  [ -d "$WORK/a_directory" ]; then
  pass "solve_into_directory: refused, naming the path"
else
  fail solve_into_directory "wrong message or directory changed" "$WORK/dir.log"
fi

# A symbolic link to a regular file keeps the link; its target is replaced.
echo old >"$WORK/target.json"
ln -s target.json "$WORK/link.json"
if write_with solve "$WORK/link.json" && [ -L "$WORK/link.json" ] &&
  valid solve "$WORK/target.json"; then
  pass "solve_through_symlink: link kept, target written"
else
  fail solve_through_symlink "link replaced or target not written" "$WORK/solve.log"
fi

finish
