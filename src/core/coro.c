/*
 * src/core/coro.c - stackful coroutines: the stack pool and the switch.
 *
 * Each coroutine is one mapping, and its struct lives at the top of it, so a
 * coroutine costs one mmap when it is first made and nothing after that:
 *
 *     low                                                               high
 *     [ guard page, PROT_NONE | stack, growing down ...  | struct gly_coro ]
 *
 * A finished coroutine goes back to its pool's idle list (at most max_idle
 * of them); beyond that its mapping is unmapped. That always happens in
 * gly__coro_resume(), on the resumer's stack, never on the stack being freed.
 *
 * The switch (coro_x86_64.S, coro_aarch64.S) pushes the callee-saved state on
 * the stack it leaves and stores the stack pointer in *save_sp, then loads
 * load_sp and pops the same layout. A new coroutine gets a hand-made frame of
 * that layout whose return address is gly__coro_trampoline, which calls
 * coro_main(co). Other targets, or -DGLY_CORO_UCONTEXT, use swapcontext(),
 * which is several times slower: it saves the signal mask with a system call.
 */
#include "core/coro.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#if defined(__x86_64__) && !defined(__ILP32__) && !defined(GLY_CORO_UCONTEXT)
#define CORO_ASM 1
#elif defined(__aarch64__) && !defined(__ILP32__) && !defined(GLY_CORO_UCONTEXT)
#define CORO_ASM 1
#else
#define CORO_ASM 0
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#ifndef CORO_ASAN
#define CORO_ASAN 0
#endif
#if CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define CORO_VALGRIND 1
#endif
#endif
#ifndef CORO_VALGRIND
#define CORO_VALGRIND 0
#endif

#define CORO_MIN_STACK (16u * 1024)

enum coro_state {
    CORO_READY,     /* made, never resumed */
    CORO_RUNNING,   /* on the CPU, or suspended inside a resume of another coroutine */
    CORO_SUSPENDED, /* yielded */
    CORO_DONE,      /* its function returned; the resumer gives it back to the pool */
    CORO_IDLE,      /* on the idle list */
};

struct gly_coro {
#if CORO_ASM
    void *sp;         /* the coroutine's stack pointer while it is not running */
    void *resumer_sp; /* the resumer's stack pointer while the coroutine runs */
#else
    ucontext_t ctx;
    ucontext_t resumer_ctx;
#endif
    gly_coro_fn fn;
    void *arg;
    void *data;
    gly_coro_pool *pool;
    gly_coro *next_idle;
    char *stack_lo; /* lowest usable byte, just above the guard page; the top is the struct */
    enum coro_state state;
#if CORO_VALGRIND
    unsigned vg_stack_id;
#endif
#if CORO_ASAN
    /* The stack of whoever resumed us, learnt when we switch in, needed to switch back. */
    const void *resumer_stack;
    size_t resumer_stack_size;
#endif
};

/* Room taken by the struct at the top of the mapping; keeps the stack top 64-byte aligned. */
#define CORO_STRUCT_SIZE ((sizeof(struct gly_coro) + 63) & ~(size_t)63)

struct gly_coro_pool {
    size_t page_size;
    size_t map_size; /* guard page + stack + struct, a multiple of page_size */
    gly_coro *idle;
    unsigned n_idle;
    unsigned max_idle;
    size_t n_mapped;
};

/*
 * The coroutine running on this thread. initial-exec keeps the access to one
 * instruction in the shared library too (the static TLS surplus has room for
 * a pointer even when the library is dlopen'd).
 */
#if defined(__GNUC__)
static _Thread_local gly_coro *current __attribute__((tls_model("initial-exec")));
#else
static _Thread_local gly_coro *current;
#endif

#if CORO_ASM
/* coro_<arch>.S; hidden there too, so calls and the address need no PLT or GOT. */
__attribute__((visibility("hidden"))) void gly__coro_switch(void **save_sp, void *load_sp);
__attribute__((visibility("hidden"))) void gly__coro_trampoline(void);
#endif

static char *stack_hi(gly_coro *co)
{
    return (char *)co;
}

static size_t coro_stack_size(gly_coro *co)
{
    return (size_t)(stack_hi(co) - co->stack_lo);
}

/*
 * The sanitizer side of a switch. start_switch runs on the stack being left,
 * just before the switch: save is where ASan keeps that stack's fake frames
 * (NULL when the stack is never returned to). finish_switch runs first thing
 * on the stack switched to, with what its own start_switch saved, and learns
 * the bounds of the stack it came from.
 */
static inline void start_switch(void **save, const void *to_lo, size_t to_size)
{
#if CORO_ASAN
    __sanitizer_start_switch_fiber(save, to_lo, to_size);
#else
    (void)save;
    (void)to_lo;
    (void)to_size;
#endif
}

