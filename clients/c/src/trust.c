/*
 * Who runs the broker (PROTOCOL.md §1). Any local user may bind the socket
 * path while the real broker is down, so before sending anything (hello
 * included) the client asks the kernel who listens, with SO_PEERCRED on its
 * own connected socket, and talks only to root, its own user, or the user
 * broker_uid or $SOCKBUS_BROKER_UID names.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "internal.h"

static void describe_user(char *text, size_t size, uid_t uid) {
    struct passwd entry, *found = NULL;
    char scratch[1024];
    if (getpwuid_r(uid, &entry, scratch, sizeof scratch, &found) == 0 && found)
        snprintf(text, size, "%s (uid %u)", found->pw_name, (unsigned)uid);
    else
        snprintf(text, size, "uid %u", (unsigned)uid);
}

int sb_resolve_broker_uid(const char *option, long *uid, int *from_environment, sockbus_error *err) {
    const char *given = option;
    const char *label = "broker_uid";
    *uid = -1;
    *from_environment = 0;
    if (!given || !*given) {
        given = getenv("SOCKBUS_BROKER_UID");
        if (!given || !*given) return 0;
        *from_environment = 1;
        label = "$SOCKBUS_BROKER_UID";
    }
    if (strspn(given, "0123456789") == strlen(given)) {
        errno = 0;
        unsigned long value = strtoul(given, NULL, 10);
        if (errno || value > UINT32_MAX - 1) return sb_fail(err, "UNTRUSTED_BROKER", "%s must be a uid (0 or more) or a user name, not \"%s\"", label, given);
        *uid = (long)value;
        return 0;
    }
    struct passwd entry, *found = NULL;
    char scratch[1024];
    if (getpwnam_r(given, &entry, scratch, sizeof scratch, &found) != 0 || !found)
        return sb_fail(err, "UNTRUSTED_BROKER", "%s \"%s\" names no user on this system", label, given);
    *uid = (long)found->pw_uid;
    return 0;
}

/* The listening process's uid, from the kernel: SO_PEERCRED on Linux, getpeereid() on the BSDs and macOS. */
static int peer_uid(int fd, uid_t *uid) {
#ifdef SO_PEERCRED
    struct ucred credentials;
    socklen_t size = sizeof credentials;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) return -1;
    *uid = credentials.uid;
    return 0;
#else
    gid_t gid;
    return getpeereid(fd, uid, &gid);
#endif
}

int sb_check_broker(int fd, const char *path, long extra_uid, int from_environment, sockbus_error *err) {
    uid_t uid;
    char broker[300], extra[300];
    if (peer_uid(fd, &uid) != 0)
        return sb_fail(err, "UNTRUSTED_BROKER", "cannot tell who runs the broker on %s: %s", path, strerror(errno));
    if (uid == 0 || uid == getuid() || uid == geteuid() || (extra_uid >= 0 && (long)uid == extra_uid)) return 0;
    describe_user(broker, sizeof broker, uid);
    if (extra_uid < 0)
        return sb_fail(err, "UNTRUSTED_BROKER", "the broker on %s runs as %s, not root or you; pass broker_uid to trust it", path, broker);
    describe_user(extra, sizeof extra, (uid_t)extra_uid);
    return sb_fail(err, "UNTRUSTED_BROKER", "the broker on %s runs as %s, not %s as %s asks, nor root or you", path, broker, extra,
                   from_environment ? "$SOCKBUS_BROKER_UID" : "broker_uid");
}
