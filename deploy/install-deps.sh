#!/usr/bin/env bash
# Installs every build and test dependency of autotm from Debian 12 (bookworm)
# packages. Idempotent: re-running it on a machine that has everything is a
# fast no-op. Must run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  coinor-libcbc-dev
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev grpc-proto
  libabsl-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev zlib1g-dev libssl-dev
  libcpp-httplib-dev  # the /metrics endpoint (server/http_endpoint.h)
  systemd  # systemd-analyze: ctest deploy_units verifies deploy/systemd/*
  # The PostgreSQL store backend (libpqxx 6.4), and the server its tests
  # start in a temporary directory (initdb + pg_ctl, /usr/lib/postgresql/15/bin).
  libpqxx-dev postgresql
  openssl  # the openssl CLI: the TLS tests make a throwaway CA at run time
  libdnnl-dev ocl-icd-opencl-dev opencl-c-headers libnuma-dev  # profiler-agent (oneDNN 2.6; its CMake config needs OpenCL dev)
  python3  # /usr/bin/python3 for tests/e2e/cli_test.sh and tests/testdata/make_example.py
  libxml2-utils  # xmllint: the plan-picture tests check every SVG is well-formed XML
  chromium  # headless Chromium: e2e_dashboard_test loads the web dashboard (issue 23)
  # The autotm Python package (client/python): gRPC stubs, the _tiers
  # extension, and PyTorch capture/profiling on Debian's torch 1.13.
  python3-dev pybind11-dev python3-grpcio python3-protobuf python3-numpy
  python3-torch python3-torchvision
  # tests/fuzz/run.sh: libFuzzer targets and the unit tests under
  # AddressSanitizer + UndefinedBehaviorSanitizer (clang's runtimes).
  clang-14 libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
