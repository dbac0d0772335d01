#!/usr/bin/env bash
# cmake --install into a temporary prefix, then what an operator and a
# downstream C++ project do with it (docs/OPERATIONS.md):
#   - the binaries, the client library, its header, the generated headers,
#     the .proto files, the CMake package and the pkg-config file are there;
#   - no installed header reaches into server/;
#   - a project outside the tree (tests/install/consumer) builds with
#     find_package(autotm) -> autotm::client, and once more with
#     pkg-config autotm-client;
#   - the installed autotm-server starts (its solve worker beside it) and
#     both consumers get its version and health over gRPC.
#
#   install_test.sh BUILD_DIR CONSUMER_SOURCE_DIR
set -euo pipefail

BUILD_DIR=$1
CONSUMER_SRC=$2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/autotm-install.XXXXXX")
PREFIX=$WORK/prefix
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "install_test: FAIL: $*" >&2; exit 1; }

cmake --install "$BUILD_DIR" --prefix "$PREFIX" >"$WORK/install.log" ||
  { cat "$WORK/install.log"; fail "cmake --install"; }

# The library directory as GNUInstallDirs chose it (lib, or lib/<multiarch>
# for a /usr prefix).
LIBDIR=$(dirname "$(find "$PREFIX" -name libautotm_client.a | head -n 1)")
[ -n "$LIBDIR" ] && [ -d "$LIBDIR" ] || fail "no libautotm_client.a installed"

for f in bin/autotm bin/autotm-server bin/autotm-solve-worker bin/autotm-agent \
         include/autotm/client/client.h \
         include/autotm/v1/plan.pb.h include/autotm/v1/placement_service.pb.h \
         include/autotm/v1/placement_service.grpc.pb.h \
         share/autotm/proto/autotm/v1/plan.proto \
         share/autotm/proto/autotm/v1/placement_service.proto; do
  [ -e "$PREFIX/$f" ] || fail "$f not installed"
done
for f in libautotm_client.a libautotm_solver.a libautotm_status_convert.a \
         libautotm_grpc_proto.a libautotm_proto.a cmake/autotm/autotmConfig.cmake \
         cmake/autotm/autotmConfigVersion.cmake cmake/autotm/autotmTargets.cmake \
         pkgconfig/autotm-client.pc; do
  [ -e "$LIBDIR/$f" ] || fail "$LIBDIR/$f not installed"
done
# The client's public surface must not need anything of server/.
if grep -rn '"server/' "$PREFIX/include"; then
  fail "an installed header includes server/"
fi
if grep -q '/server' "$LIBDIR"/cmake/autotm/autotmTargets*.cmake; then
  fail "the exported targets reference server/"
fi
echo "install_test: installed tree OK under $PREFIX"

# 1. CMake: find_package(autotm) -> autotm::client.
cmake -S "$CONSUMER_SRC" -B "$WORK/consumer-cmake" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$PREFIX" >"$WORK/consumer-configure.log" 2>&1 ||
  { cat "$WORK/consumer-configure.log"; fail "consumer configure"; }
cmake --build "$WORK/consumer-cmake" -j2 >"$WORK/consumer-build.log" 2>&1 ||
  { cat "$WORK/consumer-build.log"; fail "consumer build (CMake)"; }
echo "install_test: consumer built with find_package(autotm)"

# 2. pkg-config autotm-client.
export PKG_CONFIG_PATH="$LIBDIR/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
PC_FLAGS=$(pkg-config --cflags --libs autotm-client) ||
  fail "pkg-config autotm-client"
case "$PC_FLAGS" in
  *"$PREFIX"*) ;;
  *) fail "pkg-config flags do not point into the prefix: $PC_FLAGS" ;;
esac
# shellcheck disable=SC2086  # the flags are words
c++ -std=c++20 -O1 "$CONSUMER_SRC/main.cc" -o "$WORK/consumer-pc" $PC_FLAGS \
  >"$WORK/consumer-pc.log" 2>&1 ||
  { cat "$WORK/consumer-pc.log"; fail "consumer build (pkg-config)"; }
echo "install_test: consumer built with pkg-config autotm-client"

# 3. The installed server, asked by both consumers.
"$PREFIX/bin/autotm-server" --listen 127.0.0.1:0 --db "$WORK/autotm.db" \
  >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 300); do
  ADDR=$(sed -n 's/^autotm-server listening on //p' "$WORK/server.out")
  [ -n "$ADDR" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log"; fail "server exited"; }
  sleep 0.1
done
[ -n "$ADDR" ] || fail "the installed autotm-server did not listen"
for consumer in "$WORK/consumer-cmake/consumer" "$WORK/consumer-pc"; do
  out=$("$consumer" "$ADDR") || fail "$consumer $ADDR"
  echo "$out"
  case "$out" in
    "consumer: autotm-server "*", serving") ;;
    *) fail "unexpected output from $consumer: $out" ;;
  esac
done
kill -TERM "$SERVER_PID"
wait "$SERVER_PID" || fail "the installed autotm-server did not stop cleanly"
SERVER_PID=""
echo "install_test: PASS"
