#!/usr/bin/env bash
# clang-tidy 16 over every source in src/, with the checks in .clang-tidy (findings are errors),
# using the "fuzz" preset's compile commands (clang flags).
#   scripts/tidy.sh [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset fuzz >/dev/null
if [ $# -gt 0 ]; then
  exec clang-tidy-16 -p build/fuzz --quiet "$@"
fi
run-clang-tidy-16 -p build/fuzz -j "$(nproc)" -quiet "$(pwd)/src/" >build/fuzz/tidy.log 2>&1 \
  || { grep -E "(error|warning):" build/fuzz/tidy.log | grep -v "warnings generated" | sort -u; exit 1; }
