/*
 * What the kernel says about the process at the other end of a Unix socket,
 * and the user and group database lookups that turn ids into names. Node has
 * no API for either. Written against node-api (C), so one build works with
 * every Node version that has the same node-api level.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#include <node_api.h>

#define LOOKUP_BUFFER 16384
/* Room for this many groups on the first try; more are read on a second try at the size the kernel asks for. */
#define INITIAL_GROUPS 64

static napi_value throw_errno(napi_env env, const char *what) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(errno));
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int read_int_argument(napi_env env, napi_callback_info info, int64_t *value) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return 0;
  return napi_get_value_int64(env, argv[0], value) == napi_ok;
}

static int read_string_argument(napi_env env, napi_callback_info info, char *buffer, size_t size) {
  size_t argc = 1, length = 0;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) return 0;
  return napi_get_value_string_utf8(env, argv[0], buffer, size, &length) == napi_ok && length < size - 1;
}

static napi_value number(napi_env env, double value) {
  napi_value result;
  napi_create_double(env, value, &result);
  return result;
}

static napi_value null_value(napi_env env) {
  napi_value result;
  napi_get_null(env, &result);
  return result;
}

#if defined(SO_PEERGROUPS) && defined(__linux__)
/*
 * The peer's supplementary groups, however many it has (Linux allows 65536).
 * A buffer too small fails with ERANGE and the size needed in *length; the
 * list is fixed at connect time, so the second try fits. Returns 0, or -1
 * with errno set: a caller must not go on as if the peer had no groups, or
 * the policy's group deny rules would not apply to it.
 */
static int read_peer_groups(int fd, gid_t **groups, int *count) {
  socklen_t size = INITIAL_GROUPS * sizeof(gid_t);
  for (int attempt = 0; attempt < 3; attempt++) {
    gid_t *buffer = malloc(size > 0 ? size : sizeof(gid_t));
    if (!buffer) {
      errno = ENOMEM;
      return -1;
    }
    socklen_t length = size;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, buffer, &length) == 0) {
      *groups = buffer;
      *count = (int)(length / sizeof(gid_t));
      return 0;
    }
    int error = errno;
    free(buffer);
    if (error != ERANGE || length <= size) {
      errno = error;
      return -1;
    }
    size = length;
  }
  errno = ERANGE;
  return -1;
}
#endif

/*
 * Reads uid, gid and pid of the peer of `fd` (pid -1 where the platform
 * cannot tell) into `result`, and with `groups` set, the supplementary
 * groups too. Returns NULL with an exception pending when any of it
 * cannot be read, else `result`.
 */
static napi_value read_peer(napi_env env, napi_callback_info info, const char *usage, int with_groups) {
  int64_t fd;
  if (!read_int_argument(env, info, &fd)) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  double uid, gid, pid = -1;
  gid_t *groups = NULL;
  int group_count = 0;
#if defined(SO_PEERCRED) && defined(__linux__)
  struct ucred credentials;
  socklen_t length = sizeof credentials;
  if (getsockopt((int)fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return throw_errno(env, "SO_PEERCRED");
  uid = credentials.uid;
  gid = credentials.gid;
  pid = credentials.pid;
#ifdef SO_PEERGROUPS
  if (with_groups && read_peer_groups((int)fd, &groups, &group_count) != 0) return throw_errno(env, "SO_PEERGROUPS");
#endif
#else
  uid_t peer_uid;
  gid_t peer_gid;
  if (getpeereid((int)fd, &peer_uid, &peer_gid) != 0) return throw_errno(env, "getpeereid");
  uid = peer_uid;
  gid = peer_gid;
#endif
  napi_value result;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "uid", number(env, uid));
  napi_set_named_property(env, result, "gid", number(env, gid));
  napi_set_named_property(env, result, "pid", number(env, pid));
  if (with_groups) {
    napi_value group_array;
    napi_create_array_with_length(env, group_count, &group_array);
    for (int index = 0; index < group_count; index++) napi_set_element(env, group_array, index, number(env, groups[index]));
    napi_set_named_property(env, result, "groups", group_array);
  }
  free(groups);
  return result;
}

/* peerCredentials(fd) -> { uid, gid, pid, groups }; pid is -1 where the platform cannot tell. Throws when any of it cannot be read. */
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  return read_peer(env, info, "peerCredentials(fd): fd must be a number", 1);
}

