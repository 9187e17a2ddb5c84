/*
 * The socket's side of the client: dialling and checking who listens, the
 * handshake and what a welcome restores, losing a connection and when to
 * dial again (PROTOCOL.md §8), reading frames and writing what waits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "client.h"

/* A session that lasted this long was a good one: the backoff starts afresh after it. */
#define STABLE_SESSION_MS 1000
/* How often a reconnecting client looks for a new socket file (PROTOCOL.md §8). */
#define SOCKET_POLL_MS 25
/* How long publishes wait for the ping that confirms them: one ping covers a burst. */
#define CONFIRM_DELAY_MS 20
/* Reads per sockbus_process() call before others get their turn in the application's loop. */
#define READS_PER_TURN 16
/* A broker that announces a frame limit above this is not believed: it bounds our read buffer. */
#define MAX_BELIEVED_FRAME_BYTES (64u * 1024 * 1024)

const sockbus_limits sb_default_limits = {
    .connection_id = 0, .senders = 0,
    .max_frame_bytes = 1048576, .max_broker_frame_bytes = 1048576 + 1024,
    .max_topic_bytes = 256, .max_pattern_tokens = 16, .max_pattern_wildcards = 3,
    .max_header_entries = 64, .max_header_bytes = 16384,
    .max_subscriptions = 10000, .max_requests = 10000,
    .max_pending_bytes = 8388608, .keepalive_ms = 30000, .server = "",
};

static void report_error(sockbus *bus, const sockbus_error *error) {
    if (bus->options.callbacks.error) bus->options.callbacks.error(bus, error, 0, bus->options.user_data);
}

/* ---- dialling ---- */

int sb_socket_file_identity(const char *path, unsigned long long *device, unsigned long long *inode) {
    struct stat file;
    if (stat(path, &file) != 0) return 0;
    *device = file.st_dev;
    *inode = file.st_ino;
    return 1;
}

void sb_close_socket(sockbus *bus) {
    if (bus->fd >= 0) close(bus->fd);
    bus->fd = -1;
    sb_decoder_reset(&bus->decoder, sb_default_limits.max_broker_frame_bytes);
    bus->out.length = bus->out.start = 0;
}

static void give_up(sockbus *bus, const sockbus_error *reason) {
    bus->close_reason = *reason; /* for sockbus_connect_sync() */
    bus->has_close_reason = 1;
    sb_close_socket(bus);
    bus->phase = SB_PHASE_DONE;
    sb_fail_requests(bus, reason->code, reason->message);
    sb_fail_questions(bus, 0, reason->code, reason->message);
    uint64_t queued = bus->offline.count;
    sb_queue_clear(&bus->offline);
    sb_report_dropped(bus, SOCKBUS_DROPPED_BY_CLIENT, queued, "the client gave up connecting before it could send them");
    sb_set_state(bus, SOCKBUS_CLOSED, reason);
}

/* After a failed attempt or a lost connection: wait out the backoff, or give up. */
static void schedule_retry(sockbus *bus, const sockbus_error *reason) {
    int64_t now = sb_now_ms();
    sb_close_socket(bus);
    bus->phase = SB_PHASE_IDLE;
    if (bus->state == SOCKBUS_CLOSING) {
        sb_finish_end(bus);
        return;
    }
    int retry = bus->ever_connected ? bus->options.reconnect : bus->options.wait_for_broker;
    if (!retry || (bus->options.max_reconnect_attempts && bus->attempt >= bus->options.max_reconnect_attempts)) {
        give_up(bus, reason);
        return;
    }
    uint32_t delay = sb_backoff_delay(bus->attempt++, bus->options.max_reconnect_delay_ms, &bus->random_state);
    bus->retry_at = now + delay;
    bus->next_file_check = now + SOCKET_POLL_MS;
    bus->jitter_scheduled = 0;
    bus->file_seen = sb_socket_file_identity(bus->path, &bus->file_device, &bus->file_inode);
}

static void attempt_failed(sockbus *bus, const char *code, const char *format, ...) __attribute__((format(printf, 3, 4)));
static void attempt_failed(sockbus *bus, const char *code, const char *format, ...) {
    sockbus_error reason;
    va_list arguments;
    snprintf(reason.code, sizeof reason.code, "%s", code);
    va_start(arguments, format);
    vsnprintf(reason.message, sizeof reason.message, format, arguments);
    va_end(arguments);
    /* Said every time: a user must see that an impostor holds the socket, not only retries that never succeed. */
    if (bus->ever_connected && strcmp(code, "UNTRUSTED_BROKER") == 0) report_error(bus, &reason);
    sb_fail_questions(bus, 1, reason.code, reason.message);
    schedule_retry(bus, &reason);
}

/* What the client asks the kernel for as its send buffer. */
#define SB_SEND_BUFFER_BYTES (1024 * 1024)

