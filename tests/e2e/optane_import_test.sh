#!/usr/bin/env bash
# End-to-end test of `autotm profiles import --format optane-jsonl` on AutoTM's
# real Optane measurements.
#
#   tests/e2e/optane_import_test.sh AUTOTM_BINARY DATA_DIR [AUTOTM_SERVER_BINARY]
#
# DATA_DIR holds fuzz_kernel_profiles.jsonl.gz (data/optane-2019 in the
# repository); without it the test prints SKIP and passes. Runs the real binary with --out and
# --coverage-graph (a zoo graph it exports itself), checks the text and JSON
# reports against each other and against the written profile, the default
# format's behaviour, and the messages for bad files. With an autotm-server
# binary it also uploads the profile to a server on 127.0.0.1:0 and reads
# the host class back. Prints one line per check and "N passed, M failed";
# exits 1 on any failure. Registered with ctest in tests/CMakeLists.txt.
set -uo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: $0 AUTOTM_BINARY DATA_DIR [AUTOTM_SERVER_BINARY]" >&2
  exit 2
fi
AUTOTM=$1
DATA=$2/fuzz_kernel_profiles.jsonl.gz
SERVER_BIN=${3:-}
PY=/usr/bin/python3
if [ ! -f "$DATA" ]; then
  echo "SKIP: no $DATA"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm_optane_import_test.XXXXXX")
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

# fail NAME WHY [FILE...]: the named files (the command's output) follow.
# expect NAME WANT_RC CMD...: runs CMD (stdout in $WORK/NAME.out, stderr in
# $WORK/NAME.err) and checks its exit code.
# expect_text NAME FILE TEXT: FILE contains TEXT (fixed string).
# check NAME PYTHON ARGS...: runs a python check; its stderr says why not.
check() {
  local name=$1 code=$2
  shift 2
  if "$PY" -c "$code" "$@" 2>"$WORK/$name.py.err"; then
    pass "$name"
  else
    fail "$name" "check failed" "$WORK/$name.py.err"
  fi
}

# --- help and flags ------------------------------------------------------
expect help 0 "$AUTOTM" profiles import --help &&
  expect_text help "$WORK/help.out" "optane-jsonl" &&
  expect_text help "$WORK/help.out" "Examples"
expect out_needs_format 1 "$AUTOTM" profiles import "$DATA" --out "$WORK/x.json" &&
  expect_text out_needs_format "$WORK/out_needs_format.err" "--format optane-jsonl"
expect bad_format 1 "$AUTOTM" profiles import --format csv "$DATA"

# --- the real file, with a zoo graph for coverage -------------------------
expect zoo_vgg19 0 "$AUTOTM" zoo export --model vgg19 --batch 16 --out "$WORK/vgg19.json"
PROFILE=$WORK/optane.profile.json
if expect import_text 0 "$AUTOTM" profiles import --format optane-jsonl "$DATA" \
    --out "$PROFILE" --coverage-graph "$WORK/vgg19.json"; then
  # The file's documented size (data/optane-2019/README.md).
  expect_text import_text "$WORK/import_text.out" "read 28045 measurements of 2068 kernels"
  expect_text import_text "$WORK/import_text.out" "NGRAPH OP"
  expect_text import_text "$WORK/import_text.out" "unmapped kernels by reason:"
  expect_text import_text "$WORK/import_text.out" "fused_in_theirs"
  expect_text import_text "$WORK/import_text.out" "coverage of vgg19-bs16"
  expect_text import_text "$WORK/import_text.out" "wrote host class optane-2019-measured"
fi
if expect import_json 0 "$AUTOTM" profiles import --format optane-jsonl "$DATA" \
    --out "$WORK/optane2.profile.json" --coverage-graph "$WORK/vgg19.json" \
    --host-class optane-measured --json; then
  check json_counts_add_up '
import json, sys
r = json.load(open(sys.argv[1]))
assert r["records"] == 28045 and r["kernels"] == 2068, (r["records"], r["kernels"])
unmapped = sum(r["unmappedKernels"].values())
assert r["mappedKernels"] + unmapped == r["kernels"], "mapped + unmapped != kernels"
for key in ("records", "kernels", "mappedKernels", "signatures", "configs"):
    total = sum(op[key] for op in r["ops"])
    assert total == r[key], f"ops {key} sum {total} != {r[key]}"
for op in r["ops"]:
    u = sum(op["unmappedKernels"].values())
    assert op["mappedKernels"] + u == op["kernels"], op["op"]
assert 0 < r["signatures"] <= r["mappedKernels"] < r["kernels"]
c = r["coverage"]
assert 0 < c["covered"] < c["signatures"] and c["complete"] is False, c
assert sum(o["signatures"] for o in c["ops"].values()) == c["signatures"]
' "$WORK/import_json.out"
  check json_matches_text '
