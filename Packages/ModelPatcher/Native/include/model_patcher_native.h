// The few operating-system calls the model patcher needs that Foundation does not offer, written once for
// every platform (no stable API; used by ModelPatcher only).
#ifndef MODEL_PATCHER_NATIVE_H
#define MODEL_PATCHER_NATIVE_H

/// Renames `from` to `to` only if `to` does not exist, atomically: renameat2(RENAME_NOREPLACE) on Linux,
/// renamex_np(RENAME_EXCL) on Darwin; where the file system supports neither, link()+unlink() for a file and
/// mkdir() (which fails when `to` exists) + rename() onto that empty folder for a folder.
/// Returns 0; -1 when `to` exists; else the errno value.
int mp_rename_noreplace(const char *from, const char *to);

/// Removes a folder only if it is empty (rmdir): 0, or the errno value.
int mp_remove_empty_folder(const char *path);

/// Whether a process with this id exists: 1 (it does, or it is another user's), 0 (no such process).
int mp_process_exists(int pid);

/// strerror(code), for messages.
const char *mp_error_text(int code);

#endif
