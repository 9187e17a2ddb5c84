/* What the application asks: publish, subscribe, request, respond, flush, stats, and their blocking forms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

static sb_name_limits name_limits(const sockbus *bus) {
    sb_name_limits limits = {bus->limits.max_topic_bytes, bus->limits.max_pattern_tokens, bus->limits.max_pattern_wildcards};
    return limits;
}

static int closed_error(const sockbus *bus, sockbus_error *err) {
    if (bus->state == SOCKBUS_CLOSED || bus->state == SOCKBUS_CLOSING) return sb_fail(err, "CLIENT_CLOSED", "the client is closed");
    return 0;
}

/* §4.4, with the welcome's bounds. */
static int check_headers(const sockbus *bus, const sockbus_header *headers, size_t count, sockbus_error *err) {
    if (count == 0) return 0;
    if (!headers) return sb_fail(err, "INVALID_DATA", "header_count is %zu but headers is NULL", count);
    if (count > bus->limits.max_header_entries)
        return sb_fail(err, "HEADERS_TOO_LARGE", "%zu headers; at most %u are allowed", count, bus->limits.max_header_entries);
    for (size_t index = 0; index < count; index++) {
        if (!headers[index].name || !headers[index].value) return sb_fail(err, "INVALID_DATA", "header %zu has a NULL name or value", index);
        if (sb_header_name_problem(headers[index].name, err) < 0) return -1;
        if (!sb_valid_utf8((const uint8_t *)headers[index].value, strlen(headers[index].value)))
            return sb_fail(err, "INVALID_DATA", "the value of header %s is not valid UTF-8", headers[index].name);
        for (size_t other = 0; other < index; other++)
            if (strcmp(headers[other].name, headers[index].name) == 0) return sb_fail(err, "INVALID_DATA", "header %s is repeated", headers[index].name);
    }
    size_t size = sb_headers_encoded_size(headers, count);
    if (size > bus->limits.max_header_bytes)
        return sb_fail(err, "HEADERS_TOO_LARGE", "the headers take %zu bytes encoded; at most %u are allowed", size, bus->limits.max_header_bytes);
    return 0;
}

static int check_data(const void *data, size_t length, sockbus_error *err) {
    if (!data || !sb_valid_value(data, length, 1))
        return sb_fail(err, "INVALID_DATA", "data must be exactly one MessagePack value, its strings valid UTF-8");
    return 0;
}

/*
 * Encodes a frame at the end of the outbound buffer, then decides where it
 * goes: refused when larger than the broker accepts, kept when connected
 * (unless the buffer is past max_pending_bytes: dropped and counted), else
 * moved to the offline queue.
 */
static int place_frame(sockbus *bus, size_t start, int is_publish, uint32_t request_id, sockbus_error *err) {
    size_t frame_length = bus->out.length - start;
    if (frame_length - 4 > bus->limits.max_frame_bytes) {
        bus->out.length = start;
        return sb_fail(err, "FRAME_TOO_LARGE", "the message takes %zu bytes; the broker accepts at most %u", frame_length - 4,
                       bus->limits.max_frame_bytes);
    }
    if (bus->phase == SB_PHASE_OPEN) {
        if (start - bus->out.start > bus->options.max_pending_bytes) {
            bus->out.length = start;
            if (request_id) return sb_fail(err, "TOO_MANY_REQUESTS", "the outbound buffer is full (%zu bytes)", bus->options.max_pending_bytes);
            sb_report_dropped(bus, SOCKBUS_DROPPED_BY_CLIENT, 1, "the outbound buffer was full");
            return 0;
        }
        if (is_publish && !request_id) {
            bus->publishes_sent++;
            if (!bus->confirming) {
                bus->confirming = 1;
                bus->confirm_at = sb_now_ms() + 20;
            }
        }
        sb_notify_watch(bus);
        return 0;
    }
    size_t dropped = sb_queue_push(&bus->offline, bus->out.data + start, frame_length, request_id);
    bus->out.length = start;
    sb_report_dropped(bus, SOCKBUS_DROPPED_BY_CLIENT, dropped, "the offline queue was full");
    return 0;
}

