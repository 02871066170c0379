#!/bin/sh
# tests/wasm/get-cmocka.sh DIR: builds DIR/libcmocka.a and DIR/cmocka/
# (cmocka.h) for WebAssembly from Debian's cmocka source package, for the
# wasm `make check` (tests/wasm/Makefile.inc). Nothing of cmocka is kept in
# the repository; the source is fetched once and cached in DIR/cmocka-src.
#
# Environment: CC (emcc), AR (emar), RANLIB (emranlib), given by make.
#
# Why not cmocka's own CMake build: under emcmake it takes minutes and then
# fails on a uintptr_t clash (../shared/notes/wasm.md). cmocka is one source
# file; it is compiled here with -D_UINTPTR_T (emscripten's stdint.h defines
# uintptr_t, which cmocka.h would define again) and a config.h that says
# what emscripten's libc has.
#
# Fetching, in order: `apt-get source` with a private apt configuration
# (a deb-src entry for this Debian release in DIR, no root needed, the
# signature of the archive checked by apt); if that fails, the upstream
# tarball of the package from deb.debian.org's pool, checked against the
# SHA-256 that Debian's cmocka_1.1.5-2.1.dsc records.
set -eu

dir=${1:?usage: get-cmocka.sh BUILD-DIR}
version=1.1.5
debversion=1.1.5-2.1
orig=cmocka_$version.orig.tar.xz
orig_sha256=f0ccd8242d55e2fd74b16ba518359151f6f8383ff8aef4976e48393f77bba8b6
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CC=${CC:-emcc}
AR=${AR:-emar}
RANLIB=${RANLIB:-emranlib}

mkdir -p "$dir"
cache=$(cd "$dir" && pwd)/cmocka-src
src=$cache/cmocka-$version

fetch_apt() {
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    [ -n "$codename" ] || return 1
    apt=$cache/apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$cache/dl"
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    echo "deb-src [signed-by=$keyring] $mirror $codename main" >"$apt/sources.list"
    set -- -o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts=- \
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" \
        -o APT::Sandbox::User="$(id -un)" -q
    apt-get "$@" update >"$apt/update.log" 2>&1 || return 1
    (cd "$cache/dl" && apt-get "$@" source --download-only "cmocka=$debversion") \
        >"$apt/source.log" 2>&1 || return 1
    mv "$cache/dl/$orig" "$cache/$orig"
}

fetch_pool() {
    url=$mirror/pool/main/c/cmocka/$orig
    if command -v curl >/dev/null; then
        curl -fsSL -o "$cache/$orig.part" "$url"
    else
        wget -q -O "$cache/$orig.part" "$url"
    fi && mv "$cache/$orig.part" "$cache/$orig"
}

if [ ! -f "$src/src/cmocka.c" ]; then
    mkdir -p "$cache"
    if [ ! -f "$cache/$orig" ]; then
        fetch_apt || {
            echo "get-cmocka.sh: apt-get source cmocka failed (see $cache/apt/*.log);" \
                "downloading $orig from $mirror" >&2
            fetch_pool
        }
    fi
    echo "$orig_sha256  $cache/$orig" | sha256sum -c --quiet - || {
        echo "get-cmocka.sh: $cache/$orig is not Debian's $orig; remove it and retry" >&2
        exit 1
    }
    rm -rf "$src"
    tar -C "$cache" -xJf "$cache/$orig"
    # cmocka 1.1.5 reports a skipped test as "not ok N # SKIP", which the TAP
    # specification and automake's driver count as a failure (TAP: a skip is
    # "ok N # SKIP"). A one-line change, checked:
    sed -i 's/print_message("not ok %u # SKIP %s\\n"/print_message("ok %u # SKIP %s\\n"/' \
        "$src/src/cmocka.c"
    grep -q 'print_message("ok %u # SKIP %s\\n"' "$src/src/cmocka.c" || {
        echo "get-cmocka.sh: the skip line of $src/src/cmocka.c was not found" >&2
        exit 1
    }
fi

# What cmocka's CMake checks would find in emscripten's libc.
cat >"$cache/config.h" <<'EOF'
#define HAVE_INTTYPES_H 1
#define HAVE_MALLOC_H 1
#define HAVE_SIGNAL_H 1
#define HAVE_STRINGS_H 1
#define HAVE_STRUCT_TIMESPEC 1
#define HAVE_CLOCK_REALTIME 1
#define HAVE_GCC_THREAD_LOCAL_STORAGE 1
EOF

mkdir -p "$dir/cmocka"
cp "$src/include/cmocka.h" "$dir/cmocka/cmocka.h"
$CC -w -O1 -DHAVE_CONFIG_H -D_UINTPTR_T -I"$cache" -I"$src/include" \
    -c "$src/src/cmocka.c" -o "$dir/cmocka.o"
rm -f "$dir/libcmocka.a"
$AR cr "$dir/libcmocka.a" "$dir/cmocka.o"
$RANLIB "$dir/libcmocka.a"
rm -f "$dir/cmocka.o"