static inline void finish_switch(void *saved, const void **from_lo, size_t *from_size)
{
#if CORO_ASAN
    __sanitizer_finish_switch_fiber(saved, from_lo, from_size);
#else
    (void)saved;
    (void)from_lo;
    (void)from_size;
#endif
}

#if CORO_ASAN
#define RESUMER_STACK(co) (co)->resumer_stack
#define RESUMER_SIZE(co)  (co)->resumer_stack_size
#define RESUMER_OUT(co)   &(co)->resumer_stack, &(co)->resumer_stack_size
#else
#define RESUMER_STACK(co) NULL
#define RESUMER_SIZE(co)  0
#define RESUMER_OUT(co)   NULL, NULL
#endif

__attribute__((noreturn)) static void coro_main(gly_coro *co)
{
    finish_switch(NULL, RESUMER_OUT(co));
    co->fn(co->arg);
    co->state = CORO_DONE;
    /* NULL: this stack is not coming back, so ASan drops its fake frames. */
    start_switch(NULL, RESUMER_STACK(co), RESUMER_SIZE(co));
#if CORO_ASM
    gly__coro_switch(&co->sp, co->resumer_sp);
#else
    setcontext(&co->resumer_ctx);
#endif
    abort(); /* a finished coroutine is never switched to again */
}

#if CORO_ASM && defined(__x86_64__)
/* Must match gly__coro_switch in coro_x86_64.S. */
static int frame_init(gly_coro *co)
{
    /* [0] mxcsr | fpucw << 32, [1] r15, [2] r14, [3] r13, [4] r12, [5] rbx, [6] rbp, [7] rip */
    uint64_t *sp = (uint64_t *)((uintptr_t)stack_hi(co) & ~(uintptr_t)15) - 8;
    uint32_t mxcsr;
    uint16_t fpucw;

    /* The coroutine starts in the FPU modes of whoever makes it, as a new thread would. */
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    sp[0] = mxcsr | (uint64_t)fpucw << 32;
    sp[1] = 0;
    sp[2] = 0;
    sp[3] = (uintptr_t)co;        /* r13: the argument */
    sp[4] = (uintptr_t)coro_main; /* r12: the function */
    sp[5] = 0;
    sp[6] = 0; /* rbp: ends frame-pointer walks */
    sp[7] = (uintptr_t)gly__coro_trampoline;
    /* After the ret into the trampoline rsp is 16-byte aligned, so its call is as the ABI wants. */
    _Static_assert(8 * sizeof(uint64_t) % 16 == 0, "frame keeps the alignment");
    co->sp = sp;
    return 0;
}
#elif CORO_ASM && defined(__aarch64__)
/* Must match gly__coro_switch in coro_aarch64.S. */
static int frame_init(gly_coro *co)
{
    /* [0..7] d8-d15, [8..17] x19-x28, [18] x29, [19] x30 */
    uint64_t *sp = (uint64_t *)((uintptr_t)stack_hi(co) & ~(uintptr_t)15) - 20;

    for (int i = 0; i < 20; i++) {
        sp[i] = 0;
    }
    sp[8] = (uintptr_t)coro_main; /* x19: the function */
    sp[9] = (uintptr_t)co;        /* x20: the argument */
    sp[18] = 0;                   /* x29: ends frame-pointer walks */
    sp[19] = (uintptr_t)gly__coro_trampoline;
    co->sp = sp;
    return 0;
}
#else
/* makecontext() passes only ints; the coroutine being started is `current`. */
static void ucontext_main(void)
{
    coro_main(current);
}

static int frame_init(gly_coro *co)
{
    if (getcontext(&co->ctx) != 0) {
        return -1;
    }
    co->ctx.uc_stack.ss_sp = co->stack_lo;
    co->ctx.uc_stack.ss_size = coro_stack_size(co);
    co->ctx.uc_link = NULL;
    makecontext(&co->ctx, ucontext_main, 0);
    return 0;
}
#endif

static gly_coro *stack_map(gly_coro_pool *pool)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
#ifdef MAP_STACK
    flags |= MAP_STACK;
#endif
    char *base = mmap(NULL, pool->map_size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (base == MAP_FAILED) {
        return NULL;
    }
    if (mprotect(base, pool->page_size, PROT_NONE) != 0) {
        munmap(base, pool->map_size);
        return NULL;
    }
    gly_coro *co = (gly_coro *)(base + pool->map_size - CORO_STRUCT_SIZE);
    co->pool = pool;
    co->stack_lo = base + pool->page_size;
#if CORO_VALGRIND
    co->vg_stack_id = VALGRIND_STACK_REGISTER(co->stack_lo, stack_hi(co));
#endif
    pool->n_mapped++;
    return co;
}

