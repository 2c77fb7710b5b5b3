// The Metal emulator runtime: runs each threadgroup's threads as fibers on one CPU thread.
//
// Compiled into every emulated kernel library (so each library is self-contained) and driven by the
// Swift `MetalEmulator` module through the `extern "C"` functions at the bottom. Internal: no
// stable API. Design notes: Docs/metal-emulator.md.
#if defined(__APPLE__)
// <ucontext.h> refuses to compile without _XOPEN_SOURCE on Darwin; _DARWIN_C_SOURCE keeps the rest
// (MAP_ANONYMOUS, dladdr) visible. Only the fallback switch uses ucontext there.
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700
#endif
#ifndef _DARWIN_C_SOURCE
#define _DARWIN_C_SOURCE 1
#endif
#elif !defined(_GNU_SOURCE)
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mtlemu_abi.h"
#include "mtlemu_switch.h"
#include <ucontext.h>

#define MTLEMU_EXPORT extern "C" __attribute__((visibility("default")))

// Written by the emulator's token pass into every library.
extern "C" const int mtlemu_kernel_count;
extern "C" const char* const mtlemu_kernel_names[];
extern "C" void (*const mtlemu_kernel_functions[])(void);

// Threadgroup storage declared in kernels lands in this section (see the token pass): ELF names it
// `mtlemu_tg` and the linker defines __start_/__stop_ symbols; Mach-O names it `__DATA,mtlemu_tg` and
// ld64 defines section$start/section$end symbols (an empty section when no kernel declares any).
#if defined(__APPLE__)
extern "C" char mtlemu_tg_start[] __asm("section$start$__DATA$mtlemu_tg");
extern "C" char mtlemu_tg_end[] __asm("section$end$__DATA$mtlemu_tg");
#define MTLEMU_TG_START mtlemu_tg_start
#define MTLEMU_TG_END mtlemu_tg_end
#else
extern "C" __attribute__((weak)) char __start_mtlemu_tg[];
extern "C" __attribute__((weak)) char __stop_mtlemu_tg[];
#define MTLEMU_TG_START __start_mtlemu_tg
#define MTLEMU_TG_END __stop_mtlemu_tg
#endif

namespace {

constexpr int kMaxBindings = 31;
constexpr int kSimdWidth = 32;
constexpr int kMaxThreads = 1024;
constexpr size_t kStackSize = 128 * 1024;

enum class FiberState { runnable, barrier, simd, finished };

struct Fiber {
  mtlemu_thread_info info;
  FiberState state;
  const char* file;
  int line;
  int column;
  const char* what;
  void* input;
  void* output;
  mtlemu_combine_fn combine;
  uint8_t* stack;  // lowest usable byte; a guard page lies below
#if MTLEMU_ASM_SWITCH
  void* sp;
#else
  ucontext_t context;
#endif
};

struct Binding {
  void* pointer;
  uint64_t length;
  bool bound;
};

struct Runtime {
  Binding buffers[kMaxBindings];
  uint64_t threadgroupLengths[kMaxBindings];
  bool threadgroupBound[kMaxBindings];
  uint8_t* threadgroupMemory;
  size_t threadgroupCapacity;
  uint8_t* bytesStorage[kMaxBindings];
  size_t bytesCapacity[kMaxBindings];

  Fiber* fibers;
  uint8_t* stackPool;
  int threadCount;
  Fiber* current;
#if MTLEMU_ASM_SWITCH
  void* schedulerSP;
#else
  ucontext_t schedulerContext;
#endif
  void (*kernel)(void);
  const char* kernelName;
  uint32_t groupPosition[3];
  bool reverseLanes;
  bool strictBarriers = true;
  bool failed;
  char error[4096];

  // Fault handling.
  sigjmp_buf faultJump;
  volatile sig_atomic_t inDispatch;
  pthread_t dispatchThread;
  struct sigaction previous[4];
  uint8_t* alternateStack;
} rt;

const int kSignals[4] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};

