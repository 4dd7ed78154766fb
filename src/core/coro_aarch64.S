/*
 * src/core/coro_aarch64.S - coroutine context switch for AArch64 (AAPCS64).
 *
 * void gly__coro_switch(void **save_sp, void *load_sp);
 *
 * Stores what the callee must preserve (x19-x28, the frame pointer x29, the
 * link register x30 and the low halves d8-d15 of v8-v15) in a 160-byte frame
 * on the current stack, stores sp in *save_sp, switches to load_sp and loads
 * the same layout from there. The "ret" goes to the loaded x30: whoever saved
 * load_sp, or, for a new coroutine, gly__coro_trampoline through the frame
 * coro.c's frame_init() builds:
 *
 *     sp+0    d8  d9  d10 d11 d12 d13 d14 d15
 *     sp+64   x19 x20 x21 x22 x23 x24 x25 x26 x27 x28
 *     sp+144  x29
 *     sp+152  x30
 *
 * The frame has the same layout on both stacks, so one set of CFI notes
 * describes the function all the way through. FPCR is not switched: AAPCS64
 * leaves its modes to the program as a whole.
 */
#if defined(__aarch64__) && !defined(__ILP32__) && !defined(GLY_CORO_UCONTEXT)

#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define BTI_C hint #34
#else
#define BTI_C
#endif

    .text

    .globl  gly__coro_switch
    .hidden gly__coro_switch
    .type   gly__coro_switch, %function
    .p2align 4
gly__coro_switch:
    .cfi_startproc
    BTI_C
    sub     sp, sp, #160
    .cfi_def_cfa_offset 160
    stp     d8,  d9,  [sp, #0]
    .cfi_offset d8, -160
    .cfi_offset d9, -152
    stp     d10, d11, [sp, #16]
    .cfi_offset d10, -144
    .cfi_offset d11, -136
    stp     d12, d13, [sp, #32]
    .cfi_offset d12, -128
    .cfi_offset d13, -120
    stp     d14, d15, [sp, #48]
    .cfi_offset d14, -112
    .cfi_offset d15, -104
    stp     x19, x20, [sp, #64]
    .cfi_offset x19, -96
    .cfi_offset x20, -88
    stp     x21, x22, [sp, #80]
    .cfi_offset x21, -80
    .cfi_offset x22, -72
    stp     x23, x24, [sp, #96]
    .cfi_offset x23, -64
    .cfi_offset x24, -56
    stp     x25, x26, [sp, #112]
    .cfi_offset x25, -48
    .cfi_offset x26, -40
    stp     x27, x28, [sp, #128]
    .cfi_offset x27, -32
    .cfi_offset x28, -24
    stp     x29, x30, [sp, #144]
    .cfi_offset x29, -16
    .cfi_offset x30, -8

    mov     x9, sp
    str     x9, [x0]
    mov     sp, x1

    ldp     d8,  d9,  [sp, #0]
    ldp     d10, d11, [sp, #16]
    ldp     d12, d13, [sp, #32]
    ldp     d14, d15, [sp, #48]
    ldp     x19, x20, [sp, #64]
    ldp     x21, x22, [sp, #80]
    ldp     x23, x24, [sp, #96]
    ldp     x25, x26, [sp, #112]
    ldp     x27, x28, [sp, #128]
    ldp     x29, x30, [sp, #144]
    add     sp, sp, #160
    .cfi_def_cfa_offset 0
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size   gly__coro_switch, .-gly__coro_switch

/*
 * First code of a new coroutine, entered by the "ret" above (a return is no
 * BTI-checked branch) with sp 16-byte aligned; x19 holds the function, x20 its
 * argument. The function never returns (it switches away for good), hence
 * the brk.
 */
    .globl  gly__coro_trampoline
    .hidden gly__coro_trampoline
    .type   gly__coro_trampoline, %function
    .p2align 4
gly__coro_trampoline:
    .cfi_startproc
    .cfi_undefined x30      /* the outermost frame: unwinders and debuggers stop here */
    BTI_C
    mov     x0, x20
    blr     x19
    brk     #0
    .cfi_endproc
    .size   gly__coro_trampoline, .-gly__coro_trampoline

/*
 * Tell the linker this object is fit for BTI and return-address signing when
 * the rest of the build is, so linking it does not turn them off for the
 * whole binary.
 */
#if defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT)
#if defined(__ARM_FEATURE_BTI_DEFAULT) && __ARM_FEATURE_BTI_DEFAULT
#define GNU_PROPERTY_BTI 1
#else
#define GNU_PROPERTY_BTI 0
#endif
#if defined(__ARM_FEATURE_PAC_DEFAULT) && __ARM_FEATURE_PAC_DEFAULT
#define GNU_PROPERTY_PAC 2
#else
#define GNU_PROPERTY_PAC 0
#endif
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .long   4                       /* name size */
    .long   16                      /* descriptor size */
    .long   5                       /* NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000000              /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
    .long   4                       /* data size */
    .long   GNU_PROPERTY_BTI | GNU_PROPERTY_PAC
    .long   0                       /* padding to 8 bytes */
    .popsection
#endif

#endif

    .section .note.GNU-stack,"",%progbits
