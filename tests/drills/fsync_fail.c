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

int fsync(int fd) {
    static int (*real_fsync)(int);
    if (failing()) {
        errno = EIO;
        return -1;
    }
    if (real_fsync == NULL) {
        real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    }
    return real_fsync(fd);
}

int fdatasync(int fd) {
    static int (*real_fdatasync)(int);
    if (failing()) {
        errno = EIO;
        return -1;
    }
    if (real_fdatasync == NULL) {
        real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    }
    return real_fdatasync(fd);
}