void sb_start_dial(sockbus *bus) {
    struct sockaddr_un address;
    sockbus_error refusal;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        attempt_failed(bus, "BROKER_UNAVAILABLE", "cannot make a socket: %s", strerror(errno));
        return;
    }
    memset(&address, 0, sizeof address);
    address.sun_family = AF_UNIX;
    memcpy(address.sun_path, bus->path, strlen(bus->path));
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        int error = errno;
        close(fd);
        if (error == ENOENT || error == ECONNREFUSED)
            attempt_failed(bus, "BROKER_UNAVAILABLE", "no broker is listening on %s (is sockbusd running?)", bus->path);
        else if (error == EACCES)
            attempt_failed(bus, "BROKER_UNAVAILABLE", "permission denied connecting to %s", bus->path);
        else if (error == EAGAIN)
            attempt_failed(bus, "BROKER_UNAVAILABLE", "the broker on %s is not accepting connections now (its queue is full)", bus->path);
        else
            attempt_failed(bus, "BROKER_UNAVAILABLE", "cannot connect to %s: %s", bus->path, strerror(error));
        return;
    }
    /* A larger kernel send buffer (Linux caps the request at net.core.wmem_max, then doubles it): a
     * publisher's bursts wait in the kernel rather than the publisher waiting on
     * the broker in 200 KiB steps. Best effort: the default serves too. */
    int send_buffer = SB_SEND_BUFFER_BYTES;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &send_buffer, sizeof send_buffer);
    /* Before hello: an impostor must not learn even the client's name. */
    if (sb_check_broker(fd, bus->path, bus->extra_uid, bus->extra_uid_from_environment, &refusal) < 0) {
        close(fd);
        attempt_failed(bus, refusal.code, "%s", refusal.message);
        return;
    }
    bus->fd = fd;
    bus->phase = SB_PHASE_HANDSHAKE;
    bus->handshake_deadline = sb_now_ms() + bus->options.handshake_timeout_ms;
    bus->has_close_reason = 0;
    bus->close_reason_tentative = 0;
    sb_decoder_reset(&bus->decoder, sb_default_limits.max_broker_frame_bytes);
    if (sb_encode_hello(&bus->out, bus->name, bus->options.no_echo) < 0) {
        attempt_failed(bus, "OUT_OF_MEMORY", "out of memory");
        return;
    }
}

/* ---- the open connection ---- */

void sb_attach(sockbus *bus, const sb_frame *welcome) {
    bus->limits = welcome->welcome;
    sockbus_limits *limits = &bus->limits;
    /* Missing keys kept the protocol's defaults (decode.c); a frame limit of 0 would refuse every publish. */
    if (!limits->max_frame_bytes) limits->max_frame_bytes = sb_default_limits.max_frame_bytes;
    if (!limits->max_broker_frame_bytes) limits->max_broker_frame_bytes = limits->max_frame_bytes + 1024;
    if (limits->max_broker_frame_bytes > MAX_BELIEVED_FRAME_BYTES) limits->max_broker_frame_bytes = MAX_BELIEVED_FRAME_BYTES;
    bus->decoder.max_body = limits->max_broker_frame_bytes;

    int64_t now = sb_now_ms();
    bus->phase = SB_PHASE_OPEN;
    bus->opened_at = now;
    bus->last_heard = now;
    bus->heartbeat_pinged = 0;
    bus->publishes_sent = bus->publishes_confirmed = 0;
    bus->confirming = 0;
    /* Every subscription again (same ids: it is a new connection), then what waited, in order. */
    for (size_t index = 0; index < bus->subscription_count; index++) {
        sb_subscription *subscription = &bus->subscriptions[index];
        if (subscription->removed) continue;
        subscription->active = 0;
        sb_encode_subscribe(&bus->out, subscription->id, subscription->pattern, subscription->queue);
    }
    for (sb_queued *item = sb_queue_take_all(&bus->offline), *next; item; item = next) {
        next = item->next;
        int wanted = 1;
        if (item->request_id) {
            wanted = 0;
            for (sb_request *request = bus->request_buckets[item->request_id % SB_REQUEST_BUCKETS]; request; request = request->bucket_next)
                if (request->id == item->request_id) wanted = 1;
        }
        if (wanted && sb_buffer_append(&bus->out, item->frame, item->length) == 0) {
            if (!item->request_id) bus->publishes_sent++;
        }
        free(item);
    }
    if (bus->publishes_sent > 0) {
        bus->confirming = 1;
        bus->confirm_at = now + CONFIRM_DELAY_MS;
    }
    sb_send_questions(bus);
    int reconnect = bus->ever_connected;
    bus->ever_connected = 1;
    if (reconnect) bus->counters.reconnects++;
    if (bus->state != SOCKBUS_CLOSING) sb_set_state(bus, SOCKBUS_CONNECTED, NULL);
}