int sockbus_publish(sockbus *bus, const char *topic, const void *data, size_t length, const sockbus_publish_options *options,
                    sockbus_error *err) {
    sb_name_limits limits = name_limits(bus);
    const sockbus_header *headers = options ? options->headers : NULL;
    size_t header_count = options ? options->header_count : 0;
    if (closed_error(bus, err) < 0) return -1;
    if (!topic) return sb_fail(err, "INVALID_TOPIC", "the topic is NULL");
    if (sb_topic_problem(topic, strlen(topic), &limits, err) < 0) return -1;
    if (check_headers(bus, headers, header_count, err) < 0 || check_data(data, length, err) < 0) return -1;
    size_t start = bus->out.length;
    if (sb_encode_publish(&bus->out, topic, data, length, headers, header_count, options && options->retain, 0) < 0)
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    if (place_frame(bus, start, 1, 0, err) < 0) return -1;
    bus->counters.published++;
    return 0;
}

static int publish_packed(sockbus *bus, const char *topic, msgpack_sbuffer *value, const sockbus_publish_options *options, sockbus_error *err) {
    int result = sockbus_publish(bus, topic, value->data, value->size, options, err);
    msgpack_sbuffer_destroy(value);
    return result;
}

int sockbus_publish_string(sockbus *bus, const char *topic, const char *text, const sockbus_publish_options *options, sockbus_error *err) {
    msgpack_sbuffer value;
    msgpack_packer packer;
    if (!text) return sb_fail(err, "INVALID_DATA", "the text is NULL");
    msgpack_sbuffer_init(&value);
    msgpack_packer_init(&packer, &value, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&packer, text, strlen(text));
    return publish_packed(bus, topic, &value, options, err);
}

int sockbus_publish_int(sockbus *bus, const char *topic, int64_t number, const sockbus_publish_options *options, sockbus_error *err) {
    msgpack_sbuffer value;
    msgpack_packer packer;
    msgpack_sbuffer_init(&value);
    msgpack_packer_init(&packer, &value, msgpack_sbuffer_write);
    msgpack_pack_int64(&packer, number);
    return publish_packed(bus, topic, &value, options, err);
}

int sockbus_publish_double(sockbus *bus, const char *topic, double number, const sockbus_publish_options *options, sockbus_error *err) {
    msgpack_sbuffer value;
    msgpack_packer packer;
    msgpack_sbuffer_init(&value);
    msgpack_packer_init(&packer, &value, msgpack_sbuffer_write);
    msgpack_pack_double(&packer, number);
    return publish_packed(bus, topic, &value, options, err);
}

int sockbus_publish_nil(sockbus *bus, const char *topic, const sockbus_publish_options *options, sockbus_error *err) {
    static const uint8_t nil = 0xc0;
    return sockbus_publish(bus, topic, &nil, 1, options, err);
}

int sockbus_publish_object(sockbus *bus, const char *topic, const msgpack_object *object, const sockbus_publish_options *options, sockbus_error *err) {
    msgpack_sbuffer value;
    msgpack_packer packer;
    if (!object) return sb_fail(err, "INVALID_DATA", "the value is NULL");
    msgpack_sbuffer_init(&value);
    msgpack_packer_init(&packer, &value, msgpack_sbuffer_write);
    msgpack_pack_object(&packer, *object);
    return publish_packed(bus, topic, &value, options, err);
}

/* ---- subscriptions: an array sorted by id (ids only grow) ---- */

sb_subscription *sb_find_subscription(sockbus *bus, uint32_t id) {
    size_t low = 0, high = bus->subscription_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (bus->subscriptions[middle].id < id) low = middle + 1;
        else high = middle;
    }
    if (low < bus->subscription_count && bus->subscriptions[low].id == id && !bus->subscriptions[low].removed) return &bus->subscriptions[low];
    return NULL;
}

