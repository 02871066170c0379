#!/bin/sh
# tests/examples/echo-server.sh: examples/echo-server and examples/echo-client
# together, on each backend (TAP): the server starts on a port the kernel
# picks and announces it as ../shared/peers/run.sh expects; the client
# resolves "localhost", connects with a timeout and checks every byte it
# gets back; then SIGTERM must stop the server through its signal future
# with status 0, its connections closed.
#
#   ECHO_BACKENDS='uring event uv' tests/examples/echo-server.sh
set -u
dir=${top_builddir:-.}/examples
backends=${ECHO_BACKENDS:-uring event uv}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prokio-echo-XXXXXX") || exit 1
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
n=0
fail=0
count=0
for b in $backends; do count=$((count + 1)); done
echo "1..$count"

for b in $backends; do
    n=$((n + 1))
    : >"$tmp/out"
    : >"$tmp/err"
    # timeout: a server that ignores SIGTERM fails the test instead of
    # hanging make check.
    timeout 60 "$dir/echo-server" --workers 2 --backend "$b" 0 >"$tmp/out" 2>"$tmp/err" &
    server_pid=$!
    port=
    i=0
    while [ $i -lt 200 ]; do
        port=$(sed -n 's/.*listening=127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$tmp/out")
        [ -n "$port" ] && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.05
        i=$((i + 1))
    done
    if [ -z "$port" ]; then
        wait "$server_pid"
        rc=$?
        server_pid=
        sed 's/^/# /' "$tmp/out" "$tmp/err"
        if grep -q 'no usable backend\|cannot load\|not available' "$tmp/err"; then
            echo "ok $n - $b # SKIP the backend cannot run here"
        else
            echo "not ok $n - $b: the server did not announce its port (status $rc)"
            fail=1
        fi
        continue
    fi
    sed 's/^/# /' "$tmp/out"
    client=$(timeout 60 "$dir/echo-client" --connections 20 --messages 50 --size 3000 \
        --timeout-ms 5000 localhost "$port" 2>&1)
    client_rc=$?
    printf '%s\n' "$client" | sed 's/^/# /'
    kill -TERM "$server_pid"
    wait "$server_pid"
    rc=$?
    server_pid=
    sed 's/^/# /' "$tmp/err"
    if [ $client_rc -ne 0 ] || ! printf '%s\n' "$client" | grep -q 'ok=20 .*all echoed byte for byte'; then
        echo "not ok $n - $b: the client failed (status $client_rc)"
        fail=1
    elif [ $rc -ne 0 ]; then
        echo "not ok $n - $b: the server exited with status $rc after SIGTERM"
        fail=1
    elif ! grep -q 'SIGTERM: stopped after 20 connections, 3000000 bytes echoed' "$tmp/err"; then
        echo "not ok $n - $b: the server's last words are not the expected count"
        fail=1
    else
        echo "ok $n - $b: 20 connections echoed, SIGTERM stopped the server with status 0"
    fi
done
exit $fail