void append(const char* format, ...) __attribute__((format(printf, 1, 2)));
void append(const char* format, ...) {
  size_t used = strlen(rt.error);
  va_list args;
  va_start(args, format);
  vsnprintf(rt.error + used, sizeof(rt.error) - used, format, args);
  va_end(args);
}

void describeThread(const Fiber* fiber) {
  append(" in kernel %s, threadgroup (%u,%u,%u)", rt.kernelName, rt.groupPosition[0], rt.groupPosition[1],
         rt.groupPosition[2]);
  if (fiber) {
    const mtlemu_thread_info& i = fiber->info;
    append(", thread_position_in_threadgroup (%u,%u,%u), simdgroup %u lane %u", i.thread_position_in_threadgroup[0],
           i.thread_position_in_threadgroup[1], i.thread_position_in_threadgroup[2],
           i.simdgroup_index_in_threadgroup[0], i.thread_index_in_simdgroup[0]);
  }
}

/// Stops the running fiber and returns to the scheduler, which ends the dispatch.
[[noreturn]] void abortFromFiber() {
  rt.failed = true;
  Fiber* fiber = rt.current;
  fiber->state = FiberState::finished;
#if MTLEMU_ASM_SWITCH
  mtlemu_switch_context(&fiber->sp, rt.schedulerSP);
#else
  swapcontext(&fiber->context, &rt.schedulerContext);
#endif
  __builtin_unreachable();
}

void suspend() {
  Fiber* fiber = rt.current;
#if MTLEMU_ASM_SWITCH
  mtlemu_switch_context(&fiber->sp, rt.schedulerSP);
#else
  swapcontext(&fiber->context, &rt.schedulerContext);
#endif
  if (rt.failed) abortFromFiber();
}

void fiberEntry() {
  rt.kernel();
  rt.current->state = FiberState::finished;
#if MTLEMU_ASM_SWITCH
  mtlemu_switch_context(&rt.current->sp, rt.schedulerSP);
#else
  swapcontext(&rt.current->context, &rt.schedulerContext);
#endif
  __builtin_trap();
}

void resume(Fiber* fiber) {
  rt.current = fiber;
#if MTLEMU_ASM_SWITCH
  mtlemu_switch_context(&rt.schedulerSP, fiber->sp);
#else
  swapcontext(&rt.schedulerContext, &fiber->context);
#endif
  rt.current = nullptr;
}

