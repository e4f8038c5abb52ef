#!/usr/bin/env bash
# Sets up (packages, release and ASan+UBSan builds) and runs every test: unit and loopback
# integration tests (the real binary and server, Chromium) in the ASan+UBSan build, clang-tidy,
# libFuzzer, the unit tests and the .deb in the release build, then the network lab (release).
#
# On two cores the builds are most of the time, so the work is ordered to keep both busy: the
# release build first; then, while the release tests and the network lab run (they mostly wait
# on sockets and delays), the sanitized builds (ASan+UBSan, then libFuzzer's, at nice 10) and
# clang-tidy (nice 19, after them) run beside them on the cycles the tests leave idle, so a
# test's timing is not at their mercy. The ASan+UBSan tests follow once their build is done.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build
rm -f build/asan.built build/fuzz.built

echo "== clang-tidy 16 over src/ (.clang-tidy; findings are errors): started in the background"
setsid nice -n 19 scripts/tidy.sh >build/tidy.out 2>&1 &
tidy_pid=$!
echo "== ASan+UBSan build, then the libFuzzer build (clang 16): started in the background"
setsid nice -n 10 bash -c '
  set -e
  cmake --preset asan >/dev/null
  cmake --build --preset asan
  touch build/asan.built
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz --target ferry_fuzzers
  touch build/fuzz.built' >build/sanitized-builds.out 2>&1 &
builds_pid=$!
trap 'kill -- "-$tidy_pid" "-$builds_pid" 2>/dev/null || true' EXIT

# Waits until the background builds made $1; fails the run, with their log, if they stopped first.
built() {
  local start
  start=$(date +%s)
  while [ ! -e "$1" ]; do
    if ! kill -0 "$builds_pid" 2>/dev/null && [ ! -e "$1" ]; then
      tail -60 build/sanitized-builds.out
      echo "the sanitized builds failed (build/sanitized-builds.out)"
      exit 1
    fi
    sleep 2
  done
  echo "(waited $(( $(date +%s) - start )) s for $1)"
}

echo "== unit tests, the fuzz corpus and the .deb, release build"
ctest --preset release -L "unit|package" --output-on-failure
echo "== network lab: router self-checks (must pass)"
ctest --preset release -L lab-selfcheck --output-on-failure
echo "== network lab: docs/scenarios.md rows (rows not built yet fail here; see the table)"
rm -f build/release/lab-results.jsonl
ctest --preset release -L lab-scenario --output-on-failure || true
python3 tests/lab/report.py build/release/lab-results.jsonl tests/lab/expected_pass.txt

echo "== unit and loopback tests, ASan + UBSan build"
built build/asan.built
# fuzz.smoke replays the committed corpus; libFuzzer below replays the same under ASan + UBSan.
# Two at a time: the loopback tests mostly wait on sockets (about 1.4 cores busy in all). A test
# that fails beside another is run again alone; a failure then fails the run, a pass is reported
# as sensitive to load, never hidden.
if ! ctest --preset asan -LE "lab|package" -E '^fuzz\.smoke$' -j2 --output-on-failure; then
  echo "== again, one at a time: the tests that failed beside another"
  ctest --preset asan -LE "lab|package" -E '^fuzz\.smoke$' --rerun-failed --output-on-failure
  echo "WARNING: the tests above failed when run two at a time and passed alone (load-sensitive)"
fi
echo "== libFuzzer (clang 16, ASan + UBSan): every target for 6 s from its committed corpus (bench/fuzz_campaign.sh runs longer)"
built build/fuzz.built
scripts/fuzz.sh 6
echo "== clang-tidy 16 over src/ (started before the tests)"
start=$(date +%s)
if ! wait "$tidy_pid"; then
  cat build/tidy.out
  echo "clang-tidy found the problems above"
  exit 1
fi
echo "clang-tidy clean (waited $(( $(date +%s) - start )) s for it after the tests)"
