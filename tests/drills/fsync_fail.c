/* A failing disk for the fault drills, loaded into the server with LD_PRELOAD: while the file
 * named by DRILL_FSYNC_FAILS_WHILE exists, fsync and fdatasync fail with EIO, as they do when
 * a disk's write-back fails. Compiled at test time (tests/drills/test_disk.py). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void) {
    const char *trigger = getenv("DRILL_FSYNC_FAILS_WHILE");
    return trigger != NULL && access(trigger, F_OK) == 0;
}

typedef int (*sync_call)(int);

/* Fail while the trigger exists; else call the real `name` (looked up once into *real). */
static int sync_or_fail(sync_call *real, const char *name, int fd) {
    if (failing()) {
        errno = EIO;
        return -1;
    }
    if (*real == NULL) {
        *real = (sync_call)dlsym(RTLD_NEXT, name);
    }
    return (*real)(fd);
}

int fsync(int fd) {
    static sync_call real_fsync;
    return sync_or_fail(&real_fsync, "fsync", fd);
}

int fdatasync(int fd) {
    static sync_call real_fdatasync;
    return sync_or_fail(&real_fdatasync, "fdatasync", fd);
}
