#!/bin/sh
# examples/backend-poll/installcheck.sh: the path of backends/README.md, as a
# third-party backend author walks it, from an installed Prokio alone.
# `make installcheck` runs it after `make install` (so does `make distcheck`,
# on its own temporary prefix):
#
#   installcheck.sh EXAMPLE_DIR PKGCONFIGDIR BINDIR
#
# It copies the example out of the source tree, builds it with its own
# Makefile and pkg-config pointed at PKGCONFIGDIR, installs it into the
# backenddir that prokio-backend.pc names, then checks that the installed
# prokio-info finds it by name there and the installed prokio-backend-check
# passes it, and runs `$MAKE check-backend` on the installed file from the
# current directory (the build tree): the conformance suite and wake storm.
# Whatever happens, the backend is uninstalled again at the end. Prints TAP.
set -u
if [ $# -ne 3 ]; then
    echo "usage: $0 EXAMPLE_DIR PKGCONFIGDIR BINDIR" >&2
    exit 2
fi
example=$1
bindir=$3
PKG_CONFIG_PATH=$2
export PKG_CONFIG_PATH
# Only what is installed decides: no backend chosen or searched elsewhere.
unset PROKIO_BACKEND PROKIO_BACKEND_PATH PROKIO_BACKEND_DIR
: "${PKG_CONFIG:=pkg-config}"
: "${MAKE:=make}"

n=0
ok() {
    n=$((n + 1))
    echo "ok $n - $1"
}
# Ends the run at the first failure: each step needs the ones before it.
fail() {
    n=$((n + 1))
    echo "not ok $n - $1"
    shift
    for why in "$@"; do
        printf '%s\n' "$why" | sed 's/^/# /'
    done
    echo "1..$n"
    exit 1
}

installed=
tmp=$(mktemp -d "${TMPDIR:-/tmp}/prokio-backend-poll.XXXXXX") || exit 1
cleanup() {
    if [ -n "$installed" ]; then
        rm -f "$installed"
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# The example's own make, as its author runs it: without this build's flags.
example_make() {
    (unset MAKEFLAGS MFLAGS MAKELEVEL && cd "$tmp" && make "$@") >"$tmp/make.log" 2>&1
}

if ! "$PKG_CONFIG" --exists --print-errors prokio-backend 2>"$tmp/pc.log"; then
    fail "pkg-config finds prokio-backend in $PKG_CONFIG_PATH" "$(cat "$tmp/pc.log")"
fi
libs=$("$PKG_CONFIG" --libs prokio-backend)
[ -z "$libs" ] || fail "prokio-backend.pc has no libraries" "Libs: $libs (a backend never links libprokio)"
backenddir=$("$PKG_CONFIG" --variable=backenddir prokio-backend)
[ -n "$backenddir" ] || fail "prokio-backend.pc names a backenddir"
ok "pkg-config: prokio-backend $("$PKG_CONFIG" --modversion prokio-backend), backenddir $backenddir"

so=$backenddir/prokio-poll.so
if [ -e "$so" ]; then
    fail "$so is not there yet" "this check installs its own and never replaces yours"
fi

cp "$example/poll.c" "$example/Makefile" "$tmp/" || fail "copy the example to $tmp"
chmod u+w "$tmp/poll.c" "$tmp/Makefile"
# -Werror: the example stays free of -Wall -Wextra warnings.
example_make CFLAGS='-O2 -g -Werror' || fail "make (pkg-config --cflags prokio-backend)" "$(cat "$tmp/make.log")"
ok "the example builds against the installed header alone"

installed=$so
example_make install || fail "make install" "$(cat "$tmp/make.log")"
[ -f "$so" ] || fail "make install puts prokio-poll.so into backenddir" "no $so"
ok "make install: $so"

info=$("$bindir/prokio-info" 2>&1)
echo "$info" | awk -v so="$so" '
    $0 == "  poll" { found = 1; next }
    found { ok = $1 == "file:" && $2 == so; exit }
    END { exit !ok }' ||
    fail "the installed prokio-info lists poll, from $so" "$(echo "$info" | sed -n '/^backends found/,/^selection/p')"
abi=$(echo "$info" | sed -n 's/^backend ABI: //p')
[ "$abi" = "$("$PKG_CONFIG" --variable=abi_version prokio-backend)" ] ||
    fail "prokio-backend.pc's abi_version is the core's" "core: $abi"
started=$("$bindir/prokio-info" --backend poll 2>&1) ||
    fail "the installed prokio-info --backend poll starts a runtime" "$started"
ok "the installed prokio-info finds poll by name in backenddir and starts it"

"$bindir/prokio-backend-check" "$so" >"$tmp/check.log" 2>&1 ||
    fail "the installed prokio-backend-check passes it" \
        "$(grep -A8 -e '^not ok' -e '^Bail out' "$tmp/check.log")"
ok "the installed prokio-backend-check: $(grep -c '^ok' "$tmp/check.log") checks passed"

# The build tree's conformance suite and wake storm, through make check's
# TAP driver; its output is shown as it runs.
$MAKE check-backend BACKEND="$so" >&2 ||
    fail "make check-backend BACKEND=$so" "see check-backend.log"
ok "make check-backend: the conformance suite and wake storm pass on it"

example_make uninstall || fail "make uninstall" "$(cat "$tmp/make.log")"
[ ! -e "$so" ] || fail "make uninstall removes it" "$so is still there"
installed=
ok "make uninstall"
echo "1..$n"