bool ensureFibers() {
  if (rt.fibers) return true;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t slot = kStackSize + page;
  void* pool = mmap(nullptr, slot * kMaxThreads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (pool == MAP_FAILED) return false;
  rt.stackPool = (uint8_t*)pool;
  rt.fibers = (Fiber*)calloc(kMaxThreads, sizeof(Fiber));
  if (!rt.fibers) return false;
  for (int i = 0; i < kMaxThreads; ++i) {
    uint8_t* base = rt.stackPool + (size_t)i * slot;
    mprotect(base, page, PROT_NONE);
    rt.fibers[i].stack = base + page;
  }
  rt.alternateStack = (uint8_t*)malloc(64 * 1024);
  return rt.alternateStack != nullptr;
}

void prepareFiber(Fiber* fiber) {
  fiber->state = FiberState::runnable;
#if MTLEMU_ASM_SWITCH
  fiber->sp = mtlemu_initial_context(fiber->stack + kStackSize, &fiberEntry);
#else
  getcontext(&fiber->context);
  fiber->context.uc_stack.ss_sp = fiber->stack;
  fiber->context.uc_stack.ss_size = kStackSize;
  fiber->context.uc_link = nullptr;
  makecontext(&fiber->context, (void (*)())fiberEntry, 0);
#endif
}

bool sameSite(const Fiber* a, const Fiber* b) {
  return a->line == b->line && a->column == b->column && strcmp(a->file, b->file) == 0;
}

const char* stateName(FiberState state) {
  switch (state) {
  case FiberState::runnable: return "running";
  case FiberState::barrier: return "threadgroup_barrier";
  case FiberState::simd: return "a SIMD-group function";
  case FiberState::finished: return "returned";
  }
  return "?";
}

void failAt(const Fiber* fiber, const char* message) {
  rt.failed = true;
  snprintf(rt.error, sizeof(rt.error), "%s", message);
  describeThread(fiber);
}

/// Releases SIMD-groups and barriers whose waiters are complete. Returns false when nothing can move.
bool resolveWaits() {
  bool released = false;
  int groups = (rt.threadCount + kSimdWidth - 1) / kSimdWidth;
  for (int g = 0; g < groups; ++g) {
    Fiber* lanes = rt.fibers + g * kSimdWidth;
    int width = rt.threadCount - g * kSimdWidth < kSimdWidth ? rt.threadCount - g * kSimdWidth : kSimdWidth;
    Fiber* first = nullptr;
    bool anyBarrier = false, allSimd = true;
    for (int l = 0; l < width; ++l) {
      Fiber* f = lanes + l;
      if (f->state == FiberState::finished) continue;
      if (f->state == FiberState::simd) {
        if (!first) {
          first = f;
        } else if (!sameSite(first, f) || first->combine != f->combine) {
          char message[1024];
          snprintf(message, sizeof(message),
                   "divergent SIMD-group: lane %u waits at %s (%s:%d:%d) while lane %u waits at %s (%s:%d:%d)",
                   first->info.thread_index_in_simdgroup[0], first->what, first->file, first->line, first->column,
                   f->info.thread_index_in_simdgroup[0], f->what, f->file, f->line, f->column);
          failAt(f, message);
          return false;
        }
      } else {
        allSimd = false;
        if (f->state == FiberState::barrier) anyBarrier = true;
      }
    }
    if (first && anyBarrier) {
      char message[1024];
      snprintf(message, sizeof(message),
               "divergent SIMD-group: some lanes wait at %s (%s:%d:%d) while others wait at a threadgroup_barrier",
               first->what, first->file, first->line, first->column);
      failAt(first, message);
      return false;
    }
    if (first && allSimd) {
      void* inputs[kSimdWidth] = {};
      void* outputs[kSimdWidth] = {};
      for (int l = 0; l < width; ++l) {
        if (lanes[l].state != FiberState::simd) continue;
        inputs[l] = lanes[l].input;
        outputs[l] = lanes[l].output;
      }
      if (first->combine) first->combine(inputs, outputs, kSimdWidth);
      if (rt.failed) return false;
      for (int l = 0; l < width; ++l)
        if (lanes[l].state == FiberState::simd) lanes[l].state = FiberState::runnable;
      released = true;
    }
  }
  if (released) return true;

  // Barrier: every live thread must wait at the same barrier.
  Fiber* first = nullptr;
  int finished = 0;
  for (int t = 0; t < rt.threadCount; ++t) {
    Fiber* f = rt.fibers + t;
    if (f->state == FiberState::finished) {
      ++finished;
      continue;
    }
    if (f->state != FiberState::barrier) {
      char message[1024];
      snprintf(message, sizeof(message), "deadlock: a thread waits at %s (%s:%d:%d) that the others never reach",
               f->what ? f->what : stateName(f->state), f->file ? f->file : "?", f->line, f->column);
      failAt(f, message);
      return false;
    }
    if (!first) {
      first = f;
    } else if (!sameSite(first, f)) {
      char message[1024];
      snprintf(message, sizeof(message),
               "threads wait at different threadgroup_barrier calls (%s:%d:%d and %s:%d:%d): a barrier in divergent control flow",
               first->file, first->line, first->column, f->file, f->line, f->column);
      failAt(f, message);
      return false;
    }
  }
  if (!first) return false;
  if (finished > 0 && rt.strictBarriers) {
    char message[1024];
    snprintf(message, sizeof(message),
             "threadgroup_barrier (%s:%d:%d) is never reached by %d thread(s) of the threadgroup that returned: "
             "a barrier in divergent control flow, or a return before it (guard the work instead)",
             first->file, first->line, first->column, finished);
    failAt(first, message);
    return false;
  }
  for (int t = 0; t < rt.threadCount; ++t)
    if (rt.fibers[t].state == FiberState::barrier) rt.fibers[t].state = FiberState::runnable;
  return true;
}

/// Appends where in the kernel library the fault happened, for the Swift side to symbolize.
void describeProgramCounter(void* context) {
  uintptr_t pc = 0;
#if defined(__APPLE__) && defined(__x86_64__)
  pc = (uintptr_t)((ucontext_t*)context)->uc_mcontext->__ss.__rip;
#elif defined(__APPLE__) && defined(__aarch64__)
  pc = (uintptr_t)((ucontext_t*)context)->uc_mcontext->__ss.__pc;
#elif defined(__linux__) && defined(__x86_64__)
  pc = (uintptr_t)((ucontext_t*)context)->uc_mcontext.gregs[REG_RIP];
#elif defined(__linux__) && defined(__aarch64__)
  pc = (uintptr_t)((ucontext_t*)context)->uc_mcontext.pc;
#else
  (void)context;  // no source line for the fault on this platform; the report still names the kernel
#endif
  Dl_info where, self;
  if (pc == 0 || !dladdr((void*)pc, &where) || !dladdr((void*)&describeProgramCounter, &self)) return;
  if (where.dli_fbase == self.dli_fbase) {
    append(" [mtlemu-pc 0x%lx]", (unsigned long)(pc - (uintptr_t)where.dli_fbase));
  } else if (where.dli_sname) {
    append(" (in %s)", where.dli_sname);
  }
}

void describeFault(int signal, siginfo_t* info) {
  uintptr_t address = (uintptr_t)info->si_addr;
  rt.error[0] = 0;
  if (signal == SIGILL) {
    append("trap (a bounds check on a fixed-size array failed, or __builtin_trap)");
  } else if (signal == SIGFPE) {
    append("arithmetic fault (integer division by zero?)");
  } else if (address == 0 && signal == SIGSEGV && info->si_code == SI_KERNEL) {
    append("general-protection fault (a misaligned vector access?)");
  } else {
    bool found = false;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    for (int i = 0; i < kMaxBindings && !found; ++i) {
      const Binding& b = rt.buffers[i];
      if (!b.bound) continue;
      uintptr_t start = (uintptr_t)b.pointer, end = start + b.length;
      uintptr_t guardEnd = ((end + page - 1) & ~(uintptr_t)(page - 1)) + page;
      if (address >= end && address < guardEnd) {
        append("out-of-bounds access %lu bytes past the end of a %lu-byte buffer (bound at [[buffer(%d)]])",
               (unsigned long)(address - end), (unsigned long)b.length, i);
        found = true;
      } else if (address < start && address + page >= start) {
        append("out-of-bounds access %lu bytes before the start of the buffer bound at [[buffer(%d)]]",
               (unsigned long)(start - address), i);
        found = true;
      }
    }
    if (!found && rt.current) {
      uintptr_t stack = (uintptr_t)rt.current->stack;
      if (address < stack && address + page >= stack) {
        append("stack overflow of an emulated thread (deep recursion or a huge thread array)");
        found = true;
      }
    }
    if (!found) append("invalid memory access at address %p", info->si_addr);
  }
  describeThread(rt.current);
}

void faultHandler(int signal, siginfo_t* info, void* context) {
  if (!rt.inDispatch || !pthread_equal(pthread_self(), rt.dispatchThread)) {
    // Not ours: restore the previous handler and let the fault happen again.
    for (int i = 0; i < 4; ++i)
      if (kSignals[i] == signal) sigaction(signal, &rt.previous[i], nullptr);
    (void)context;
    return;
  }
  describeFault(signal, info);
  describeProgramCounter(context);
  rt.failed = true;
  siglongjmp(rt.faultJump, 1);
}

void poisonThreadgroupMemory() {
  if (MTLEMU_TG_START && MTLEMU_TG_END && MTLEMU_TG_END > MTLEMU_TG_START)
    memset(MTLEMU_TG_START, 0xFF, (size_t)(MTLEMU_TG_END - MTLEMU_TG_START));
  if (rt.threadgroupMemory) memset(rt.threadgroupMemory, 0xFF, rt.threadgroupCapacity);
}

/// Runs one threadgroup to completion. Returns false on an error (message in rt.error).
bool runThreadgroup(const uint32_t group[3], const uint32_t size[3], const uint32_t groups[3], const uint32_t grid[3]) {
  rt.groupPosition[0] = group[0];
  rt.groupPosition[1] = group[1];
  rt.groupPosition[2] = group[2];
  uint32_t actual[3];
  for (int d = 0; d < 3; ++d) {
    uint32_t remaining = grid[d] - group[d] * size[d];
    actual[d] = remaining < size[d] ? remaining : size[d];
  }
  int count = (int)(actual[0] * actual[1] * actual[2]);
  rt.threadCount = count;
  uint32_t simdgroups = (uint32_t)((count + kSimdWidth - 1) / kSimdWidth);
  for (int t = 0; t < count; ++t) {
    Fiber* f = rt.fibers + t;
    mtlemu_thread_info& i = f->info;
    uint32_t local[3] = {(uint32_t)t % actual[0], ((uint32_t)t / actual[0]) % actual[1], (uint32_t)t / (actual[0] * actual[1])};
    for (int d = 0; d < 3; ++d) {
      i.thread_position_in_threadgroup[d] = local[d];
      i.thread_position_in_grid[d] = group[d] * size[d] + local[d];
      i.threadgroup_position_in_grid[d] = group[d];
      i.threads_per_threadgroup[d] = actual[d];
      i.threadgroups_per_grid[d] = groups[d];
      i.threads_per_grid[d] = grid[d];
      i.thread_index_in_threadgroup[d] = 0;
      i.thread_index_in_simdgroup[d] = 0;
      i.simdgroup_index_in_threadgroup[d] = 0;
      i.threads_per_simdgroup[d] = 0;
      i.simdgroups_per_threadgroup[d] = 0;
    }
    i.thread_index_in_threadgroup[0] = (uint32_t)t;
    i.thread_index_in_simdgroup[0] = (uint32_t)t % kSimdWidth;
    i.simdgroup_index_in_threadgroup[0] = (uint32_t)t / kSimdWidth;
    i.threads_per_simdgroup[0] = kSimdWidth;
    i.simdgroups_per_threadgroup[0] = simdgroups;
    f->what = nullptr;
    f->file = nullptr;
    prepareFiber(f);
  }
  poisonThreadgroupMemory();
  for (;;) {
    bool anyRunnable = false;
    for (int n = 0; n < count; ++n) {
      Fiber* f = rt.fibers + (rt.reverseLanes ? count - 1 - n : n);
      if (f->state != FiberState::runnable) continue;
      anyRunnable = true;
      resume(f);
      if (rt.failed) return false;
    }
    if (anyRunnable) continue;
    bool allFinished = true;
    for (int t = 0; t < count; ++t)
      if (rt.fibers[t].state != FiberState::finished) allFinished = false;
    if (allFinished) return true;
    if (!resolveWaits()) {
      if (!rt.failed) failAt(nullptr, "deadlock: no thread can make progress");
      return false;
    }
  }
}

void installFaultHandlers() {
  stack_t alternate = {};
  alternate.ss_sp = rt.alternateStack;
  alternate.ss_size = 64 * 1024;
  sigaltstack(&alternate, nullptr);
  struct sigaction action = {};
  action.sa_sigaction = faultHandler;
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  sigemptyset(&action.sa_mask);
  for (int i = 0; i < 4; ++i) sigaction(kSignals[i], &action, &rt.previous[i]);
}

void removeFaultHandlers() {
  for (int i = 0; i < 4; ++i) sigaction(kSignals[i], &rt.previous[i], nullptr);
  stack_t disabled = {};
  disabled.ss_flags = SS_DISABLE;
  sigaltstack(&disabled, nullptr);
}

}  // namespace

