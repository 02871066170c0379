/* tests/wasm/cmocka/config.h: what cmocka's CMake build would find under
 * emscripten (the CMake build itself is slow and fails there on a
 * uintptr_t clash, hence -D_UINTPTR_T in the Makefile). */
#define HAVE_INTTYPES_H 1
#define HAVE_MALLOC_H 1
#define HAVE_SIGNAL_H 1
#define HAVE_STRINGS_H 1
#define HAVE_STRUCT_TIMESPEC 1
#define HAVE_CLOCK_REALTIME 1
#define HAVE_GCC_THREAD_LOCAL_STORAGE 1