void sb_compact_subscriptions(sockbus *bus) {
    size_t kept = 0;
    for (size_t index = 0; index < bus->subscription_count; index++) {
        sb_subscription *subscription = &bus->subscriptions[index];
        if (subscription->removed) {
            free(subscription->pattern);
            free(subscription->queue);
            continue;
        }
        bus->subscriptions[kept++] = *subscription;
    }
    bus->subscription_count = kept;
}

void sb_forget_subscription(sockbus *bus, uint32_t id) {
    sb_subscription *subscription = sb_find_subscription(bus, id);
    if (!subscription) return;
    subscription->removed = 1;
    if (!bus->dispatching) sb_compact_subscriptions(bus);
}

static size_t live_subscriptions(const sockbus *bus) {
    size_t count = 0;
    for (size_t index = 0; index < bus->subscription_count; index++) count += !bus->subscriptions[index].removed;
    return count;
}

uint32_t sockbus_subscribe(sockbus *bus, const char *pattern, const char *queue, sockbus_message_fn handler, void *user_data,
                           sockbus_error *err) {
    sb_name_limits limits = name_limits(bus);
    if (closed_error(bus, err) < 0) return 0;
    if (!pattern) return sb_fail(err, "INVALID_PATTERN", "the pattern is NULL"), 0;
    if (sb_pattern_problem(pattern, strlen(pattern), &limits, err) < 0) return 0;
    if (queue && sb_queue_problem(queue, err) < 0) return 0;
    if (live_subscriptions(bus) >= bus->limits.max_subscriptions)
        return sb_fail(err, "TOO_MANY_SUBSCRIPTIONS", "this client holds %u subscriptions, the most the broker allows", bus->limits.max_subscriptions), 0;
    if (bus->next_subscription_id == 0) return sb_fail(err, "TOO_MANY_SUBSCRIPTIONS", "subscription ids ran out"), 0;
    if (bus->subscription_count == bus->subscription_capacity) {
        size_t capacity = bus->subscription_capacity ? bus->subscription_capacity * 2 : 8;
        sb_subscription *grown = realloc(bus->subscriptions, capacity * sizeof *grown);
        if (!grown) return sb_fail(err, "OUT_OF_MEMORY", "out of memory"), 0;
        bus->subscriptions = grown;
        bus->subscription_capacity = capacity;
    }
    sb_subscription subscription = {
        .id = bus->next_subscription_id, .pattern = strdup(pattern), .pattern_length = strlen(pattern),
        .queue = queue ? strdup(queue) : NULL, .handler = handler, .user_data = user_data,
    };
    if (!subscription.pattern || (queue && !subscription.queue)) {
        free(subscription.pattern);
        free(subscription.queue);
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory"), 0;
    }
    /* Sent now when connected; otherwise every subscription goes out after the next welcome. */
    if (bus->phase == SB_PHASE_OPEN && sb_encode_subscribe(&bus->out, subscription.id, pattern, queue) < 0) {
        free(subscription.pattern);
        free(subscription.queue);
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory"), 0;
    }
    bus->next_subscription_id++;
    bus->subscriptions[bus->subscription_count++] = subscription;
    sb_notify_watch(bus);
    return subscription.id;
}

void sockbus_unsubscribe(sockbus *bus, uint32_t id) {
    if (!sb_find_subscription(bus, id)) return;
    sb_forget_subscription(bus, id);
    if (bus->phase == SB_PHASE_OPEN) {
        sb_encode_unsubscribe(&bus->out, id);
        sb_notify_watch(bus);
    }
}

/* ---- requests: a list for timeouts and buckets by id for replies ---- */

void sb_free_request(sb_request *request) {
    free(request->topic);
    free(request);
}

sb_request *sb_take_request(sockbus *bus, uint32_t id) {
    sb_request **link = &bus->request_buckets[id % SB_REQUEST_BUCKETS];
    while (*link && (*link)->id != id) link = &(*link)->bucket_next;
    sb_request *request = *link;
    if (!request) return NULL;
    *link = request->bucket_next;
    if (request->prev) request->prev->next = request->next;
    else bus->requests = request->next;
    if (request->next) request->next->prev = request->prev;
    bus->request_count--;
    return request;
}

