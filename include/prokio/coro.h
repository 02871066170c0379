/* prokio/coro.h: stackless coroutine macros (included by prokio.h).
 *
 * They let a poll function read as straight-line code. The resume point
 * lives in an int of your frame, zero before the first poll; the macros
 * expand to a switch on it, so
 *   - locals do not survive an await: keep state in the frame;
 *   - put at most one PROKIO_AWAIT or PROKIO_YIELD on a line (the resume
 *     point is the line number);
 *   - do not use `switch` statements that span an await.
 *
 *   struct hello { int co; prokio_sleep_t nap; int n; };
 *
 *   static int hello_poll(void *frame, prokio_cx_t *cx)
 *   {
 *       struct hello *h = frame;
 *       PROKIO_BEGIN(&h->co);
 *       for (h->n = 0; h->n < 3; h->n++) {
 *           prokio_sleep_init(&h->nap, PROKIO_MS(10));
 *           PROKIO_AWAIT(&h->co, prokio_sleep_poll(&h->nap, cx));
 *       }
 *       PROKIO_END(&h->co, 0);
 *   }
 *
 * The same macros write a reusable sub-future: a struct with its own `co`
 * field and a poll function that the parent awaits like any leaf future.
 */
#ifndef PROKIO_CORO_H
#define PROKIO_CORO_H

#include <prokio/task.h>

/* Starts the coroutine body. state: int *, the resume point. */
#define PROKIO_BEGIN(state)                                                                        \
    switch (*(state)) {                                                                            \
    case 0:

/* Awaits a poll expression: returns PROKIO_PENDING from the enclosing poll
 * function while expr is PROKIO_PENDING, and resumes here when polled again. */
#define PROKIO_AWAIT(state, expr)                                                                  \
    do {                                                                                           \
        *(state) = __LINE__;                                                                       \
        /* fall through */                                                                         \
    case __LINE__:                                                                                 \
        if ((expr) == PROKIO_PENDING)                                                              \
            return PROKIO_PENDING;                                                                 \
    } while (0)

/* Like PROKIO_AWAIT, and stores the result (not PROKIO_PENDING) in lvalue. */
#define PROKIO_AWAIT_INTO(state, lvalue, expr)                                                     \
    do {                                                                                           \
        *(state) = __LINE__;                                                                       \
        /* fall through */                                                                         \
    case __LINE__:                                                                                 \
        if (((lvalue) = (expr)) == PROKIO_PENDING)                                                 \
            return PROKIO_PENDING;                                                                 \
    } while (0)

/* Yields to the other ready tasks of this worker, then resumes here. */
#define PROKIO_YIELD(state, cx)                                                                    \
    do {                                                                                           \
        *(state) = __LINE__;                                                                       \
        return prokio_cx_yield(cx);                                                                \
    case __LINE__:;                                                                                \
    } while (0)

/* Ends the body and returns `result` (>= 0 success, < 0 an error code). */
#define PROKIO_END(state, result)                                                                  \
    }                                                                                              \
    *(state) = 0;                                                                                  \
    return (result)

#endif /* PROKIO_CORO_H */
