/*
 * src/core/coro.h - stackful coroutines (internal to libgalley).
 *
 * A coroutine runs a function on its own stack. gly__coro_resume() switches
 * into it; inside, gly__coro_yield() switches back to whoever resumed it.
 * Stacks are mmap'd with a PROT_NONE guard page below them and kept in a
 * per-thread pool, so starting a coroutine costs no system call in the
 * steady state.
 *
 * The switch is hand-written for x86-64 and aarch64 (callee-saved registers,
 * stack pointer, return address; the FPU control words on x86-64); other
 * targets, or a build with -DGLY_CORO_UCONTEXT, use ucontext. Every switch
 * tells AddressSanitizer (__sanitizer_start/finish_switch_fiber) and each
 * stack is registered with valgrind (VALGRIND_STACK_REGISTER).
 *
 * A pool and its coroutines belong to one thread. Nothing here locks.
 */
#ifndef GALLEY_CORE_CORO_H
#define GALLEY_CORE_CORO_H

#include <stddef.h>

typedef struct gly_coro gly_coro;
typedef struct gly_coro_pool gly_coro_pool;

typedef void (*gly_coro_fn)(void *arg);

/*
 * Creates a pool whose coroutines get stack_size usable bytes (rounded up to
 * pages; at least 16 KiB) plus a guard page. At most max_idle finished stacks
 * are kept for reuse; more are unmapped. Returns NULL when out of memory.
 */
gly_coro_pool *gly__coro_pool_new(size_t stack_size, unsigned max_idle);

/* Unmaps the idle stacks and frees the pool. No coroutine of it may be alive. NULL is a no-op. */
void gly__coro_pool_free(gly_coro_pool *pool);

/*
 * Prepares a coroutine that will run fn(arg) when first resumed. Returns
 * NULL when out of memory (mmap failed). Does not run anything yet.
 */
gly_coro *gly__coro_new(gly_coro_pool *pool, gly_coro_fn fn, void *arg);

/*
 * Runs co until it yields or its function returns. Returns 1 when co yielded
 * (resume it again later) or 0 when its function returned; co has then gone
 * back to its pool and must not be used. Must not be called from inside co
 * itself. Coroutines may resume other coroutines (nesting).
 */
int gly__coro_resume(gly_coro *co);

/* Suspends the running coroutine; its resumer continues. Only valid inside a coroutine. */
void gly__coro_yield(void);

/* Returns the running coroutine of this thread, or NULL on the thread's own stack. */
gly_coro *gly__coro_current(void);

/* User data slot, free for the owner's use (NULL at start). */
void *gly__coro_get_data(const gly_coro *co);
void gly__coro_set_data(gly_coro *co, void *data);

/* Number of stacks the pool has mapped (alive plus idle), for tests and metrics. */
size_t gly__coro_pool_mapped(const gly_coro_pool *pool);

#endif