// MARK: - Called from kernels (through the compatibility header)

extern "C" const mtlemu_thread_info* mtlemu_current_thread(void) { return &rt.current->info; }

extern "C" void* mtlemu_buffer_binding(int index) {
  if (index < 0 || index >= kMaxBindings || !rt.buffers[index].bound) {
    snprintf(rt.error, sizeof(rt.error), "no buffer bound at [[buffer(%d)]]", index);
    describeThread(rt.current);
    abortFromFiber();
  }
  return rt.buffers[index].pointer;
}

extern "C" void* mtlemu_threadgroup_binding(int index) {
  if (index < 0 || index >= kMaxBindings || !rt.threadgroupBound[index]) {
    snprintf(rt.error, sizeof(rt.error), "no threadgroup memory length set for [[threadgroup(%d)]]", index);
    describeThread(rt.current);
    abortFromFiber();
  }
  size_t offset = 0;
  for (int i = 0; i < index; ++i)
    if (rt.threadgroupBound[i]) offset += (rt.threadgroupLengths[i] + 15) & ~(uint64_t)15;
  return rt.threadgroupMemory + offset;
}

extern "C" void mtlemu_threadgroup_barrier(const char* file, int line, int column) {
  Fiber* f = rt.current;
  f->state = FiberState::barrier;
  f->what = "threadgroup_barrier";
  f->file = file;
  f->line = line;
  f->column = column;
  suspend();
}