static void stack_unmap(gly_coro *co)
{
    gly_coro_pool *pool = co->pool;

#if CORO_VALGRIND
    VALGRIND_STACK_DEREGISTER(co->vg_stack_id);
#endif
    assert(pool->n_mapped > 0);
    pool->n_mapped--;
    munmap(co->stack_lo - pool->page_size, pool->map_size);
}

/* Called on the resumer's stack once co's function has returned. */
static void coro_release(gly_coro *co)
{
    gly_coro_pool *pool = co->pool;

#if CORO_ASAN
    /* Frames left on the dead stack (coro_main's, the switch's) keep their redzones otherwise. */
    ASAN_UNPOISON_MEMORY_REGION(co->stack_lo, coro_stack_size(co));
#endif
    if (pool->n_idle < pool->max_idle) {
        co->state = CORO_IDLE;
        co->next_idle = pool->idle;
        pool->idle = co;
        pool->n_idle++;
        return;
    }
    stack_unmap(co);
}

gly_coro_pool *gly__coro_pool_new(size_t stack_size, unsigned max_idle)
{
    long ps = sysconf(_SC_PAGESIZE);
    size_t page = ps > 0 ? (size_t)ps : 4096;

    if (stack_size < CORO_MIN_STACK) {
        stack_size = CORO_MIN_STACK;
    }
    if (stack_size > SIZE_MAX / 4) {
        return NULL; /* no such mapping could be made; avoid overflowing the sums below */
    }
    stack_size = (stack_size + page - 1) & ~(page - 1);

    gly_coro_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL) {
        return NULL;
    }
    pool->page_size = page;
    pool->map_size = page + ((stack_size + CORO_STRUCT_SIZE + page - 1) & ~(page - 1));
    pool->max_idle = max_idle;
    return pool;
}

void gly__coro_pool_free(gly_coro_pool *pool)
{
    if (pool == NULL) {
        return;
    }
    assert(pool->n_mapped == pool->n_idle && "a coroutine of this pool is still alive");
    while (pool->idle != NULL) {
        gly_coro *co = pool->idle;
        pool->idle = co->next_idle;
        stack_unmap(co);
    }
    free(pool);
}

gly_coro *gly__coro_new(gly_coro_pool *pool, gly_coro_fn fn, void *arg)
{
    assert(pool != NULL && fn != NULL);
    gly_coro *co = pool->idle;
    if (co != NULL) {
        assert(co->state == CORO_IDLE);
        pool->idle = co->next_idle;
        pool->n_idle--;
    } else {
        co = stack_map(pool);
        if (co == NULL) {
            return NULL;
        }
    }
    co->fn = fn;
    co->arg = arg;
    co->data = NULL;
    co->next_idle = NULL;
    co->state = CORO_READY;
    if (frame_init(co) != 0) {
        stack_unmap(co);
        return NULL;
    }
    return co;
}

int gly__coro_resume(gly_coro *co)
{
    assert(co != NULL);
    assert((co->state == CORO_READY || co->state == CORO_SUSPENDED) &&
           "resuming a running, finished or freed coroutine");
    gly_coro *prev = current;
    void *fake_stack = NULL;

    co->state = CORO_RUNNING;
    current = co;
    start_switch(&fake_stack, co->stack_lo, coro_stack_size(co));
#if CORO_ASM
    gly__coro_switch(&co->resumer_sp, co->sp);
#else
    swapcontext(&co->resumer_ctx, &co->ctx);
#endif
    finish_switch(fake_stack, NULL, NULL);
    current = prev;

    if (co->state == CORO_DONE) {
        coro_release(co);
        return 0;
    }
    assert(co->state == CORO_SUSPENDED);
    return 1;
}

void gly__coro_yield(void)
{
    gly_coro *co = current;
    void *fake_stack = NULL;

    assert(co != NULL && "gly__coro_yield outside a coroutine");
    assert(co->state == CORO_RUNNING);
    co->state = CORO_SUSPENDED;
    start_switch(&fake_stack, RESUMER_STACK(co), RESUMER_SIZE(co));
#if CORO_ASM
    gly__coro_switch(&co->sp, co->resumer_sp);
#else
    swapcontext(&co->ctx, &co->resumer_ctx);
#endif
    /* The next resumer may be another one than the last: learn its stack again. */
    finish_switch(fake_stack, RESUMER_OUT(co));
}

gly_coro *gly__coro_current(void)
{
    return current;
}

void *gly__coro_get_data(const gly_coro *co)
{
    return co->data;
}

void gly__coro_set_data(gly_coro *co, void *data)
{
    co->data = data;
}

size_t gly__coro_pool_mapped(const gly_coro_pool *pool)
{
    return pool->n_mapped;
}