void sb_fail_requests(sockbus *bus, const char *code, const char *why) {
    while (bus->requests) {
        sb_request *request = sb_take_request(bus, bus->requests->id);
        sockbus_error error;
        sb_fail(&error, code, "%s (request on %s)", why, request->topic);
        request->on_reply(bus, NULL, &error, request->user_data);
        sb_free_request(request);
    }
}

int sockbus_request(sockbus *bus, const char *topic, const void *data, size_t length, const sockbus_header *headers, size_t header_count,
                    uint32_t timeout_ms, sockbus_reply_fn on_reply, void *user_data, sockbus_error *err) {
    static const uint8_t nil = 0xc0;
    sb_name_limits limits = name_limits(bus);
    if (closed_error(bus, err) < 0) return -1;
    if (!on_reply) return sb_fail(err, "INVALID_DATA", "a request needs a reply callback");
    if (!topic) return sb_fail(err, "INVALID_TOPIC", "the topic is NULL");
    if (!data) {
        data = &nil;
        length = 1;
    }
    if (sb_topic_problem(topic, strlen(topic), &limits, err) < 0) return -1;
    if (check_headers(bus, headers, header_count, err) < 0 || check_data(data, length, err) < 0) return -1;
    if (bus->request_count >= bus->limits.max_requests)
        return sb_fail(err, "TOO_MANY_REQUESTS", "%zu requests await a reply, the most the broker allows", bus->request_count);
    sb_request *request = calloc(1, sizeof *request);
    if (!request || !(request->topic = strdup(topic))) {
        free(request);
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    }
    /* Ids only grow, across reconnects too, so a late reply is never taken for another request's; 0 is skipped. */
    request->id = bus->next_request_id++;
    if (bus->next_request_id == 0) bus->next_request_id = 1;
    size_t start = bus->out.length;
    if (sb_encode_publish(&bus->out, topic, data, length, headers, header_count, 0, request->id) < 0) {
        sb_free_request(request);
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    }
    if (place_frame(bus, start, 1, request->id, err) < 0) {
        sb_free_request(request);
        return -1;
    }
    request->timeout_ms = timeout_ms ? timeout_ms : bus->options.request_timeout_ms;
    request->deadline = sb_now_ms() + request->timeout_ms;
    request->on_reply = on_reply;
    request->user_data = user_data;
    request->next = bus->requests;
    if (bus->requests) bus->requests->prev = request;
    bus->requests = request;
    request->bucket_next = bus->request_buckets[request->id % SB_REQUEST_BUCKETS];
    bus->request_buckets[request->id % SB_REQUEST_BUCKETS] = request;
    bus->request_count++;
    bus->counters.published++;
    return 0;
}

static int respond(sockbus *bus, const char *reply_to, const void *data, size_t length, const sockbus_header *headers, size_t header_count,
                   const char *code, const char *message, sockbus_error *err) {
    if (closed_error(bus, err) < 0) return -1;
    if (!reply_to || !*reply_to) return sb_fail(err, "NOT_A_REQUEST", "the message is not a request: nobody awaits an answer");
    if (!sb_valid_utf8((const uint8_t *)reply_to, strlen(reply_to))) return sb_fail(err, "INVALID_REPLY_ADDRESS", "the reply address is not valid UTF-8");
    if (check_headers(bus, headers, header_count, err) < 0) return -1;
    if (data && check_data(data, length, err) < 0) return -1;
    if (message && (!sb_valid_utf8((const uint8_t *)message, strlen(message)) || (code && !sb_valid_utf8((const uint8_t *)code, strlen(code)))))
        return sb_fail(err, "INVALID_DATA", "the error's code and message must be valid UTF-8");
    size_t start = bus->out.length;
    if (sb_encode_respond(&bus->out, reply_to, data, length, headers, header_count, code, message) < 0)
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    return place_frame(bus, start, 0, 0, err);
}

