/* The blocking forms for command-line tools: each runs the client until its answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

/* ---- blocking helpers: run the client until the answer ---- */

typedef struct {
    int done;
    sockbus_error error;
    int failed;
    uint8_t *bytes;
    size_t length;
    sockbus_owned_reply *reply;
} sync_wait;

static int refuse_nested(const sockbus *bus, sockbus_error *err) {
    if (bus->in_process) return sb_fail(err, "INVALID_CALL", "blocking calls cannot be made from a callback; use the callback forms");
    return 0;
}

/* Forgets the questions a blocking helper gave up on: their callbacks would find its wait gone. */
static void cancel_questions(sockbus *bus, void *user_data) {
    sb_question **link = &bus->questions;
    while (*link) {
        sb_question *question = *link;
        if (question->user_data != user_data || question->kind == SB_ASK_CONFIRM) {
            link = &question->next;
            continue;
        }
        question->done = NULL;
        question->stats = NULL;
        link = &question->next;
    }
}

static int wait_until(sockbus *bus, sync_wait *wait, int timeout_ms, sockbus_error *err, const char *what) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sb_now_ms() + timeout_ms;
    while (!wait->done) {
        int64_t left = deadline - sb_now_ms();
        if (left <= 0) {
            cancel_questions(bus, wait);
            return sb_fail(err, "BROKER_UNRESPONSIVE", "no answer to %s within %d ms", what, timeout_ms);
        }
        if (sockbus_run(bus, left > 60000 ? 60000 : (int)left) < 0 && !wait->done) {
            return sb_fail(err, "CLIENT_CLOSED", "the client closed while waiting for %s", what);
        }
    }
    if (wait->failed) {
        if (err) *err = wait->error;
        return -1;
    }
    return 0;
}

int sockbus_connect_sync(sockbus *bus, int timeout_ms, sockbus_error *err) {
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : sb_now_ms() + timeout_ms;
    if (refuse_nested(bus, err) < 0) return -1;
    while (bus->state == SOCKBUS_CONNECTING || bus->state == SOCKBUS_RECONNECTING) {
        int64_t left = deadline - sb_now_ms();
        if (left <= 0) return sb_fail(err, "BROKER_UNAVAILABLE", "no broker answered on %s within %d ms", bus->path, timeout_ms);
        sockbus_run(bus, left > 25 ? 25 : (int)left);
        if (bus->phase == SB_PHASE_OPEN) return 0;
    }
    if (bus->state == SOCKBUS_CONNECTED) return 0;
    if (bus->state == SOCKBUS_CLOSED && bus->has_close_reason && err) *err = bus->close_reason;
    else sb_fail(err, "CLIENT_CLOSED", "the client is closed");
    return -1;
}

static void flush_done(sockbus *bus, const sockbus_error *error, void *user_data) {
    sync_wait *wait = user_data;
    (void)bus;
    wait->done = 1;
    if (error) {
        wait->failed = 1;
        wait->error = *error;
    }
    sockbus_break(bus);
}

int sockbus_flush_sync(sockbus *bus, int timeout_ms, sockbus_error *err) {
    sync_wait wait = {0};
    if (refuse_nested(bus, err) < 0 || sockbus_flush(bus, flush_done, &wait, err) < 0) return -1;
    return wait_until(bus, &wait, timeout_ms, err, "a flush");
}

static void stats_done(sockbus *bus, const uint8_t *counters, size_t length, const sockbus_error *error, void *user_data) {
    sync_wait *wait = user_data;
    wait->done = 1;
    if (error) {
        wait->failed = 1;
        wait->error = *error;
    } else if ((wait->bytes = malloc(length ? length : 1)) != NULL) {
        memcpy(wait->bytes, counters, length);
        wait->length = length;
    } else {
        wait->failed = 1;
        sb_fail(&wait->error, "OUT_OF_MEMORY", "out of memory");
    }
    sockbus_break(bus);
}

uint8_t *sockbus_stats_sync(sockbus *bus, int timeout_ms, size_t *length, sockbus_error *err) {
    sync_wait wait = {0};
    if (refuse_nested(bus, err) < 0 || sockbus_stats(bus, stats_done, &wait, err) < 0) return NULL;
    if (wait_until(bus, &wait, timeout_ms, err, "a stats request") < 0) {
        free(wait.bytes);
        return NULL;
    }
    if (length) *length = wait.length;
    return wait.bytes;
}

void sockbus_owned_reply_free(sockbus_owned_reply *reply) {
    if (!reply) return;
    for (size_t index = 0; index < reply->header_count; index++) {
        free((char *)reply->headers[index].name);
        free((char *)reply->headers[index].value);
    }
    free(reply->headers);
    free((char *)reply->sender.gateway);
    free(reply->data);
    free(reply);
}

static sockbus_owned_reply *copy_reply(const sockbus_reply *reply) {
    sockbus_owned_reply *owned = calloc(1, sizeof *owned);
    if (!owned) return NULL;
    owned->data = malloc(reply->data_len ? reply->data_len : 1);
    owned->headers = calloc(reply->header_count ? reply->header_count : 1, sizeof *owned->headers);
    if (!owned->data || !owned->headers) {
        sockbus_owned_reply_free(owned);
        return NULL;
    }
    memcpy(owned->data, reply->data, reply->data_len);
    owned->data_len = reply->data_len;
    owned->sender = reply->sender;
    owned->sender.gateway = reply->sender.gateway ? strdup(reply->sender.gateway) : NULL;
    for (size_t index = 0; index < reply->header_count; index++) {
        owned->headers[index].name = strdup(reply->headers[index].name);
        owned->headers[index].value = strdup(reply->headers[index].value);
        owned->header_count++;
        if (!owned->headers[index].name || !owned->headers[index].value) {
            sockbus_owned_reply_free(owned);
            return NULL;
        }
    }
    return owned;
}

static void reply_done(sockbus *bus, const sockbus_reply *reply, const sockbus_error *error, void *user_data) {
    sync_wait *wait = user_data;
    wait->done = 1;
    if (error) {
        wait->failed = 1;
        wait->error = *error;
    } else if (!(wait->reply = copy_reply(reply))) {
        wait->failed = 1;
        sb_fail(&wait->error, "OUT_OF_MEMORY", "out of memory");
    }
    sockbus_break(bus);
}

sockbus_owned_reply *sockbus_request_sync(sockbus *bus, const char *topic, const void *data, size_t length, const sockbus_header *headers,
                                          size_t header_count, uint32_t timeout_ms, sockbus_error *err) {
    sync_wait wait = {0};
    if (refuse_nested(bus, err) < 0) return NULL;
    if (sockbus_request(bus, topic, data, length, headers, header_count, timeout_ms, reply_done, &wait, err) < 0) return NULL;
    /* The request's own timeout always settles it, so this loop ends. */
    if (wait_until(bus, &wait, -1, err, "the request") < 0) return NULL;
    return wait.reply;
}
