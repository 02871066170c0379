/* core/spawn.h: spawning for the core's own callers (spawn.c). */
#ifndef PROKIO_CORE_SPAWN_H
#define PROKIO_CORE_SPAWN_H

#include "internal.h"

enum prokio__spawn_where {
    PROKIO__SPAWN_ANY,   /* prokio_spawn: a worker chosen by load */
    PROKIO__SPAWN_LOCAL, /* prokio_spawn_local: the worker of cx */
    PROKIO__SPAWN_ON,    /* prokio_spawn_on: worker `worker` of rt */
};

/* Spawns as the public function `where` names (rt, worker and cx used as
 * it uses them), with join_waker (a waker as waker.h has them) already in
 * the new JoinHandle's waker slot, a clone, before the task can run: it is
 * woken when the task ends, however soon. join_out must not be NULL.
 * Errors are reported under the name `who`. Thread: as the public one. */
int prokio__spawn_with_join_waker(prokio_task_t **join_out, enum prokio__spawn_where where,
                                  prokio_runtime_t *rt, unsigned worker, prokio_poll_fn poll,
                                  const void *frame, size_t frame_size, prokio_drop_fn drop,
                                  prokio_cx_t *cx, uintptr_t join_waker, const char *who);

#endif
