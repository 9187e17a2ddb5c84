/*
 * The client's lifecycle: options, state and callbacks, the timers of an
 * open connection, closing on purpose, and the loop. One loop owns every
 * transition: sockbus_process(). The socket's side is connection.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "client.h"

/* How often a reconnecting client looks for a new socket file (PROTOCOL.md §8). */
#define SOCKET_POLL_MS 25
/* A new socket file is dialled after a delay uniform in [0, this), so a restart's clients spread out. */
#define NEW_SOCKET_JITTER_MS 100
/* How long a clean close waits for the broker to close its end after our goodbye. */
#define GOODBYE_WAIT_MS 2000

void sockbus_options_init(sockbus_options *options) {
    memset(options, 0, sizeof *options);
    options->reconnect = 1;
    options->max_reconnect_delay_ms = 2000;
    options->offline_queue_messages = 10000;
    options->offline_queue_bytes = 8 * 1024 * 1024;
    options->max_pending_bytes = 32 * 1024 * 1024;
    options->request_timeout_ms = 5000;
    options->handshake_timeout_ms = 5000;
    options->ping_interval_ms = 5000;
    options->ping_timeout_ms = 5000;
}

sockbus *sockbus_new(const sockbus_options *options, sockbus_error *err) {
    sockbus_options defaults;
    if (!options) {
        sockbus_options_init(&defaults);
        options = &defaults;
    }
    const char *path = options->path && *options->path ? options->path : getenv("SOCKBUS_SOCKET");
    if (!path || !*path) path = "/tmp/sockbus.sock";
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        sb_fail(err, "SOCKET_PATH_TOO_LONG", "socket path is %zu bytes long, but Linux allows at most %zu bytes: %s", strlen(path),
                sizeof(((struct sockaddr_un *)0)->sun_path) - 1, path);
        return NULL;
    }
    if (options->name && strlen(options->name) > 256) {
        sb_fail(err, "INVALID_MESSAGE", "the client name is %zu bytes; at most 256 are allowed", strlen(options->name));
        return NULL;
    }
    if (options->name && !sb_valid_utf8((const uint8_t *)options->name, strlen(options->name))) {
        sb_fail(err, "INVALID_MESSAGE", "the client name is not valid UTF-8");
        return NULL;
    }
    sockbus *bus = calloc(1, sizeof *bus);
    if (!bus) {
        sb_fail(err, "OUT_OF_MEMORY", "out of memory");
        return NULL;
    }
    bus->options = *options;
    snprintf(bus->path, sizeof bus->path, "%s", path);
    bus->name = strdup(options->name ? options->name : "");
    if (!bus->name || sb_resolve_broker_uid(options->broker_uid, &bus->extra_uid, &bus->extra_uid_from_environment, err) < 0) {
        if (!bus->name) sb_fail(err, "OUT_OF_MEMORY", "out of memory");
        free(bus->name);
        free(bus);
        return NULL;
    }
    if (bus->options.max_reconnect_delay_ms == 0) bus->options.max_reconnect_delay_ms = 2000;
    if (bus->options.request_timeout_ms == 0) bus->options.request_timeout_ms = 5000;
    if (bus->options.handshake_timeout_ms == 0) bus->options.handshake_timeout_ms = 5000;
    if (bus->options.ping_interval_ms == 0) bus->options.ping_interval_ms = 5000;
    if (bus->options.ping_timeout_ms == 0) bus->options.ping_timeout_ms = 5000;
    bus->fd = -1;
    bus->reported_fd = -1;
    bus->limits = sb_default_limits;
    bus->state = SOCKBUS_CONNECTING;
    bus->phase = SB_PHASE_IDLE;
    bus->next_subscription_id = 1;
    bus->next_request_id = 1;
    bus->next_token = 1;
    bus->offline.max_count = options->offline_queue_messages;
    bus->offline.max_bytes = options->offline_queue_bytes;
    bus->random_state = (uint64_t)sb_now_ms() ^ ((uint64_t)(uintptr_t)bus << 16) ^ ((uint64_t)getpid() << 40);
    sb_decoder_init(&bus->decoder, sb_default_limits.max_broker_frame_bytes);
    /* The first dial happens in the first sockbus_process(), so that every callback runs inside the loop. */
    bus->retry_at = sb_now_ms();
    bus->next_file_check = INT64_MAX;
    bus->jitter_scheduled = 1;
    return bus;
}

sockbus_state sockbus_get_state(const sockbus *bus) { return bus->state; }
const char *sockbus_path(const sockbus *bus) { return bus->path; }
int sockbus_fd(const sockbus *bus) { return bus->fd; }

