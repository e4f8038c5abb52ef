#!/usr/bin/env bash
# The main job on its embedded default: set up, start a local `ferry serve` on loopback, send a
# generated file from one ferry process to another, and show the code, the progress and the
# verified result. Usage: scripts/demo.sh [FILE]   (default: 256 MB of random bytes)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
FERRY="$PWD/build/release/src/cli/ferry"

work=$(mktemp -d /tmp/ferry-demo-XXXXXX)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ $# -ge 1 ]; then
  file=$(realpath "$1")
else
  file="$work/demo-256MB.bin"
  head -c $((256 * 1024 * 1024)) /dev/urandom > "$file"
fi
mkdir -p "$work/received"

"$FERRY" serve --listen 127.0.0.1:0 > "$work/server.out" 2>&1 &
server_pid=$!
for _ in $(seq 50); do grep -q "public URL" "$work/server.out" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^public URL: //p' "$work/server.out")
echo "== ferry serve is running at $url"

echo "== sender: ferry send $(basename "$file")"
"$FERRY" send --server "$url" "$file" > "$work/send.out" 2>&1 &
send_pid=$!
for _ in $(seq 100); do grep -q "ferry receive" "$work/send.out" 2>/dev/null && break; sleep 0.1; done
cat "$work/send.out"
code=$(sed -n 's/^ *ferry receive \(--server [^ ]* \)\{0,1\}//p' "$work/send.out")

echo "== receiver: ferry receive --yes $code"
(cd "$work/received" && script -qfec "$FERRY receive --server $url --yes $code" /dev/null)
wait "$send_pid"
sed -n '4,$p' "$work/send.out"

echo "== checking the received bytes"
if cmp "$file" "$work/received/$(basename "$file")"; then
  echo "OK: $(basename "$file") arrived intact ($(stat -c %s "$file") bytes, identical)."
else
  echo "FAILED: the received file differs" >&2
  exit 1
fi
