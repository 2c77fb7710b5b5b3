// The ABI between the compatibility header (compiled into each kernel) and the emulator runtime.
// Internal to the emulator: no stable API. Both sides are compiled into the same shared library.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// What one emulated GPU thread sees through Metal's attribute builtins.
typedef struct mtlemu_thread_info {
  uint32_t thread_position_in_grid[3];
  uint32_t thread_position_in_threadgroup[3];
  uint32_t threadgroup_position_in_grid[3];
  uint32_t threads_per_threadgroup[3];
  uint32_t threadgroups_per_grid[3];
  uint32_t threads_per_grid[3];
  uint32_t thread_index_in_threadgroup[3];
  uint32_t thread_index_in_simdgroup[3];
  uint32_t simdgroup_index_in_threadgroup[3];
  uint32_t threads_per_simdgroup[3];
  uint32_t simdgroups_per_threadgroup[3];
} mtlemu_thread_info;

/// Combines the inputs of every active lane of a SIMD-group into every lane's output.
/// `inputs[l]`/`outputs[l]` are null for inactive lanes; `lanes` is the SIMD-group width (32).
typedef void (*mtlemu_combine_fn)(void* const* inputs, void* const* outputs, int lanes);

/// The thread being run.
const mtlemu_thread_info* mtlemu_current_thread(void);
/// The buffer bound at `[[buffer(index)]]`; reports an unbound index and aborts the dispatch.
void* mtlemu_buffer_binding(int index);
/// The memory of `[[threadgroup(index)]]`; reports a missing length and aborts the dispatch.
void* mtlemu_threadgroup_binding(int index);
/// `threadgroup_barrier`: waits until every live thread of the threadgroup reaches this call site.
void mtlemu_threadgroup_barrier(const char* file, int line, int column);
/// A SIMD-group collective: waits for every live lane at this call site, then runs `combine` once.
void mtlemu_simd_collective(void* input, void* output, mtlemu_combine_fn combine, const char* what, const char* file,
                            int line, int column);
/// Reports a kernel-side error (kernel, threadgroup and thread are added) and aborts the dispatch.
void mtlemu_kernel_error(const char* message, const char* file, int line);

#ifdef __cplusplus
}
#endif