void sockbus_get_counters(const sockbus *bus, sockbus_counters *counters) { *counters = bus->counters; }
void sockbus_get_limits(const sockbus *bus, sockbus_limits *limits) { *limits = bus->limits; }

short sockbus_events(const sockbus *bus) {
    if (bus->fd < 0) return 0;
    return (short)(POLLIN | (sb_buffer_pending(&bus->out) > 0 ? POLLOUT : 0));
}

void sb_notify_watch(sockbus *bus) {
    short events = sockbus_events(bus);
    if (bus->fd == bus->reported_fd && events == bus->reported_events) return;
    bus->reported_fd = bus->fd;
    bus->reported_events = events;
    if (bus->options.callbacks.watch) bus->options.callbacks.watch(bus, bus->fd, events, bus->options.user_data);
}

void sb_set_state(sockbus *bus, sockbus_state state, const sockbus_error *error) {
    if (bus->state == state && !error) return;
    bus->state = state;
    if (bus->options.callbacks.status) bus->options.callbacks.status(bus, state, error, bus->options.user_data);
}

void sb_report_dropped(sockbus *bus, sockbus_drop_source source, uint64_t count, const char *reason) {
    if (count == 0) return;
    if (source == SOCKBUS_DROPPED_BY_BROKER) bus->counters.dropped_by_broker += count;
    else bus->counters.dropped_by_client += count;
    if (bus->options.callbacks.dropped) bus->options.callbacks.dropped(bus, source, count, reason, bus->options.user_data);
}

/* ---- timers ---- */

static void heartbeat(sockbus *bus, int64_t now) {
    if (bus->phase != SB_PHASE_OPEN && bus->phase != SB_PHASE_ENDING) return;
    int64_t limit = (int64_t)bus->options.ping_interval_ms + bus->options.ping_timeout_ms;
    int64_t silent = now - bus->last_heard;
    if (silent >= limit) {
        sb_lose_connection(bus, "BROKER_UNRESPONSIVE", "the broker on %s did not answer for %lld ms; it may be hung", bus->path, (long long)silent);
        return;
    }
    for (sb_question *question = bus->questions; question; question = question->next) {
        if (!question->sent) continue;
        /* A broker that keeps talking but never answers is hung too: flush() must not wait forever. */
        if (now - question->asked_at >= limit) {
            sb_lose_connection(bus, "BROKER_UNRESPONSIVE", "the broker on %s left a %s unanswered for %lld ms; it may be hung", bus->path,
                               question->kind == SB_ASK_STATS ? "stats request" : "ping", (long long)(now - question->asked_at));
            return;
        }
        break; /* answered in order: the first sent is the oldest */
    }
    if (silent >= bus->options.ping_interval_ms && !bus->heartbeat_pinged) {
        bus->heartbeat_pinged = 1;
        sb_encode_token(&bus->out, 7, 0);
    }
}

/* Pings so that the pong confirms every publish sent so far; one such ping is in flight at a time.
 * Returns 1 when a confirming ping is out (this one or an earlier one), 0 when none could be made. */
static int ask_confirm(sockbus *bus) {
    for (sb_question *question = bus->questions; question; question = question->next)
        if (question->kind == SB_ASK_CONFIRM) return 1; /* one in flight at a time */
    sb_question *question = calloc(1, sizeof *question);
    if (!question) return 0;
    question->kind = SB_ASK_CONFIRM;
    question->confirms = bus->publishes_sent;
    sb_question **last = &bus->questions;
    while (*last) last = &(*last)->next;
    *last = question;
    sb_send_questions(bus);
    return 1;
}

static void confirm_publishes(sockbus *bus, int64_t now) {
    if (bus->phase != SB_PHASE_OPEN || !bus->confirming || now < bus->confirm_at) return;
    /* While the ping is out there is nothing to do until its pong, which sets the next time
     * (sb_question_answered): a due time left in the past made sockbus_timeout_ms() answer 0,
     * and every loop that trusts it spun. */
    bus->confirm_at = ask_confirm(bus) ? INT64_MAX : now + 20;
}

static void expire_requests(sockbus *bus, int64_t now) {
    for (;;) {
        sb_request *expired = NULL;
        for (sb_request *request = bus->requests; request; request = request->next)
            if (request->deadline <= now) { expired = request; break; }
        if (!expired) return;
        sb_take_request(bus, expired->id);
        sockbus_error error;
        sb_fail(&error, "REQUEST_TIMEOUT", "no reply to the request on %s within %u ms", expired->topic, expired->timeout_ms);
        expired->on_reply(bus, NULL, &error, expired->user_data);
        sb_free_request(expired);
    }
}

