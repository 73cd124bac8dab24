#!/usr/bin/env bash
# Installs libstrela into a temporary prefix the way a packager would (`make install PREFIX=…`),
# then builds ffi/examples/hello.c against the installed copy with nothing but pkg-config, runs
# it, checks what it links, and uninstalls. Exits non-zero on the first thing that is wrong.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
prefix="$tmp/prefix"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "install-check: $*" >&2; exit 1; }

make -s -C "$root/ffi" install PREFIX="$prefix"
abi=$(sed -n 's/^#define STRELA_ABI_VERSION \([0-9]*\)/\1/p' "$root/ffi/include/strela.h")
for f in "lib/libstrela.so.$abi" lib/libstrela.so lib/libstrela.a include/strela.h lib/pkgconfig/strela.pc; do
  [ -e "$prefix/$f" ] || fail "missing $f"
done
[ "$(readlink "$prefix/lib/libstrela.so")" = "libstrela.so.$abi" ] || fail "libstrela.so is not a link to libstrela.so.$abi"
readelf -d "$prefix/lib/libstrela.so.$abi" | grep -q "Library soname: \[libstrela.so.$abi\]" \
  || fail "SONAME is not libstrela.so.$abi"
if grep -q rpath "$prefix/lib/pkgconfig/strela.pc"; then fail "installed strela.pc carries an rpath"; fi
grep -q "^prefix=$prefix\$" "$prefix/lib/pkgconfig/strela.pc" || fail "strela.pc has the wrong prefix"

# The documented way a C program builds against an installed strela: plain pkg-config.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror "$root/ffi/examples/hello.c" $(pkg-config --cflags --libs strela) -o "$tmp/hello"
readelf -d "$tmp/hello" | grep -q "Shared library: \[libstrela.so.$abi\]" || fail "hello does not need libstrela.so.$abi"
if readelf -d "$tmp/hello" | grep -Eq "RPATH|RUNPATH"; then fail "hello carries an rpath"; fi
# Static: the archive and the private libraries pkg-config names.
cc -std=c11 -Wall -Wextra -Werror "$root/ffi/examples/hello.c" $(pkg-config --cflags strela) \
  "$prefix/lib/libstrela.a" $(pkg-config --static --libs-only-l strela | sed 's/-lstrela//') -o "$tmp/hello-static"
if readelf -d "$tmp/hello-static" | grep -q libstrela; then fail "hello-static needs libstrela.so"; fi

for bin in hello hello-static; do
  LD_LIBRARY_PATH="$prefix/lib" "$tmp/$bin" 0 1 >"$tmp/$bin.out" 2>&1 &
  pid=$!
  port=""
  for _ in $(seq 100); do
    port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$tmp/$bin.out")
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || fail "$bin did not start: $(cat "$tmp/$bin.out")"
  body=$(curl -sf "http://127.0.0.1:$port/plaintext") || fail "$bin: GET /plaintext failed"
  [ "$body" = "Hello, World!" ] || fail "$bin: unexpected body: $body"
  kill -TERM "$pid"
  wait "$pid" || fail "$bin did not exit cleanly on SIGTERM"
  pid=""
  echo "install-check: $bin built against the installed library serves /plaintext"
done

make -s -C "$root/ffi" uninstall PREFIX="$prefix"
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || fail "uninstall left: $left"
echo "install-check: install, pkg-config build, run and uninstall all fine"
