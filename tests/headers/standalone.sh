#!/bin/sh
# tests/headers/standalone.sh: every installed header compiles on its own,
# as C (C11) and as C++ (C++11), with warnings as errors, with the compilers
# configure found (gcc/g++ by default; clang/clang++ in CI's sanitizer
# builds). TAP output; run by `make check` with CC, CXX and HEADERS set.
set -u
: "${top_srcdir:?run through make check}"
: "${top_builddir:?run through make check}"
tmp=${TMPDIR:-/tmp}/prokio-headers.$$
mkdir -p "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT
n=0
for lang in c c++; do
    for h in $HEADERS; do
        n=$((n + 1))
    done
done
echo "1..$n"
i=0
for lang in c c++; do
    if [ "$lang" = c ]; then
        cc=${CC:-cc} std=-std=c11
    else
        cc=${CXX:-c++} std=-std=c++11
    fi
    for h in $HEADERS; do
        i=$((i + 1))
        name=${h#include/}
        printf '#include <%s>\n#include <%s>\n' "$name" "$name" >"$tmp/one.$lang"
        if $cc -x "$lang" $std -Wall -Wextra -Werror -pedantic -Wno-variadic-macros \
            -I"$top_srcdir/include" -I"$top_builddir/include" \
            -fsyntax-only "$tmp/one.$lang" >"$tmp/out" 2>&1; then
            echo "ok $i - $name alone, twice, as $lang ($cc)"
        else
            echo "not ok $i - $name alone, twice, as $lang ($cc)"
            sed 's/^/# /' "$tmp/out"
        fi
    done
done
