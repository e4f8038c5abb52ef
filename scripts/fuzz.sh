#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer (clang 16, ASan + UBSan): builds the "fuzz" preset and runs
# every target for SECONDS (default 10) from its committed corpus (tests/fuzz/corpus/<target>/),
# in a scratch copy so the repository is left alone. Any crash fails the run and its input is kept
# under build/fuzz/crashes/ for a regression file. CI runs this; bench/fuzz_campaign.sh runs longer.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
shift || true
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target ferry_fuzzers
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for exe in build/fuzz/tests/ferry_fuzz_*; do targets+=("${exe##*/ferry_fuzz_}"); done
fi
scratch=$(mktemp -d /tmp/ferry-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
mkdir -p build/fuzz/crashes
failed=0
printf '%-20s %10s %12s %8s %s\n' target seconds executions exec/s result
for t in "${targets[@]}"; do
  mkdir -p "$scratch/$t" "tests/fuzz/corpus/$t"
  cp -r "tests/fuzz/corpus/$t/." "$scratch/$t/" 2>/dev/null || true
  log="$scratch/$t.log"
  if build/fuzz/tests/ferry_fuzz_"$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
       -print_final_stats=1 -artifact_prefix=build/fuzz/crashes/"$t"- "$scratch/$t" >"$log" 2>&1; then
    result=ok
  else
    result=CRASH
    failed=1
    grep -E "ERROR|SUMMARY|runtime error" "$log" | head -5 >&2 || true
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  printf '%-20s %10s %12s %8s %s\n' "$t" "$seconds" "${runs:-?}" "${rate:-?}" "$result"
done
exit $failed
