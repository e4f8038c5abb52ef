#!/usr/bin/env bash
# clang-tidy 16 over every source in src/, with the checks in .clang-tidy (findings are errors),
# using the "fuzz" preset's compile commands (clang flags), copied to build/tidy/ so that a
# reconfigure of build/fuzz (scripts/fuzz.sh) while this runs cannot pull the file away.
#   scripts/tidy.sh [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset fuzz >/dev/null
mkdir -p build/tidy
cp build/fuzz/compile_commands.json build/tidy/compile_commands.json
if [ $# -gt 0 ]; then
  exec clang-tidy-16 -p build/tidy --quiet "$@"
fi
run-clang-tidy-16 -p build/tidy -j "$(nproc)" -quiet "$(pwd)/src/" >build/tidy/tidy.log 2>&1 \
  || { grep -E "(error|warning):" build/tidy/tidy.log | grep -v "warnings generated" | sort -u; exit 1; }
