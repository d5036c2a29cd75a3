#!/usr/bin/env bash
# C SDK: build libcopperline-ports, run its tests (normal, static, valgrind), the C++ header check
# and the install test (make install + examples built with pkg-config and run).
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in cc g++ make pkg-config valgrind; do
  command -v "$tool" >/dev/null || { echo "40-c: missing $tool (run scripts/setup.sh)" >&2; exit 1; }
done
pkg-config --exists jansson || { echo "40-c: jansson headers missing (run scripts/setup.sh)" >&2; exit 1; }
make -C sdk/c -s all
make -C sdk/c test
make -C sdk/c -s examples bench
