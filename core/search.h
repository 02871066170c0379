/* core/search.h: where backends are looked for.
 *
 * The search directories are, in order: each entry of PROKIO_BACKEND_PATH
 * (separated by ':'), then one built-in directory: PROKIO_BACKEND_DIR if
 * set, else the installed backend directory, except for a program whose
 * libprokio lives in a build tree that was not installed (the tools, tests
 * and examples of a build): it uses that build tree's backends, as
 * uninstalled GStreamer tools use their build's plugins. An installed
 * library is never in its build tree, so it never looks there. */
#ifndef PROKIO_CORE_SEARCH_H
#define PROKIO_CORE_SEARCH_H

#include <limits.h>
#include <stdbool.h>

/* Calls fn(dir, arg) for each search directory, in order, until it returns
 * true; returns whether one did. Entries of PROKIO_BACKEND_PATH longer than
 * PATH_MAX cannot name a directory: they are skipped and counted in
 * *skipped (may be NULL). Thread: any. */
bool prokio__search_each_dir(bool (*fn)(const char *dir, void *arg), void *arg, unsigned *skipped);

/* Backend files of the search directories: calls fn(path, name) for every
 * prokio-NAME.so, in search order (a name found again in a later directory
 * is reported again: the caller decides about shadowing). Thread: any. */
void prokio__search_each_file(void (*fn)(const char *path, const char *name, void *arg), void *arg);

/* Finds prokio-NAME.so in the search directories: 0 with its path in
 * path (PATH_MAX bytes), whatever kind of file it is (the loader refuses
 * what is not a regular file), or PROKIO_ENOENT with prokio_last_error()
 * saying what is available. Thread: any. */
int prokio__search_find(const char *name, char *path);

#endif
