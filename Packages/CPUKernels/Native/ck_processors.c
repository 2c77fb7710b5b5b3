// The processors this process may run on: the affinity mask on Linux (taskset, cpusets, container CPU sets),
// the online processors elsewhere. Sizing thread pools by the machine's processor count instead
// oversubscribes a process pinned to a few cores.
#if defined(__linux__)
#define _GNU_SOURCE
#include <sched.h>
#endif
#include <unistd.h>

#include "cpu_kernels.h"

int ck_available_processors(void) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  return online > 0 ? (int)online : 1;
}
