#!/usr/bin/env bash
# Integration test of the deployment shape: nginx in front of two strela instances on
# 127.0.0.1; load through nginx with wrk; one instance is stopped gracefully (SIGTERM) in the
# middle; no request may fail. Installs nginx and wrk when missing (needs root for that).
# Usage: deploy/test-nginx.sh [seconds]   (run from anywhere; builds the release binary)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-6}

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || { echo "test-nginx: $1 is missing and cannot be installed (not root)"; exit 1; }
  (apt-get update -qq && apt-get install -y -qq "$2") >/dev/null 2>&1 || { echo "test-nginx: cannot install $2"; exit 1; }
}
need nginx nginx
need wrk wrk
NGINX=$(command -v nginx)

cargo build --release -p strela --bin strela >/dev/null 2>&1
bin=target/release/strela
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
a=$(free_port); b=$(free_port); front=$(free_port)

"$bin" --bind 127.0.0.1 --port "$a" --workers 1 --set server.drain_idle_grace_ms=1000 \
  >/dev/null 2>"$work/a.log" &
pa=$!
pids+=("$pa")
"$bin" --bind 127.0.0.1 --port "$b" --workers 1 --set server.drain_idle_grace_ms=1000 \
  >/dev/null 2>"$work/b.log" &
pb=$!
pids+=("$pb")

mkdir -p "$work/nginx/logs"
cat >"$work/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  upstream strela {
    server 127.0.0.1:$a max_fails=1 fail_timeout=2s;
    server 127.0.0.1:$b max_fails=1 fail_timeout=2s;
    keepalive 32;
  }
  server {
    listen 127.0.0.1:$front;
    location / {
      proxy_pass http://strela;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_next_upstream error timeout http_503;
      proxy_next_upstream_tries 2;
      proxy_connect_timeout 1s;
    }
  }
}
CONF
"$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 &
pids+=($!)

for port in "$a" "$b" "$front"; do
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/plaintext" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
curl -fsS "http://127.0.0.1:$front/plaintext" >/dev/null

echo "test-nginx: nginx :$front -> strela :$a (pid $pa), :$b (pid $pb); wrk ${secs}s, SIGTERM :$a after 2 s"
wrk -t1 -c32 -d"${secs}s" "http://127.0.0.1:$front/plaintext" >"$work/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 2
kill -TERM "$pa"
status_a=0
wait "$pa" || status_a=$?
wait "$wrk_pid"
cat "$work/wrk.txt"

served_b=$(curl -fsS "http://127.0.0.1:$b/metrics" | awk '/^strela_responses_total\{class="2xx"\}/ {print $2}')
fail=0
if [ "$status_a" != 0 ]; then echo "FAIL: the stopped instance exited $status_a"; fail=1; fi
if grep -q "Socket errors" "$work/wrk.txt"; then echo "FAIL: wrk saw socket errors"; fail=1; fi
if grep -q "Non-2xx" "$work/wrk.txt"; then echo "FAIL: wrk saw non-2xx responses"; fail=1; fi
total=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
if [ -z "$total" ] || [ "$total" -lt 1000 ]; then echo "FAIL: too few requests ($total)"; fail=1; fi
if [ -z "$served_b" ] || [ "${served_b%.*}" -lt 1000 ]; then echo "FAIL: the remaining instance served too little ($served_b)"; fail=1; fi
echo "test-nginx: $total requests through nginx (socket errors and non-2xx checked above: fail=$fail); :$a exited $status_a; :$b answered $served_b"
grep -h 'msg="stopping"\|msg="stopped"' "$work/a.log" || true
exit $fail
