#!/usr/bin/env bash
# The deploy/ files as an operator installs them (docs/OPERATIONS.md):
#   - systemd-analyze verify accepts the units (any warning fails), with
#     ExecStart pointed at the binaries just built;
#   - systemd-analyze security rates the server unit's exposure at most 2.0
#     (of 10) - the hardening cannot silently regress;
#   - the example server config starts the real autotm-server (a misspelled
#     key would stop it), serving /metrics;
#   - the environment files define every variable the units use.
# Exit 77 (ctest: skipped) only when systemd-analyze is not installed
# (deploy/install-deps.sh installs systemd, so CI runs it).
#
#   units_test.sh DEPLOY_DIR SERVER_BINARY AGENT_BINARY
set -euo pipefail

DEPLOY=$1
SERVER_BIN=$2
AGENT_BIN=$3
if ! command -v systemd-analyze >/dev/null; then
  echo "units_test: SKIP: systemd-analyze not installed (apt-get install systemd)"
  exit 77
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm-units.XXXXXX")
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "units_test: FAIL: $*" >&2; exit 1; }

UNITS=(autotm-server.service autotm-agent.service autotm-agent.timer)
for unit in "${UNITS[@]}"; do
  sed -e "s#/usr/local/bin/autotm-server#$SERVER_BIN#" \
      -e "s#/usr/local/bin/autotm-agent#$AGENT_BIN#" \
      "$DEPLOY/systemd/$unit" >"$WORK/$unit"
done
(cd "$WORK" && systemd-analyze verify "${UNITS[@]}") >"$WORK/verify.log" 2>&1 ||
  { cat "$WORK/verify.log"; fail "systemd-analyze verify"; }
[ ! -s "$WORK/verify.log" ] || { cat "$WORK/verify.log"; fail "systemd-analyze verify warned"; }
echo "units_test: systemd-analyze verify: ${UNITS[*]} OK"

(cd "$WORK" && systemd-analyze security --offline=yes --threshold=20 \
   autotm-server.service) >"$WORK/security.log" 2>&1 ||
  { cat "$WORK/security.log"; fail "autotm-server.service exposure above 2.0"; }
grep 'Overall exposure level' "$WORK/security.log" || true

# The environment files define what the units expand.
for pair in "autotm-server.service:autotm-server.env" \
            "autotm-agent.service:autotm-agent.env"; do
  unit=${pair%%:*}
  env=${pair##*:}
  for var in $(grep -o '\$[{]\?AUTOTM_[A-Z_]*' "$DEPLOY/systemd/$unit" |
               tr -d '${' | sort -u); do
    grep -q "^$var=" "$DEPLOY/config/$env" || fail "$env does not set $var ($unit uses it)"
  done
done
echo "units_test: environment files define the units' variables"

# The two-replica layout (deploy/config/replicas: one environment file per
# host for the same unit): each sets what the server unit expands, with
# flags autotm-server knows and a replica id of its own.
"$SERVER_BIN" --help >"$WORK/server-help.txt"
REPLICA_IDS=()
for env in "$DEPLOY"/config/replicas/*.env; do
  grep -q '^AUTOTM_SERVER_ARGS=' "$env" || fail "$env does not set AUTOTM_SERVER_ARGS"
  args=$(sed -n 's/^AUTOTM_SERVER_ARGS=//p' "$env")
  for flag in $(grep -o -- '--[a-z-]*' <<<"$args"); do
    grep -qE -- "${flag}([ ,=]|$)" "$WORK/server-help.txt" || fail "$env: autotm-server has no $flag"
  done
  grep -q -- '--db postgresql://' <<<"$args" || fail "$env: a replica needs --db postgresql://"
  REPLICA_IDS+=("$(grep -o -- '--replica-id [^ ]*' <<<"$args")")
done
[ "${#REPLICA_IDS[@]}" -ge 2 ] || fail "fewer than two replica environment files"
[ "$(printf '%s\n' "${REPLICA_IDS[@]}" | sort -u | wc -l)" -eq "${#REPLICA_IDS[@]}" ] ||
  fail "replica ids are not unique: ${REPLICA_IDS[*]}"
echo "units_test: the two-replica layout's environment files are consistent"

# The example config, with the addresses and the database made local.
"$SERVER_BIN" --config "$DEPLOY/config/server.conf" --listen 127.0.0.1:0 \
  --db "$WORK/autotm.db" --metrics-listen 127.0.0.1:0 \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 300); do
  ADDR=$(sed -n 's/^autotm-server listening on //p' "$WORK/server.out")
  [ -n "$ADDR" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; fail "server exited with the example config"; }
  sleep 0.1
done
[ -n "$ADDR" ] || fail "autotm-server did not listen with the example config"
grep -q '^autotm-server metrics on 127.0.0.1:' "$WORK/server.out" ||
  fail "no metrics line with the example config"
grep -q 'workers=2' "$WORK/server.log" || fail "the config's workers = 2 was not applied"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "autotm-server did not stop cleanly"
SERVER_PID=""
echo "units_test: the example config starts autotm-server"
echo "units_test: PASS"