extern "C" void mtlemu_simd_collective(void* input, void* output, mtlemu_combine_fn combine, const char* what,
                                       const char* file, int line, int column) {
  Fiber* f = rt.current;
  f->state = FiberState::simd;
  f->what = what;
  f->file = file;
  f->line = line;
  f->column = column;
  f->input = input;
  f->output = output;
  f->combine = combine;
  suspend();
}

extern "C" void mtlemu_kernel_error(const char* message, const char* file, int line) {
  if (rt.failed) return;  // keep the first report
  snprintf(rt.error, sizeof(rt.error), "%s (%s:%d)", message, file, line);
  describeThread(rt.current);
  if (!rt.current) {  // raised by a SIMD-group combine, which runs in the scheduler
    rt.failed = true;
    return;
  }
  abortFromFiber();
}

// MARK: - Called from Swift

MTLEMU_EXPORT int mtlemu_function_count(void) { return mtlemu_kernel_count; }
MTLEMU_EXPORT const char* mtlemu_function_name(int index) { return mtlemu_kernel_names[index]; }
MTLEMU_EXPORT const char* mtlemu_last_error(void) { return rt.error; }

MTLEMU_EXPORT void mtlemu_clear_bindings(void) {
  for (int i = 0; i < kMaxBindings; ++i) {
    rt.buffers[i] = Binding{nullptr, 0, false};
    rt.threadgroupBound[i] = false;
    rt.threadgroupLengths[i] = 0;
  }
}

