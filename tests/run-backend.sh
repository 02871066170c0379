#!/bin/sh
# Runs a test program once for one backend. The test's name says which:
#   tests/run/PROGRAM.BACKEND.test  runs  tests/PROGRAM with PROKIO_BACKEND=BACKEND
#   tests/run/backend-check.BACKEND.test  runs tools/prokio-backend-check on it
# (PROGRAM may contain a '/': conformance/conformance is written
# conformance~conformance). A backend that was not built is a TAP skip,
# never a silent pass. VALGRIND, when set, is the command to run under.
set -u
name=$(basename "$1" .test)
prog=$(echo "${name%.*}" | tr '~' '/')
backend=${name##*.}
: "${top_builddir:?run through make check}"
so="$top_builddir/backends/.libs/prokio-$backend.so"
if [ ! -f "$so" ]; then
    echo "1..0 # SKIP backend '$backend' was not built (configure did not find its library)"
    exit 0
fi
case "$backend:${VALGRIND:-}" in
uring:?*)
    echo "1..0 # SKIP valgrind cannot run io_uring programs (it blocks in io_uring_enter holding its lock); the sanitizer builds cover uring"
    exit 0 ;;
esac
PROKIO_BACKEND=$backend
export PROKIO_BACKEND
# The backend checker takes the shared object itself, as its users do.
if [ "$prog" = backend-check ]; then
    # shellcheck disable=SC2086
    exec ${VALGRIND:-} "$top_builddir/tools/prokio-backend-check" "$so"
fi
# shellcheck disable=SC2086
exec ${VALGRIND:-} "$top_builddir/tests/$prog"