static void idle_timers(sockbus *bus, int64_t now) {
    if (bus->phase != SB_PHASE_IDLE || bus->state == SOCKBUS_CLOSED || bus->state == SOCKBUS_CLOSING) return;
    if (now >= bus->next_file_check && !bus->jitter_scheduled) {
        unsigned long long device, inode;
        bus->next_file_check = now + SOCKET_POLL_MS;
        int exists = sb_socket_file_identity(bus->path, &device, &inode);
        if (exists && (!bus->file_seen || device != bus->file_device || inode != bus->file_inode)) {
            /* A new socket file: a broker (re)started. Dial soon, not at once, so its clients arrive spread out. */
            int64_t soon = now + sb_random_below(NEW_SOCKET_JITTER_MS, &bus->random_state);
            if (soon < bus->retry_at) bus->retry_at = soon;
            bus->jitter_scheduled = 1;
        }
    }
    if (now >= bus->retry_at) sb_start_dial(bus);
}

int sockbus_timeout_ms(const sockbus *bus) {
    int64_t now = sb_now_ms();
    int64_t next = INT64_MAX;
#define SOONER(when) do { if ((when) < next) next = (when); } while (0)
    switch (bus->phase) {
    case SB_PHASE_IDLE:
        if (bus->state == SOCKBUS_CLOSED) break;
        SOONER(bus->retry_at);
        if (!bus->jitter_scheduled) SOONER(bus->next_file_check);
        break;
    case SB_PHASE_HANDSHAKE:
        SOONER(bus->handshake_deadline);
        break;
    case SB_PHASE_OPEN:
    case SB_PHASE_ENDING: {
        int64_t limit = (int64_t)bus->options.ping_interval_ms + bus->options.ping_timeout_ms;
        SOONER(bus->heartbeat_pinged ? bus->last_heard + limit : bus->last_heard + bus->options.ping_interval_ms);
        for (sb_question *question = bus->questions; question; question = question->next)
            if (question->sent) { SOONER(question->asked_at + limit); break; }
        if (bus->confirming && bus->phase == SB_PHASE_OPEN) SOONER(bus->confirm_at);
        if (bus->phase == SB_PHASE_ENDING) SOONER(bus->end_deadline);
        break;
    }
    case SB_PHASE_DONE:
        break;
    }
    for (sb_request *request = bus->requests; request; request = request->next) SOONER(request->deadline);
#undef SOONER
    if (next == INT64_MAX) return -1;
    if (next <= now) return 0;
    return next - now > INT32_MAX ? INT32_MAX : (int)(next - now);
}

/* ---- closing ---- */

/* Sends the goodbye once nothing waits for a confirmation; the broker then closes its end. */
static void continue_end(sockbus *bus) {
    if (bus->phase != SB_PHASE_ENDING || bus->end_goodbye_sent) return;
    for (sb_question *question = bus->questions; question; question = question->next)
        if (question->kind == SB_ASK_CONFIRM) return;
    bus->end_goodbye_sent = 1;
    sb_encode_going_away(&bus->out, "the client was closed");
    bus->end_deadline = sb_now_ms() + GOODBYE_WAIT_MS;
}

void sb_finish_end(sockbus *bus) {
    sb_close_socket(bus);
    bus->phase = SB_PHASE_DONE;
    sb_fail_questions(bus, 0, "CLIENT_CLOSED", "the client was closed");
    sb_fail_requests(bus, "CLIENT_CLOSED", "the client was closed before the reply arrived");
    uint64_t queued = bus->offline.count;
    sb_queue_clear(&bus->offline);
    sb_report_dropped(bus, SOCKBUS_DROPPED_BY_CLIENT, queued, "the client was closed before it could send them");
    sb_set_state(bus, SOCKBUS_CLOSED, NULL);
}

void sockbus_close(sockbus *bus) {
    if (bus->state == SOCKBUS_CLOSED || bus->state == SOCKBUS_CLOSING) return;
    sb_set_state(bus, SOCKBUS_CLOSING, NULL);
    sb_fail_requests(bus, "CLIENT_CLOSED", "the client was closed before the reply arrived");
    if (bus->phase != SB_PHASE_OPEN) {
        sb_finish_end(bus);
        sb_notify_watch(bus);
        return;
    }
    bus->phase = SB_PHASE_ENDING;
    bus->end_goodbye_sent = 0;
    bus->end_deadline = sb_now_ms() + (int64_t)bus->options.ping_interval_ms + bus->options.ping_timeout_ms;
    /* A clean close must not report in doubt what the broker has: confirm first. */
    if (bus->publishes_sent > bus->publishes_confirmed) ask_confirm(bus);
    continue_end(bus);
    sb_notify_watch(bus);
}