void sb_lose_connection(sockbus *bus, const char *code, const char *format, ...) {
    sockbus_error reason;
    if (bus->fd < 0) return;
    if (bus->has_close_reason) {
        reason = bus->close_reason;
    } else {
        va_list arguments;
        snprintf(reason.code, sizeof reason.code, "%s", code);
        va_start(arguments, format);
        vsnprintf(reason.message, sizeof reason.message, format, arguments);
        va_end(arguments);
    }
    sb_phase phase = bus->phase;
    bus->connection_number++;
    if (phase == SB_PHASE_HANDSHAKE) {
        attempt_failed(bus, reason.code, "%s", reason.message);
        return;
    }
    uint64_t unconfirmed = bus->publishes_sent - bus->publishes_confirmed;
    bus->publishes_sent = bus->publishes_confirmed = 0;
    bus->confirming = 0;
    sb_close_socket(bus);
    if (unconfirmed > 0) {
        bus->counters.unconfirmed += unconfirmed;
        if (bus->options.callbacks.unconfirmed) bus->options.callbacks.unconfirmed(bus, unconfirmed, bus->options.user_data);
    }
    for (size_t index = 0; index < bus->subscription_count; index++) bus->subscriptions[index].active = 0;
    if (phase == SB_PHASE_ENDING || bus->state == SOCKBUS_CLOSING) {
        sb_fail_questions(bus, 0, "CLIENT_CLOSED", "the client was closed");
        sb_finish_end(bus);
        return;
    }
    char why[600];
    snprintf(why, sizeof why, "the connection to the broker was lost before the reply arrived (%s)", reason.message);
    sb_fail_requests(bus, "CONNECTION_CLOSED", why);
    sb_fail_questions(bus, 1, "CONNECTION_CLOSED", reason.message);
    /* A session that ends soon after its welcome counts as a failed attempt: back off before the next. */
    if (sb_now_ms() - bus->opened_at >= STABLE_SESSION_MS) bus->attempt = 0;
    if (bus->state != SOCKBUS_CLOSED) sb_set_state(bus, SOCKBUS_RECONNECTING, &reason);
    schedule_retry(bus, &reason);
}

void sb_write_out(sockbus *bus) {
    while (bus->fd >= 0 && sb_buffer_pending(&bus->out) > 0) {
        ssize_t written = send(bus->fd, bus->out.data + bus->out.start, sb_buffer_pending(&bus->out), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (written > 0) {
            sb_buffer_consume(&bus->out, (size_t)written);
            continue;
        }
        if (written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (written < 0 && errno == EINTR) continue;
        sb_lose_connection(bus, "CONNECTION_CLOSED", "lost the connection to %s: %s", bus->path, strerror(errno));
        return;
    }
}

void sb_read_in(sockbus *bus) {
    uint64_t connection = bus->connection_number;
    for (int turn = 0; turn < READS_PER_TURN && bus->fd >= 0 && bus->connection_number == connection; turn++) {
        size_t room;
        uint8_t *space = sb_decoder_space(&bus->decoder, &room);
        if (!space) {
            sb_lose_connection(bus, "OUT_OF_MEMORY", "out of memory reading from the broker");
            return;
        }
        ssize_t got = recv(bus->fd, space, room, MSG_DONTWAIT);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (got <= 0) {
            if (got == 0) sb_lose_connection(bus, "CONNECTION_CLOSED", "the broker on %s closed the connection", bus->path);
            else sb_lose_connection(bus, "CONNECTION_CLOSED", "lost the connection to %s: %s", bus->path, strerror(errno));
            return;
        }
        sb_decoder_commit(&bus->decoder, (size_t)got);
        bus->last_heard = sb_now_ms();
        bus->heartbeat_pinged = 0;
        for (;;) {
            const uint8_t *body;
            uint32_t length;
            sockbus_error error;
            sb_frame frame;
            int found = sb_decoder_next(&bus->decoder, &body, &length, &error);
            if (found == 0) break;
            if (found < 0) {
                bus->has_close_reason = 0;
                sb_lose_connection(bus, error.code, "%s", error.message);
                return;
            }
            if (sb_decode(body, length, &frame, &error) < 0) {
                if (bus->phase == SB_PHASE_HANDSHAKE) {
                    sb_lose_connection(bus, error.code, "%s", error.message);
                    return;
                }
                /* The length was sound, so the stream is still in step: skip just this frame. */
                sb_report_dropped(bus, SOCKBUS_DROPPED_BY_CLIENT, 1, error.message);
                continue;
            }
            sb_handle_frame(bus, &frame);
            if (bus->fd < 0 || bus->connection_number != connection) return;
        }
    }
}

