/*
 * src/core/coro_x86_64.S - coroutine context switch for x86-64 System V.
 *
 * void gly__coro_switch(void **save_sp, void *load_sp);
 *
 * Pushes what the callee must preserve (rbp, rbx, r12-r15, and the control
 * bits of MXCSR and the x87 control word) onto the current stack, stores rsp
 * in *save_sp, switches to load_sp and pops the same layout from there. The
 * "ret" returns into whoever saved load_sp, or, for a new coroutine, into
 * gly__coro_trampoline through the frame coro.c's frame_init() builds:
 *
 *     rsp+0   mxcsr (4 bytes), x87 control word (2 bytes), padding
 *     rsp+8   r15
 *     rsp+16  r14
 *     rsp+24  r13
 *     rsp+32  r12
 *     rsp+40  rbx
 *     rsp+48  rbp
 *     rsp+56  return address
 *
 * The frame has the same layout on both stacks, so one set of CFI notes
 * describes the function all the way through.
 *
 * No CET marker is emitted on purpose: switching stacks breaks a shadow stack,
 * so a binary linking this must not be marked shadow-stack compatible.
 */
#if defined(__x86_64__) && !defined(__ILP32__) && !defined(GLY_CORO_UCONTEXT)

    .text

    .globl  gly__coro_switch
    .hidden gly__coro_switch
    .type   gly__coro_switch, @function
    .p2align 4
gly__coro_switch:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    subq    $8, %rsp
    .cfi_adjust_cfa_offset 8
    stmxcsr (%rsp)
    fnstcw  4(%rsp)

    movq    %rsp, (%rdi)
    movq    %rsi, %rsp

    ldmxcsr (%rsp)
    fldcw   4(%rsp)
    addq    $8, %rsp
    .cfi_adjust_cfa_offset -8
    popq    %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq    %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq    %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq    %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq    %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq    %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    ret
    .cfi_endproc
    .size   gly__coro_switch, .-gly__coro_switch

/*
 * First code of a new coroutine, entered by the "ret" above with rsp 16-byte
 * aligned; r12 holds the function, r13 its argument. The function never
 * returns (it switches away for good), hence the ud2.
 */
    .globl  gly__coro_trampoline
    .hidden gly__coro_trampoline
    .type   gly__coro_trampoline, @function
    .p2align 4
gly__coro_trampoline:
    .cfi_startproc
    .cfi_undefined %rip     /* the outermost frame: unwinders and debuggers stop here */
    movq    %r13, %rdi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   gly__coro_trampoline, .-gly__coro_trampoline

#elif defined(__aarch64__) && (defined(__ARM_FEATURE_BTI_DEFAULT) || defined(__ARM_FEATURE_PAC_DEFAULT))
/*
 * Empty on aarch64 but linked there all the same: mark it fit for BTI and
 * PAC like coro_aarch64.S, or the linker turns them off for the whole binary.
 */
    .pushsection .note.gnu.property, "a"
    .p2align 3
    .long   4, 16, 5                /* name size, descriptor size, NT_GNU_PROPERTY_TYPE_0 */
    .asciz  "GNU"
    .long   0xc0000000, 4, 3, 0     /* GNU_PROPERTY_AARCH64_FEATURE_1_AND: BTI | PAC */
    .popsection
#endif

    .section .note.GNU-stack,"",%progbits
