#!/usr/bin/env bash
# Sets up (packages, release and ASan+UBSan builds) and runs every test in both builds: unit tests,
# then the loopback integration tests with the real binary and server.
set -euo pipefail
cd "$(dirname "$0")/.."
FERRY_ASAN=1 scripts/setup.sh
echo "== all tests, ASan + UBSan build"
ctest --preset asan --output-on-failure
echo "== all tests, release build"
ctest --preset release --output-on-failure
