#!/bin/bash
# big_graph_bench.sh: a benchmark (not a test) of issue 19's large graph
# planned end to end through autotm-server on loopback: the graph uploaded
# (UploadGraph when it exceeds the message limit), solved by a worker, the
# plan streamed back (StreamPlan when large) and checked by `autotm verify`.
#
#   tools/big_graph_bench.sh [--copies N] [--variants "sync heuristic"]
#                            [--time-limit 600s] [--budget 50%]
#
# The graph is N copies of the example CNN (tools/repeat_graph.py; 3,280
# copies = 200,080 kernels, the default). For each variant it prints the
# client's wall time and peak RSS (the `autotm plan` call: upload, queue,
# solve, download), the solve worker's peak RSS (the server logs it from
# wait4), the plan's method, termination and solver, and the verifier's
# verdict; at the end the server's peak RSS (VmHWM). BUILD_DIR (default
# build) holds autotm, autotm-server and autotm-solve-worker.
#
# Exit codes: 0 every variant planned and verified; 1 otherwise.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BUILD_DIR:-$root/build}"
copies=3280
variants="sync heuristic"
time_limit=600s
budget=50%
while [[ $# -gt 0 ]]; do
  case "$1" in
    --copies) copies="$2"; shift 2 ;;
    --variants) variants="$2"; shift 2 ;;
    --time-limit) time_limit="$2"; shift 2 ;;
    --budget) budget="$2"; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "big_graph_bench: unknown flag $1 (see --help)" >&2; exit 1 ;;
  esac
done

work="$(mktemp -d /tmp/autotm_big_graph.XXXXXX)"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

graph="$work/graph.json"
profile="$root/tests/testdata/example_cnn.profile.json"
/usr/bin/python3 "$root/tools/repeat_graph.py" --copies "$copies" --out "$graph"

"$build/server/autotm-server" --listen 127.0.0.1:0 --db "$work/autotm.db" \
  --log-level info >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$work/server.out" 2>/dev/null && break
  sleep 0.1
done
address="$(sed -n 's/.*listening on //p' "$work/server.out" | head -1)"
[[ -n "$address" ]] || { echo "big_graph_bench: the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
export AUTOTM_SERVER="$address"
"$build/client/autotm" profiles import "$profile" >/dev/null

status=0
printf '%-10s %9s %12s %12s  %s\n' variant wall_s client_MiB worker_MiB "method, termination, solver; verifier"
for variant in $variants; do
  out="$work/plan-$variant.json"
  workers_before="$(grep -c 'peak RSS' "$work/server.log" || true)"
  if ! /usr/bin/time -f '%e %M' -o "$work/time-$variant" \
      "$build/client/autotm" plan --graph "$graph" --host-class example-optane-like \
      --budget "$budget" --variant "$variant" --time-limit "$time_limit" \
      --out "$out" >"$work/plan-$variant.txt" 2>&1; then
    echo "$variant: autotm plan failed:" >&2; tail -5 "$work/plan-$variant.txt" >&2
    status=1
    continue
  fi
  read -r wall client_kib <"$work/time-$variant"
  worker_bytes="$(grep 'peak RSS' "$work/server.log" | tail -n +"$((workers_before + 1))" \
    | sed -n 's/.*peak RSS \([0-9]*\) bytes.*/\1/p' | sort -n | tail -1)"
  summary="$(sed -n 's/^plan for [^:]*: //p' "$work/plan-$variant.txt" | head -1)"
  # The plan's solver says why an ILP variant was planned by the heuristic.
  solver="$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["stats"].get("solver", ""))' "$out")"
  if "$build/client/autotm" verify --graph "$graph" --profile "$profile" \
      --plan "$out" --budget "$budget" >"$work/verify-$variant.txt" 2>&1; then
    verdict="verified"
  else
    verdict="REJECTED: $(tail -1 "$work/verify-$variant.txt")"
    status=1
  fi
  printf '%-10s %9.1f %12.0f %12.0f  %s%s; %s\n' "$variant" "$wall" \
    "$((client_kib / 1024))" "$((${worker_bytes:-0} / 1048576))" "$summary" \
    ", solver $solver" "$verdict"
done
server_kib="$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server_pid/status")"
echo "server peak RSS (VmHWM): $((server_kib / 1024)) MiB; graph: $copies copies of the example CNN"
exit "$status"