void sockbus_free(sockbus *bus) {
    if (!bus) return;
    if (bus->fd >= 0 && bus->phase == SB_PHASE_OPEN) {
        uint64_t unconfirmed = bus->publishes_sent - bus->publishes_confirmed;
        bus->counters.unconfirmed += unconfirmed;
    }
    bus->options.callbacks.status = NULL;
    bus->options.callbacks.dropped = NULL;
    bus->options.callbacks.watch = NULL;
    sb_close_socket(bus);
    bus->phase = SB_PHASE_DONE;
    bus->state = SOCKBUS_CLOSED;
    sb_fail_requests(bus, "CLIENT_CLOSED", "the client was freed before the reply arrived");
    sb_fail_questions(bus, 0, "CLIENT_CLOSED", "the client was freed");
    sb_queue_clear(&bus->offline);
    for (size_t index = 0; index < bus->subscription_count; index++) {
        free(bus->subscriptions[index].pattern);
        free(bus->subscriptions[index].queue);
    }
    free(bus->subscriptions);
    sb_decoder_free(&bus->decoder);
    sb_buffer_free(&bus->out);
    free(bus->name);
    free(bus);
}

/* ---- the loop ---- */

void sockbus_process(sockbus *bus, short revents) {
    int64_t now;
    bus->in_process++;
    if (bus->fd >= 0 && (revents & (POLLIN | POLLHUP | POLLERR))) sb_read_in(bus);
    if (bus->fd >= 0 && sb_buffer_pending(&bus->out) > 0) sb_write_out(bus);
    now = sb_now_ms();
    if (bus->phase == SB_PHASE_HANDSHAKE && now >= bus->handshake_deadline)
        sb_lose_connection(bus, "BROKER_UNRESPONSIVE", "the broker on %s did not answer hello within %u ms", bus->path, bus->options.handshake_timeout_ms);
    heartbeat(bus, now);
    confirm_publishes(bus, now);
    expire_requests(bus, now);
    continue_end(bus);
    if (bus->phase == SB_PHASE_ENDING && now >= bus->end_deadline) {
        if (bus->end_goodbye_sent) sb_finish_end(bus);
        else sb_lose_connection(bus, "BROKER_UNRESPONSIVE", "the broker on %s did not confirm before the close", bus->path);
    }
    if (bus->phase == SB_PHASE_ENDING && bus->end_goodbye_sent == 1 && sb_buffer_pending(&bus->out) == 0 && bus->fd >= 0) {
        shutdown(bus->fd, SHUT_WR); /* the broker answers our end with its own: read_in sees it and finishes */
        bus->end_goodbye_sent = 2;
    }
    idle_timers(bus, now);
    if (bus->fd >= 0 && sb_buffer_pending(&bus->out) > 0) sb_write_out(bus);
    bus->in_process--;
    sb_notify_watch(bus);
}

void sockbus_break(sockbus *bus) { bus->break_requested = 1; }

int sockbus_run(sockbus *bus, int timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sb_now_ms() + timeout_ms;
    if (bus->in_process) return 0; /* not from a callback: the outer loop is mid-frame */
    bus->break_requested = 0;
    /* At least one turn, so that sockbus_run(bus, 0) does what is ready without waiting. */
    do {
        int64_t left = deadline - sb_now_ms();
        int wait = sockbus_timeout_ms(bus);
        if (left < 0) left = 0;
        if (wait < 0 || wait > left) wait = left > INT32_MAX ? INT32_MAX : (int)left;
        struct pollfd watched = {.fd = bus->fd, .events = sockbus_events(bus), .revents = 0};
        int ready = poll(&watched, bus->fd >= 0 ? 1 : 0, wait);
        if (ready < 0 && errno != EINTR) return -1;
        sockbus_process(bus, ready > 0 ? watched.revents : 0);
    } while (bus->state != SOCKBUS_CLOSED && !bus->break_requested && sb_now_ms() < deadline);
    bus->break_requested = 0;
    return bus->state == SOCKBUS_CLOSED ? -1 : 0;
}

int sockbus_close_sync(sockbus *bus, int timeout_ms) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sb_now_ms() + timeout_ms;
    sockbus_close(bus);
    if (bus->in_process) return -1;
    while (bus->state != SOCKBUS_CLOSED) {
        int64_t left = deadline - sb_now_ms();
        if (left <= 0) return -1;
        sockbus_run(bus, left > INT32_MAX ? INT32_MAX : (int)left);
    }
    return 0;
}
