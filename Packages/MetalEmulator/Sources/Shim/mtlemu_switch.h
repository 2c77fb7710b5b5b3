// The emulator runtime's fiber switch: `mtlemu_switch_context(&save, target)` pushes the callee-saved
// registers on the current stack, stores the stack pointer in `*save`, loads `target` as the stack
// pointer, pops the registers saved there and returns into that context.
//
// x86-64 and AArch64, ELF (Linux) and Mach-O (macOS). No includes, so it compiles for any target
// without a system SDK (MetalEmulatorTests.DarwinTargetTests checks it for macOS from Linux).
// Other architectures fall back to ucontext (`MTLEMU_ASM_SWITCH` stays undefined).
#pragma once

#if !defined(MTLEMU_FORCE_UCONTEXT) && (defined(__x86_64__) || defined(__aarch64__))
#define MTLEMU_ASM_SWITCH 1

#if defined(__APPLE__)
// Mach-O: C symbols carry a leading underscore; no .type/.size directives.
#define MTLEMU_SWITCH_BEGIN                                                                  \
  ".text\n"                                                                                  \
  ".p2align 4\n"                                                                             \
  ".private_extern _mtlemu_switch_context\n"                                                 \
  ".globl _mtlemu_switch_context\n"                                                          \
  "_mtlemu_switch_context:\n"
#define MTLEMU_SWITCH_END ""
#else
#define MTLEMU_SWITCH_BEGIN                                                                  \
  ".text\n"                                                                                  \
  ".p2align 4\n"                                                                             \
  ".hidden mtlemu_switch_context\n"                                                          \
  ".globl mtlemu_switch_context\n"                                                           \
  ".type mtlemu_switch_context,%function\n"                                                  \
  "mtlemu_switch_context:\n"
#define MTLEMU_SWITCH_END ".size mtlemu_switch_context, .-mtlemu_switch_context\n"
#endif

#ifdef __cplusplus
extern "C"
#endif
    void
    mtlemu_switch_context(void** save, void* target);

#if defined(__x86_64__)
// System V: rbx, rbp, r12–r15 are callee-saved. A fresh context is 6 zeros, then the entry
// function's address (consumed by `ret`), then a dummy return address.
#define MTLEMU_SWITCH_SAVED_WORDS 6
__asm__(MTLEMU_SWITCH_BEGIN
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n" MTLEMU_SWITCH_END);
#else
// AAPCS64 (also Apple's arm64 ABI): x19–x28, x29 (fp), x30 (lr) and the low halves of v8–v15 are
// callee-saved. The 160-byte frame keeps sp 16-byte aligned. A fresh context is a zeroed frame whose
// x30 slot (word 11) holds the entry function: `ret` branches there with sp at the stack top.
#define MTLEMU_SWITCH_SAVED_WORDS 20
#define MTLEMU_SWITCH_ENTRY_SLOT 11
__asm__(MTLEMU_SWITCH_BEGIN
        "  sub sp, sp, #160\n"
        "  stp x19, x20, [sp, #0]\n"
        "  stp x21, x22, [sp, #16]\n"
        "  stp x23, x24, [sp, #32]\n"
        "  stp x25, x26, [sp, #48]\n"
        "  stp x27, x28, [sp, #64]\n"
        "  stp x29, x30, [sp, #80]\n"
        "  stp d8, d9, [sp, #96]\n"
        "  stp d10, d11, [sp, #112]\n"
        "  stp d12, d13, [sp, #128]\n"
        "  stp d14, d15, [sp, #144]\n"
        "  mov x9, sp\n"
        "  str x9, [x0]\n"
        "  mov sp, x1\n"
        "  ldp x19, x20, [sp, #0]\n"
        "  ldp x21, x22, [sp, #16]\n"
        "  ldp x23, x24, [sp, #32]\n"
        "  ldp x25, x26, [sp, #48]\n"
        "  ldp x27, x28, [sp, #64]\n"
        "  ldp x29, x30, [sp, #80]\n"
        "  ldp d8, d9, [sp, #96]\n"
        "  ldp d10, d11, [sp, #112]\n"
        "  ldp d12, d13, [sp, #128]\n"
        "  ldp d14, d15, [sp, #144]\n"
        "  add sp, sp, #160\n"
        "  ret\n" MTLEMU_SWITCH_END);
#endif

/// Lays out a fresh context at the top of a stack so that switching to the returned stack pointer
/// starts `entry` (which must never return). `top` must be 16-byte aligned.
static inline void* mtlemu_initial_context(void* top, void (*entry)(void)) {
  unsigned long long* sp = (unsigned long long*)top;
#if defined(__x86_64__)
  *--sp = 0;  // the entry function's (never used) return address; keeps the ABI's alignment
  *--sp = (unsigned long long)entry;
  for (int r = 0; r < MTLEMU_SWITCH_SAVED_WORDS; ++r) *--sp = 0;
#else
  sp -= MTLEMU_SWITCH_SAVED_WORDS;
  for (int r = 0; r < MTLEMU_SWITCH_SAVED_WORDS; ++r) sp[r] = 0;
  sp[MTLEMU_SWITCH_ENTRY_SLOT] = (unsigned long long)entry;
#endif
  return sp;
}
#endif
