#!/usr/bin/env bash
# A longer libFuzzer campaign than CI's: every target for SECONDS each (default 600), JOBS at a
# time (default: the number of cores), from and into the committed corpus (tests/fuzz/corpus/, kept
# small with -set_cover_merge=1). Prints executions and CPU time per target and the campaign's CPU-hours;
# crashes land in build/fuzz/crashes/ (add each, once fixed, to its corpus folder as a regression).
#   bench/fuzz_campaign.sh [SECONDS] [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
jobs=${2:-$(nproc)}
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target ferry_fuzzers >/dev/null
work=$(mktemp -d /tmp/ferry-fuzz-campaign-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p build/fuzz/crashes
run_one() {
  local t=$1 exe=build/fuzz/tests/ferry_fuzz_$1
  mkdir -p "$work/$t" "tests/fuzz/corpus/$t"
  cp -r "tests/fuzz/corpus/$t/." "$work/$t/" 2>/dev/null || true
  local start end status=ok
  start=$(date +%s.%N)
  "$exe" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix=build/fuzz/crashes/"$t"- "$work/$t" >"$work/$t.log" 2>&1 || status=CRASH
  end=$(date +%s.%N)
  # Keep what found new coverage: the committed corpus becomes a small set covering all of it
  # (regression-* inputs, crashes once found, stay whatever they cover).
  mkdir -p "$work/$t.min"
  cp tests/fuzz/corpus/"$t"/regression-* "$work/$t.min/" 2>/dev/null || true
  "$exe" -set_cover_merge=1 "$work/$t.min" "tests/fuzz/corpus/$t" "$work/$t" >"$work/$t.merge.log" 2>&1 \
    && rm -rf "tests/fuzz/corpus/$t" && cp -r "$work/$t.min" "tests/fuzz/corpus/$t"
  local runs cov
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$work/$t.log" | tail -1 | cut -d' ' -f2)
  echo "$t $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}') ${runs:-0} ${cov:-0} $status" \
    >"$work/$t.result"
}
export -f run_one
export work seconds
ls build/fuzz/tests/ | sed -n 's/^ferry_fuzz_//p' | xargs -P "$jobs" -I{} bash -c 'run_one {}'
printf '%-20s %10s %14s %9s %s\n' target cpu_seconds executions coverage result
total=0
crashed=0
for r in "$work"/*.result; do
  read -r t secs runs cov status <"$r"
  printf '%-20s %10.0f %14s %9s %s\n' "$t" "$secs" "$runs" "$cov" "$status"
  total=$(awk -v a="$total" -v b="$secs" 'BEGIN{print a+b}')
  [ "$status" = ok ] || crashed=1
done
printf 'campaign: %.2f CPU-hours over %s targets, %s at a time\n' "$(awk -v t="$total" 'BEGIN{print t/3600}')" \
  "$(ls "$work"/*.result | wc -l)" "$jobs"
exit $crashed