import json, re, sys
r = json.load(open(sys.argv[1]))
text = open(sys.argv[2]).read()
m = re.search(r"mapped (\d+) kernels .* to (\d+) signatures of ours with (\d+) configurations", text)
assert m, "no summary line"
got = tuple(map(int, m.groups()))
want = (r["mappedKernels"], r["signatures"], r["configs"])
assert got == want, (got, want)
c = r["coverage"]
covered, total = c["covered"], c["signatures"]
assert f"{covered} of {total} signatures" in text, "coverage differs"
' "$WORK/import_json.out" "$WORK/import_text.out"
  check profile_file_is_the_report '
import json, re, sys
r = json.load(open(sys.argv[1]))
p = json.load(open(sys.argv[2]))
h = p["hostClass"]
assert h["name"] == "optane-measured", h
assert h["fastTierName"] == "DRAM" and h["slowTierName"] == "PMM", h
assert "AutoTM 2019" in h["fingerprint"], h
b = p["bandwidths"]
assert all(b[k] > 0 for k in ("slowToFastSyncGbPerS", "fastToSlowSyncGbPerS",
                              "slowToFastAsyncGbPerS", "fastToSlowAsyncGbPerS")), b
assert len(p["kernels"]) == r["signatures"]
configs = 0
keys = set()
for k in p["kernels"]:
    s = k["signature"]
    n_in, n_out = len(s["inputs"]), len(s.get("outputs", []))
    pattern = re.compile("^[FS]{%d}\\|[FS]{%d}$" % (n_in, n_out))
    seen = set()
    for c in k["configs"]:
        assert pattern.match(c["config"]), (s["op"], c["config"])
        assert c["config"] not in seen
        seen.add(c["config"])
        assert c.get("timeUs", 0) >= 0
    configs += len(k["configs"])
    key = json.dumps(s, sort_keys=True)
    assert key not in keys, "signature twice"
    keys.add(key)
assert configs == r["configs"], (configs, r["configs"])
' "$WORK/import_json.out" "$WORK/optane2.profile.json"
fi

# `solve` validates the written profile (solver::ProfileModel) and then,
# since the zoo graph is not fully covered, refuses to plan and lists the
# missing signatures (a bad profile would fail with its own message first).
expect solve_uncovered 1 "$AUTOTM" solve --graph "$WORK/vgg19.json" \
  --profile "$PROFILE" --budget 50% &&
  expect_text solve_uncovered "$WORK/solve_uncovered.err" "sgd_update"

# --- bad inputs ------------------------------------------------------------
good_line=$(zcat "$DATA" | head -n 1)
printf '%s\n\n{"op": \n' "$good_line" >"$WORK/bad_line.jsonl"
expect bad_line 1 "$AUTOTM" profiles import --format optane-jsonl \
  "$WORK/bad_line.jsonl" --out "$WORK/bad.json" &&
  expect_text bad_line "$WORK/bad_line.err" "$WORK/bad_line.jsonl:3:"
printf '%s\n' "${good_line/DRAM/NVME}" >"$WORK/bad_tier.jsonl"
expect bad_tier 1 "$AUTOTM" profiles import --format optane-jsonl \
  "$WORK/bad_tier.jsonl" --out "$WORK/bad.json" &&
  expect_text bad_tier "$WORK/bad_tier.err" "$WORK/bad_tier.jsonl:1:"
head -c 20000 "$DATA" >"$WORK/truncated.jsonl.gz"
expect bad_gzip 1 "$AUTOTM" profiles import --format optane-jsonl \
  "$WORK/truncated.jsonl.gz" --out "$WORK/bad.json" &&
  expect_text bad_gzip "$WORK/bad_gzip.err" "$WORK/truncated.jsonl.gz"
if [ -e "$WORK/bad.json" ]; then
  fail no_output_on_error "a failed import wrote --out"
else
  pass no_output_on_error
fi
# The default format is still a v1.Profile JSON file: the measurements are not.
expect default_format 1 "$AUTOTM" profiles import "$DATA" --server 127.0.0.1:1

# --- upload to a real server (when its binary is given) ---------------------
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
  if [ -z "$ADDR" ]; then
    fail server_start "autotm-server did not report its port" "$WORK/server.err"
  else
    pass "server_start ($ADDR)"
    if expect upload 0 "$AUTOTM" profiles import --format optane-jsonl "$DATA" \
        --server "$ADDR"; then
      expect_text upload "$WORK/upload.out" "imported into host class optane-2019-measured"
    fi
    if expect upload_show 0 "$AUTOTM" profiles show optane-2019-measured --server "$ADDR" --json; then
      check upload_has_every_signature '
import json, sys
s = json.load(open(sys.argv[1]))
p = json.load(open(sys.argv[2]))
assert int(s["signatures"]) == len(p["kernels"]), (s["signatures"], len(p["kernels"]))
assert int(s["configs"]) == sum(len(k["configs"]) for k in p["kernels"])
' "$WORK/upload_show.out" "$PROFILE"
    fi
    # Same measurements again: nothing new.
    expect upload_again 0 "$AUTOTM" profiles import --format optane-jsonl "$DATA" \
      --server "$ADDR" --out "$WORK/again.json" --upload &&
      expect_text upload_again "$WORK/upload_again.out" " 0 accepted"
  fi
else
  echo "(no autotm-server binary given: upload not tested)"
fi

echo
finish
