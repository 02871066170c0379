#!/bin/sh
# Runs a test program once for one backend.
#
#   run-backend.sh tests/run/PROGRAM.BACKEND.test     (make check)
#       runs PROGRAM with the build tree's backends/.libs/prokio-BACKEND.so
#       (BACKEND uring-emulated: prokio-uring.so with PROKIO_URING_NATIVE=0),
#       or with the file named on a line `backend=/path/to/prokio-BACKEND.so`
#       of the .test file (make check-backend BACKEND=... writes those).
#   run-backend.sh PROGRAM /path/to/prokio-NAME.so    (by hand)
#       the same for a backend file built anywhere, e.g.
#       tests/run-backend.sh conformance/conformance ../mine/prokio-mine.so
#
# PROGRAM is backend-check (tools/prokio-backend-check, which takes the shared
# object itself, as its users do) or a test program under tests/, which gets
# PROKIO_BACKEND=BACKEND for a build-tree backend (found by name, as
# applications find theirs) or the file's path otherwise. In test names, a
# '/' in PROGRAM is written '~' (conformance~conformance). A build-tree
# backend that was not built is a TAP skip, never a silent pass; a named file
# that is missing is an error. VALGRIND, when set, is the command to run
# under.
set -u
request=
if [ $# -eq 2 ]; then
    prog=$1
    so=$2
    # By hand from an in-tree build; an out-of-tree one sets top_builddir.
    : "${top_builddir:=$(cd "$(dirname "$0")/.." && pwd)}"
    : "${CMOCKA_MESSAGE_OUTPUT:=TAP}"
    export CMOCKA_MESSAGE_OUTPUT
elif [ $# -eq 1 ]; then
    name=$(basename "$1" .test)
    prog=$(echo "${name%.*}" | tr '~' '/')
    : "${top_builddir:?run through make check, or give PROGRAM and a backend file}"
    so=$(sed -n 's/^backend=//p' "$1")
    if [ -z "$so" ]; then
        backend=${name##*.}
        # BACKEND-emulated: the backend with its native operations off
        # (PROKIO_URING_NATIVE=0 for uring), so both paths are tested.
        case $backend in
        uring-emulated)
            backend=uring
            PROKIO_URING_NATIVE=0
            export PROKIO_URING_NATIVE ;;
        esac
        so="$top_builddir/backends/.libs/prokio-$backend.so"
        if [ ! -f "$so" ]; then
            echo "1..0 # SKIP backend '$backend' was not built (configure did not find its library)"
            exit 0
        fi
        # By name, as applications ask: the loader's search finds it in
        # backends/.libs (PROKIO_BACKEND_PATH, set by make check).
        request=$backend
    fi
else
    echo "usage: $0 tests/run/PROGRAM.BACKEND.test" >&2
    echo "       $0 PROGRAM /path/to/prokio-NAME.so" >&2
    exit 2
fi
if [ ! -f "$so" ]; then
    echo "Bail out! backend file $so does not exist"
    exit 1
fi
# A path with a '/' is a file to the core, a bare word a backend name.
case $so in
*/*) ;;
*) so=./$so ;;
esac
backend=$(basename "$so" .so)
backend=${backend#prokio-}
case "$backend:${VALGRIND:-}" in
uring:?*)
    echo "1..0 # SKIP valgrind cannot run io_uring programs (it blocks in io_uring_enter holding its lock); the sanitizer builds cover uring"
    exit 0 ;;
esac
PROKIO_BACKEND=${request:-$so}
export PROKIO_BACKEND
if [ "$prog" = backend-check ]; then
    # shellcheck disable=SC2086
    exec ${VALGRIND:-} "$top_builddir/tools/prokio-backend-check" "$so"
fi
if [ ! -x "$top_builddir/tests/$prog" ]; then
    echo "Bail out! $top_builddir/tests/$prog is not built (make check builds it)"
    exit 1
fi
# shellcheck disable=SC2086
exec ${VALGRIND:-} "$top_builddir/tests/$prog"
