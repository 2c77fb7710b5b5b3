#if defined(__linux__)
#define _GNU_SOURCE
#endif
#include "model_patcher_native.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif

// Without kernel or file-system support: the destination is claimed by an operation that fails when it exists.
static int rename_claiming_destination(const char *from, const char *to) {
  struct stat source;
  if (lstat(from, &source) != 0) return errno;
  if (S_ISDIR(source.st_mode)) {
    if (mkdir(to, 0700) != 0) return errno;
    if (rename(from, to) != 0) {  // onto the empty folder just made
      int code = errno;
      rmdir(to);
      return code;
    }
    return 0;
  }
  if (link(from, to) != 0) return errno;
  unlink(from);
  return 0;
}

static int rename_noreplace(const char *from, const char *to) {
#if defined(__linux__) && defined(SYS_renameat2)
  if (syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) == 0) return 0;
  if (errno != EINVAL && errno != ENOSYS) return errno;
#elif defined(__APPLE__)
  if (renamex_np(from, to, RENAME_EXCL) == 0) return 0;
  if (errno != ENOTSUP && errno != EINVAL) return errno;
#endif
  return rename_claiming_destination(from, to);
}

int mp_rename_noreplace(const char *from, const char *to) {
  int code = rename_noreplace(from, to);
  return code == EEXIST || code == ENOTEMPTY ? -1 : code;
}

int mp_remove_empty_folder(const char *path) { return rmdir(path) == 0 ? 0 : errno; }

int mp_process_exists(int pid) {
  if (pid <= 0) return 1;
  if (kill(pid, 0) == 0) return 1;
  return errno == ESRCH ? 0 : 1;
}

const char *mp_error_text(int code) { return strerror(code); }