int sockbus_respond(sockbus *bus, const char *reply_to, const void *data, size_t length, const sockbus_header *headers, size_t header_count,
                    sockbus_error *err) {
    static const uint8_t nil = 0xc0;
    if (!data) {
        data = &nil;
        length = 1;
    }
    return respond(bus, reply_to, data, length, headers, header_count, NULL, NULL, err);
}

int sockbus_respond_error(sockbus *bus, const char *reply_to, const char *code, const char *message, const sockbus_header *headers,
                          size_t header_count, sockbus_error *err) {
    return respond(bus, reply_to, NULL, 0, headers, header_count, code ? code : "REQUEST_FAILED", message ? message : "", err);
}

/* ---- questions: pings and stats requests, answered in order ---- */

void sb_send_questions(sockbus *bus) {
    if (bus->phase != SB_PHASE_OPEN && bus->phase != SB_PHASE_ENDING) return;
    for (sb_question *question = bus->questions; question; question = question->next) {
        if (question->sent) continue;
        question->token = bus->next_token++;
        if (bus->next_token == 0) bus->next_token = 1; /* 0 is the heartbeat's */
        question->sent = 1;
        question->asked_at = sb_now_ms();
        if (question->kind == SB_ASK_CONFIRM) question->confirms = bus->publishes_sent;
        sb_encode_token(&bus->out, question->kind == SB_ASK_STATS ? 12 : 7, question->token);
    }
    sb_notify_watch(bus);
}

static void answer(sockbus *bus, sb_question *question, const sb_frame *frame, const sockbus_error *error) {
    if (question->kind == SB_ASK_STATS) {
        if (question->stats)
            question->stats(bus, frame ? frame->counters.bytes : NULL, frame ? frame->counters.length : 0, error, question->user_data);
    } else if (question->kind == SB_ASK_FLUSH) {
        if (question->done) question->done(bus, error, question->user_data);
    }
}

void sb_question_answered(sockbus *bus, uint32_t token, const sb_frame *frame) {
    sb_question **link = &bus->questions;
    while (*link && !((*link)->sent && (*link)->token == token)) link = &(*link)->next;
    sb_question *question = *link;
    if (!question || token == 0) return;
    if ((question->kind == SB_ASK_STATS) != (frame->kind == 13)) return;
    *link = question->next;
    if (question->kind == SB_ASK_CONFIRM) {
        if (question->confirms > bus->publishes_confirmed) bus->publishes_confirmed = question->confirms;
        /* Publishes made while this ping was out need a ping of their own. */
        if (bus->publishes_sent > bus->publishes_confirmed) bus->confirm_at = sb_now_ms() + 20;
        else bus->confirming = 0;
    }
    answer(bus, question, frame, NULL);
    free(question);
}

void sb_fail_questions(sockbus *bus, int sent_only, const char *code, const char *why) {
    sb_question **link = &bus->questions;
    while (*link) {
        sb_question *question = *link;
        if (sent_only && !question->sent) {
            link = &question->next;
            continue;
        }
        *link = question->next;
        sockbus_error error;
        sb_fail(&error, code, "%s", why);
        answer(bus, question, NULL, &error);
        free(question);
    }
}

static int ask(sockbus *bus, sb_ask_kind kind, sockbus_done_fn done, sockbus_stats_fn stats, void *user_data, sockbus_error *err) {
    if (closed_error(bus, err) < 0) return -1;
    sb_question *question = calloc(1, sizeof *question);
    if (!question) return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    question->kind = kind;
    question->done = done;
    question->stats = stats;
    question->user_data = user_data;
    sb_question **last = &bus->questions;
    while (*last) last = &(*last)->next;
    *last = question;
    sb_send_questions(bus);
    return 0;
}

int sockbus_flush(sockbus *bus, sockbus_done_fn done, void *user_data, sockbus_error *err) {
    return ask(bus, SB_ASK_FLUSH, done, NULL, user_data, err);
}

int sockbus_stats(sockbus *bus, sockbus_stats_fn on_stats, void *user_data, sockbus_error *err) {
    return ask(bus, SB_ASK_STATS, NULL, on_stats, user_data, err);
}

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