MTLEMU_EXPORT int mtlemu_bind_buffer(int index, void* pointer, uint64_t length) {
  if (index < 0 || index >= kMaxBindings) return -1;
  rt.buffers[index] = Binding{pointer, length, true};
  return 0;
}

/// `setBytes`: copies into storage that ends at a guard page, like a buffer.
MTLEMU_EXPORT int mtlemu_bind_bytes(int index, const void* bytes, uint64_t length) {
  if (index < 0 || index >= kMaxBindings) return -1;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  size_t needed = ((length + page - 1) / page) * page + page;
  if (rt.bytesCapacity[index] < needed) {
    if (rt.bytesStorage[index]) munmap(rt.bytesStorage[index], rt.bytesCapacity[index]);
    void* region = mmap(nullptr, needed, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED) return -1;
    mprotect((uint8_t*)region + needed - page, page, PROT_NONE);
    rt.bytesStorage[index] = (uint8_t*)region;
    rt.bytesCapacity[index] = needed;
  }
  size_t usable = rt.bytesCapacity[index] - page;
  size_t aligned = (length + 15) & ~(uint64_t)15;
  uint8_t* start = rt.bytesStorage[index] + usable - aligned;
  memcpy(start, bytes, length);
  rt.buffers[index] = Binding{start, aligned, true};
  return 0;
}

