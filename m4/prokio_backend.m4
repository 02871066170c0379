# PROKIO_BACKEND(NAME, LIBRARY, PKG-CONFIG-SPEC)
# ----------------------------------------------
# --enable-backend-NAME=yes|no|auto (default auto). auto builds the backend
# when pkg-config finds LIBRARY; yes makes a missing LIBRARY an error; no skips
# it. Defines NAME_CFLAGS/NAME_LIBS (upper-case) and the automake conditional
# BACKEND_NAME, and records the choice for configure's summary.
AC_DEFUN([PROKIO_BACKEND], [
  m4_pushdef([UP], m4_toupper([$1]))
  AC_ARG_ENABLE([backend-$1],
    AS_HELP_STRING([--enable-backend-$1=@<:@yes|no|auto@:>@],
                   [build the $1 backend on $2 (default: auto)]),
    [], [enable_backend_$1=auto])
  have_backend_$1=no
  AS_CASE([$enable_backend_$1],
    [no], [],
    [yes|auto],
      [PKG_CHECK_MODULES(UP, [$3], [have_backend_$1=yes],
         [AS_IF([test "x$enable_backend_$1" = xyes],
            [AC_MSG_ERROR([--enable-backend-$1=yes, but $2 ($3) was not found: install its development package (Debian: see README) or use --enable-backend-$1=no])])])],
    [AC_MSG_ERROR([--enable-backend-$1 takes yes, no or auto, not '$enable_backend_$1'])])
  AM_CONDITIONAL([BACKEND_]UP, [test "x$have_backend_$1" = xyes])
  AS_IF([test "x$have_backend_$1" = xyes],
    [PROKIO_BACKENDS_BUILT="$PROKIO_BACKENDS_BUILT $1"],
    [PROKIO_BACKENDS_SKIPPED="$PROKIO_BACKENDS_SKIPPED $1"])
  m4_popdef([UP])
])
