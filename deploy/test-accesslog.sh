#!/usr/bin/env bash
# The access log as log analysers read it: runs the strela binary with the access log in a file,
# sends known traffic (answered, not found, and requests the core refuses, one of them a TLS
# ClientHello), rotates the file the logrotate way (rename + SIGUSR1), and has goaccess parse
# both files as COMMON: every line must be a valid request and the totals must match.
# Usage: deploy/test-accesslog.sh   (needs goaccess: apt-get install goaccess)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v goaccess >/dev/null || { echo "test-accesslog: goaccess is not installed"; exit 1; }
bin=target/release/strela
[ -x "$bin" ] || cargo build --release -p strela --bin strela
tmp=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "test-accesslog: $*" >&2; exit 1; }

"$bin" --bind 127.0.0.1 --port 0 --workers 1 --set log.access=true \
  --set "log.access_target=$tmp/access.log" 2>"$tmp/server.log" &
pid=$!
port=""
for _ in $(seq 100); do
  port=$(sed -n 's/.* addr=127.0.0.1:\([0-9]*\) .*/\1/p' "$tmp/server.log")
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || fail "the server did not start: $(cat "$tmp/server.log")"
raw() { printf "$1" | curl -s --max-time 2 "telnet://127.0.0.1:$port" >/dev/null || true; }
goaccess_totals() {  # file → "total valid failed"
  goaccess "$1" --log-format=COMMON --no-global-config -o "$tmp/report.json" >/dev/null 2>&1
  python3 -c "import json,sys; g=json.load(open(sys.argv[1]))['general']; print(g['total_requests'], g['valid_requests'], g['failed_requests'])" "$tmp/report.json"
}
wait_lines() {  # file n
  for _ in $(seq 100); do [ "$(wc -l <"$1" 2>/dev/null || echo 0)" -ge "$2" ] && return 0; sleep 0.05; done
  fail "$1 has $(wc -l <"$1") lines, expected $2"
}

for _ in 1 2 3; do curl -sf "http://127.0.0.1:$port/plaintext" >/dev/null; done
curl -s "http://127.0.0.1:$port/missing" >/dev/null
raw 'GET / HTTP/1.1\r\nBad Header\r\n\r\n'
raw '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n'
raw 'GET /x HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999\r\n\r\n'
wait_lines "$tmp/access.log" 7
mv "$tmp/access.log" "$tmp/access.log.1"
kill -USR1 "$pid"
for _ in $(seq 100); do [ -e "$tmp/access.log" ] && break; sleep 0.05; done
[ -e "$tmp/access.log" ] || fail "SIGUSR1 did not reopen the access log"
curl -sf "http://127.0.0.1:$port/json" >/dev/null
wait_lines "$tmp/access.log" 1

read -r total valid failed < <(goaccess_totals "$tmp/access.log.1")
[ "$total $valid $failed" = "7 7 0" ] || { cat "$tmp/access.log.1"; fail "goaccess read $total lines, $valid valid, $failed failed (want 7 7 0)"; }
read -r total valid failed < <(goaccess_totals "$tmp/access.log")
[ "$total $valid $failed" = "1 1 0" ] || { cat "$tmp/access.log"; fail "after rotation goaccess read $total/$valid/$failed (want 1 1 0)"; }
grep -q '" 400 ' "$tmp/access.log.1" || fail "refused requests are missing from the log"
grep -q '" 413 ' "$tmp/access.log.1" || fail "the 413 is missing from the log"
kill -TERM "$pid"; wait "$pid"; pid=""
echo "test-accesslog: goaccess parsed every line (7 before rotation, 1 after), refusals included"