MTLEMU_EXPORT int mtlemu_bind_threadgroup_memory(int index, uint64_t length) {
  if (index < 0 || index >= kMaxBindings) return -1;
  rt.threadgroupBound[index] = true;
  rt.threadgroupLengths[index] = length;
  return 0;
}

MTLEMU_EXPORT void mtlemu_set_options(int reverseLanes, int strictBarriers) {
  rt.reverseLanes = reverseLanes != 0;
  rt.strictBarriers = strictBarriers != 0;
}

/// Runs kernel `function` over `groups` threadgroups of `size` threads. `grid` is the number of
/// threads per grid (`dispatchThreads`, edge groups may be partial) or null (`dispatchThreadgroups`).
/// Returns 0, or -1 with a message in `mtlemu_last_error()`.
MTLEMU_EXPORT int mtlemu_dispatch(int function, const uint32_t* groups, const uint32_t* size, const uint32_t* grid) {
  rt.error[0] = 0;
  rt.failed = false;
  if (function < 0 || function >= mtlemu_kernel_count) {
    snprintf(rt.error, sizeof(rt.error), "no kernel with index %d", function);
    return -1;
  }
  rt.kernel = mtlemu_kernel_functions[function];
  rt.kernelName = mtlemu_kernel_names[function];
  uint32_t threads = size[0] * size[1] * size[2];
  if (threads == 0 || threads > (uint32_t)kMaxThreads) {
    snprintf(rt.error, sizeof(rt.error), "%u threads per threadgroup (must be 1…%d) for kernel %s", threads, kMaxThreads,
             rt.kernelName);
    return -1;
  }
  if (!ensureFibers()) {
    snprintf(rt.error, sizeof(rt.error), "cannot allocate fiber stacks");
    return -1;
  }
  size_t tgBytes = 0;
  for (int i = 0; i < kMaxBindings; ++i)
    if (rt.threadgroupBound[i]) tgBytes += (rt.threadgroupLengths[i] + 15) & ~(uint64_t)15;
  if (tgBytes > rt.threadgroupCapacity) {
    free(rt.threadgroupMemory);
    rt.threadgroupMemory = (uint8_t*)malloc(tgBytes);
    rt.threadgroupCapacity = rt.threadgroupMemory ? tgBytes : 0;
  }
  uint32_t gridThreads[3];
  for (int d = 0; d < 3; ++d) gridThreads[d] = grid ? grid[d] : groups[d] * size[d];

  rt.dispatchThread = pthread_self();
  installFaultHandlers();
  int result = 0;
  if (sigsetjmp(rt.faultJump, 1) == 0) {
    rt.inDispatch = 1;
    uint32_t group[3];
    for (group[2] = 0; group[2] < groups[2] && result == 0; ++group[2])
      for (group[1] = 0; group[1] < groups[1] && result == 0; ++group[1])
        for (group[0] = 0; group[0] < groups[0] && result == 0; ++group[0])
          if (!runThreadgroup(group, size, groups, gridThreads)) result = -1;
  } else {
    result = -1;
  }
  rt.inDispatch = 0;
  rt.current = nullptr;
  removeFaultHandlers();
  return result;
}
