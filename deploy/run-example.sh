#!/usr/bin/env bash
# Sets up autotm on a fresh Debian 12 machine and runs the main job through
# the placement service: installs the dependencies, builds (Release), starts
# autotm-server on an embedded SQLite file in a temporary directory (port
# chosen by the kernel), imports the bundled profile, plans the bundled
# example CNN at a 50% fast-memory budget through the server and prints the
# plan summary, asks again (now a plan-cache hit), verifies the served plan
# locally against the profile the server serves, and stops the server
# (SIGTERM), also when a step fails. Idempotent (every run starts a fresh
# server and database); works from any directory.
#
#   bash deploy/run-example.sh           # as root (or with sudo available)
#   BUILD_DIR=/tmp/b bash deploy/run-example.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${BUILD_DIR:-build}
GRAPH=tests/testdata/example_cnn.graph.json
PROFILE=tests/testdata/example_cnn.profile.json
HOST_CLASS=example-optane-like  # hostClass.name in $PROFILE

bash deploy/install-deps.sh
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$BUILD_DIR" --target autotm autotm-server autotm-solve-worker

AUTOTM="$BUILD_DIR/client/autotm"
SERVER_BIN="$BUILD_DIR/server/autotm-server"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm-example.XXXXXX")
SERVER_PID=""

# Stops the server (SIGTERM, then waits for it; SIGKILL after 20 s) and
# removes the temporary directory, on success and on failure alike.
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    echo
    echo "+ kill -TERM $SERVER_PID   # stop autotm-server"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 200); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "run-example: autotm-server did not stop in 20 s; killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    local server_status=0
    wait "$SERVER_PID" 2>/dev/null || server_status=$?
    echo "autotm-server stopped (exit status $server_status)"
    if [ "$status" -eq 0 ] && [ "$server_status" -ne 0 ]; then
      echo "run-example: autotm-server did not shut down cleanly" >&2
      status=1
    fi
  fi
  if [ "$status" -ne 0 ] && [ -s "$WORK/server.log" ]; then
    echo "run-example: failed (exit status $status); the server's log:" >&2
    tail -n 30 "$WORK/server.log" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo
echo "+ autotm-server --listen 127.0.0.1:0 --db $WORK/autotm.db &"
"$SERVER_BIN" --listen 127.0.0.1:0 --db "$WORK/autotm.db" \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
# The server prints "autotm-server listening on HOST:PORT" once it is ready.
ADDR=""
for _ in $(seq 300); do
  ADDR=$(sed -n 's/^autotm-server listening on //p' "$WORK/server.out")
  [ -n "$ADDR" ] && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "run-example: autotm-server exited before listening" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$ADDR" ]; then
  echo "run-example: autotm-server did not listen within 30 s" >&2
  exit 1
fi
echo "autotm-server listening on $ADDR (pid $SERVER_PID)"

echo
echo "+ autotm profiles import $PROFILE --server $ADDR"
"$AUTOTM" profiles import "$PROFILE" --server "$ADDR"

echo
echo "+ autotm plan --server $ADDR --graph $GRAPH \\"
echo "      --host-class $HOST_CLASS --budget 50% --out $BUILD_DIR/example_cnn.plan.json"
"$AUTOTM" plan --server "$ADDR" --graph "$GRAPH" --host-class "$HOST_CLASS" \
  --budget 50% --out "$BUILD_DIR/example_cnn.plan.json"

echo
echo "+ autotm plan ... (the same request again: a plan-cache hit)"
"$AUTOTM" plan --server "$ADDR" --graph "$GRAPH" --host-class "$HOST_CLASS" \
  --budget 50% | tail -n 1

# An independent check on the client side: the served plan against the
# profile the server plans with (the medians it stores).
echo
echo "+ autotm profiles export $HOST_CLASS --server $ADDR --out $WORK/served.profile.json"
"$AUTOTM" profiles export "$HOST_CLASS" --server "$ADDR" \
  --out "$WORK/served.profile.json"
echo "+ autotm verify --graph $GRAPH --profile $WORK/served.profile.json \\"
echo "      --plan $BUILD_DIR/example_cnn.plan.json --budget 50%"
"$AUTOTM" verify --graph "$GRAPH" --profile "$WORK/served.profile.json" \
  --plan "$BUILD_DIR/example_cnn.plan.json" --budget 50%