/*
 * peerProcess(fd) -> { uid, gid, pid }: who is at the other end, without the
 * groups. A client asks this of its connected socket, where the kernel
 * answers with the credentials of the process that listens, the broker.
 */
static napi_value peer_process(napi_env env, napi_callback_info info) {
  return read_peer(env, info, "peerProcess(fd): fd must be a number", 0);
}

/* userName(uid) -> name or null */
static napi_value user_name(napi_env env, napi_callback_info info) {
  int64_t uid;
  if (!read_int_argument(env, info, &uid)) return null_value(env);
  struct passwd entry, *found = NULL;
  char buffer[LOOKUP_BUFFER];
  if (getpwuid_r((uid_t)uid, &entry, buffer, sizeof buffer, &found) != 0 || !found) return null_value(env);
  napi_value result;
  napi_create_string_utf8(env, found->pw_name, NAPI_AUTO_LENGTH, &result);
  return result;
}

/* userId(name) -> uid or null */
static napi_value user_id(napi_env env, napi_callback_info info) {
  char name[256];
  if (!read_string_argument(env, info, name, sizeof name)) return null_value(env);
  struct passwd entry, *found = NULL;
  char buffer[LOOKUP_BUFFER];
  if (getpwnam_r(name, &entry, buffer, sizeof buffer, &found) != 0 || !found) return null_value(env);
  return number(env, found->pw_uid);
}

/* groupId(name) -> gid or null */
static napi_value group_id(napi_env env, napi_callback_info info) {
  char name[256];
  if (!read_string_argument(env, info, name, sizeof name)) return null_value(env);
  struct group entry, *found = NULL;
  char buffer[LOOKUP_BUFFER];
  if (getgrnam_r(name, &entry, buffer, sizeof buffer, &found) != 0 || !found) return null_value(env);
  return number(env, found->gr_gid);
}

/*
 * sendBuffer(fd, bytes) -> bytes: asks for a send buffer of `bytes` on a
 * socket (0: leave it) and says what the kernel then holds at most, which
 * Linux caps at net.core.wmem_max and then doubles. Node has no setsockopt.
 */
static napi_value send_buffer(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t fd, bytes;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int64(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &bytes) != napi_ok ||
      bytes < 0 || bytes > INT32_MAX) {
    napi_throw_type_error(env, NULL, "sendBuffer(fd, bytes): fd and bytes must be numbers, bytes from 0 to 2^31-1");
    return NULL;
  }
  int requested = (int)bytes;
  if (requested > 0 && setsockopt((int)fd, SOL_SOCKET, SO_SNDBUF, &requested, sizeof requested) != 0) return throw_errno(env, "SO_SNDBUF");
  int held = 0;
  socklen_t length = sizeof held;
  if (getsockopt((int)fd, SOL_SOCKET, SO_SNDBUF, &held, &length) != 0) return throw_errno(env, "SO_SNDBUF");
  return number(env, held);
}

/*
 * raiseFileLimit() -> { soft, hard }: raises this process's soft limit on
 * open files to its hard limit (a broker serves one descriptor per client)
 * and says what the limits are now. Node has no setrlimit of its own.
 */
static napi_value raise_file_limit(napi_env env, napi_callback_info info) {
  (void)info;
  struct rlimit limit;
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return throw_errno(env, "getrlimit(RLIMIT_NOFILE)");
  if (limit.rlim_cur < limit.rlim_max) {
    struct rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  napi_value result;
  napi_create_object(env, &result);
  /* RLIM_INFINITY does not fit a double exactly; any huge number means "no limit" to the caller. */
  napi_set_named_property(env, result, "soft", number(env, limit.rlim_cur == RLIM_INFINITY ? 1e15 : (double)limit.rlim_cur));
  napi_set_named_property(env, result, "hard", number(env, limit.rlim_max == RLIM_INFINITY ? 1e15 : (double)limit.rlim_max));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
    {"peerCredentials", NULL, peer_credentials, NULL, NULL, NULL, napi_default, NULL},
    {"peerProcess", NULL, peer_process, NULL, NULL, NULL, napi_default, NULL},
    {"userName", NULL, user_name, NULL, NULL, NULL, napi_default, NULL},
    {"userId", NULL, user_id, NULL, NULL, NULL, napi_default, NULL},
    {"groupId", NULL, group_id, NULL, NULL, NULL, napi_default, NULL},
    {"raiseFileLimit", NULL, raise_file_limit, NULL, NULL, NULL, napi_default, NULL},
    {"sendBuffer", NULL, send_buffer, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
