/* What the broker sends, one handler per kind behind one switch (PROTOCOL.md §3). */
#include <stdlib.h>
#include <string.h>
#include "client.h"

/* Strings of one frame made NUL-terminated for the application: on the stack when small, else one allocation bounded by the frame. */
typedef struct {
    char *block;
    size_t used, size;
    int allocated;
    sockbus_header *headers;
} strings;

static int strings_init(strings *set, char *stack, size_t stack_size, size_t needed) {
    set->used = 0;
    set->allocated = needed > stack_size;
    set->size = needed;
    set->block = set->allocated ? malloc(needed) : stack;
    return set->block ? 0 : -1;
}

static const char *strings_add(strings *set, const uint8_t *bytes, uint32_t length) {
    char *text = set->block + set->used;
    memcpy(text, bytes, length);
    text[length] = '\0';
    set->used += (size_t)length + 1;
    return text;
}

static void strings_free(strings *set) {
    if (set->allocated) free(set->block);
}

/* Room for every string of the frame with its NUL, and the header array, aligned. */
static size_t strings_needed(const sb_frame *frame) {
    size_t headers = (size_t)frame->header_count * sizeof(sockbus_header);
    return headers + 16 + frame->topic.length + 1 + frame->headers.length + 2 * (size_t)frame->header_count +
           frame->reply_to.length + 1 + frame->gateway.length + 1;
}

/* Fills the header array from the (already checked) headers map. */
static void read_headers(strings *set, const sb_frame *frame, const sockbus_header **headers, size_t *count) {
    sb_reader reader;
    sb_mp_item item;
    *headers = NULL;
    *count = 0;
    if (frame->headers.length == 0) return;
    sb_reader_init(&reader, frame->headers.bytes, frame->headers.length);
    sb_read_item(&reader, &item);
    sockbus_header *array = (sockbus_header *)(void *)set->block;
    set->used = (size_t)item.length * sizeof(sockbus_header) + 16;
    for (uint32_t index = 0; index < item.length; index++) {
        const uint8_t *bytes;
        uint32_t length;
        sb_read_str(&reader, &bytes, &length);
        array[index].name = strings_add(set, bytes, length);
        sb_read_str(&reader, &bytes, &length);
        array[index].value = strings_add(set, bytes, length);
    }
    *headers = item.length ? array : NULL;
    *count = item.length;
}

static void fill_sender(strings *set, const sb_frame *frame, sockbus_sender *sender) {
    *sender = frame->sender;
    sender->gateway = frame->gateway.bytes ? strings_add(set, frame->gateway.bytes, frame->gateway.length) : NULL;
}

/* What no broker sends, since it refuses such publishes: skipped, so what we allocate stays within the welcome's limits. */
static const char *beyond_limits(const sockbus *bus, const sb_frame *frame) {
    if (frame->header_count > bus->limits.max_header_entries || frame->headers.length > bus->limits.max_header_bytes + 16)
        return "a message from the broker with more headers than its welcome allows";
    if (frame->topic.length > bus->limits.max_topic_bytes) return "a message from the broker with a topic longer than its welcome allows";
    return NULL;
}

/* §3.7: by `sub` when present, else to the active matching plain subscriptions. */
static void handle_message(sockbus *bus, const sb_frame *frame) {
    char stack[2048] __attribute__((aligned(16)));
    strings set;
    sockbus_message message;
    const char *problem = beyond_limits(bus, frame);
    if (problem) {
        sb_report_dropped(bus, SOCKBUS_DROPPED_BY_CLIENT, 1, problem);
        return;
    }
    bus->counters.received++;
    if (strings_init(&set, stack, sizeof stack, strings_needed(frame)) < 0) {
        sb_report_dropped(bus, SOCKBUS_DROPPED_BY_CLIENT, 1, "out of memory for a message");
        return;
    }
    memset(&message, 0, sizeof message);
    read_headers(&set, frame, &message.headers, &message.header_count);
    message.topic = strings_add(&set, frame->topic.bytes, frame->topic.length);
    message.data = frame->data.bytes;
    message.data_len = frame->data.length;
    message.retained = frame->retained;
    message.reply_to = frame->reply_to.bytes ? strings_add(&set, frame->reply_to.bytes, frame->reply_to.length) : NULL;
    fill_sender(&set, frame, &message.sender);
    bus->dispatching++;
    if (frame->has_sub) {
        sb_subscription *subscription = sb_find_subscription(bus, frame->sub);
        if (subscription && !subscription->removed && subscription->handler) {
            message.subscription = subscription->id;
            subscription->handler(bus, &message, subscription->user_data);
        }
    } else {
        /* By index: a handler may subscribe (the array may move) or unsubscribe (marked, removed after). */
        for (size_t index = 0; index < bus->subscription_count; index++) {
            sb_subscription *subscription = &bus->subscriptions[index];
            if (subscription->removed || !subscription->active || subscription->queue || !subscription->handler) continue;
            if (!sb_matches(subscription->pattern, subscription->pattern_length, message.topic, frame->topic.length)) continue;
            message.subscription = subscription->id;
            subscription->handler(bus, &message, subscription->user_data);
        }
    }
    bus->dispatching--;
    if (!bus->dispatching) sb_compact_subscriptions(bus);
    strings_free(&set);
}

static void copy_span(char *target, size_t size, const sb_span *span) {
    size_t length = span->length < size - 1 ? span->length : size - 1;
    if (span->bytes) memcpy(target, span->bytes, length);
    target[length] = '\0';
}

static void handle_reply(sockbus *bus, const sb_frame *frame) {
    const char *problem = beyond_limits(bus, frame);
    if (problem) {
        sb_report_dropped(bus, SOCKBUS_DROPPED_BY_CLIENT, 1, problem);
        return; /* the request times out, as if the reply never came */
    }
    sb_request *request = sb_take_request(bus, frame->id);
    if (!request) {
        bus->counters.late_replies++; /* answered already, or timed out */
        return;
    }
    if (frame->has_error) {
        sockbus_error error;
        if (frame->code.bytes) copy_span(error.code, sizeof error.code, &frame->code);
        else snprintf(error.code, sizeof error.code, "REQUEST_FAILED");
        copy_span(error.message, sizeof error.message, &frame->message);
        request->on_reply(bus, NULL, &error, request->user_data);
    } else {
        char stack[2048] __attribute__((aligned(16)));
        strings set;
        sockbus_reply reply;
        if (strings_init(&set, stack, sizeof stack, strings_needed(frame)) < 0) {
            sockbus_error error;
            sb_fail(&error, "CONNECTION_CLOSED", "out of memory for the reply");
            request->on_reply(bus, NULL, &error, request->user_data);
            sb_free_request(request);
            return;
        }
        memset(&reply, 0, sizeof reply);
        read_headers(&set, frame, &reply.headers, &reply.header_count);
        reply.data = frame->data.bytes;
        reply.data_len = frame->data.length;
        fill_sender(&set, frame, &reply.sender);
        request->on_reply(bus, &reply, NULL, request->user_data);
        strings_free(&set);
    }
    sb_free_request(request);
}

/* Codes after which the broker closes the connection (§6); an unknown code is judged by whether it does. */
static int closes(const char *code) {
    static const char *const closing[] = {"FRAME_TOO_LARGE", "MALFORMED_FRAME", "INVALID_MESSAGE", "UNKNOWN_MESSAGE_KIND",
                                          "HANDSHAKE_REQUIRED", "UNSUPPORTED_VERSION", "SLOW_CONSUMER", "TOO_MANY_CONNECTIONS",
                                          "CREDENTIALS_UNAVAILABLE", "RATE_LIMITED", "TIMEOUT", "INTERNAL_ERROR"};
    for (size_t index = 0; index < sizeof closing / sizeof *closing; index++)
        if (strcmp(code, closing[index]) == 0) return 1;
    return 0;
}

/* Codes that leave the connection usable (§6). */
static int known(const char *code) {
    static const char *const staying[] = {"INVALID_TOPIC", "RESERVED_TOPIC", "HEADERS_TOO_LARGE", "INVALID_DATA", "INVALID_OPTIONS",
                                          "ACCESS_DENIED", "RETAINED_STORE_FULL", "INVALID_PATTERN", "INVALID_QUEUE", "PATTERN_TOO_COMPLEX",
                                          "TOO_MANY_SUBSCRIPTIONS", "OVER_MEMORY_SHARE", "SUBSCRIPTION_ID_IN_USE", "INVALID_REPLY_ADDRESS"};
    for (size_t index = 0; index < sizeof staying / sizeof *staying; index++)
        if (strcmp(code, staying[index]) == 0) return 1;
    return closes(code);
}

static void handle_error(sockbus *bus, const sb_frame *frame) {
    sockbus_error error;
    uint32_t ended = 0;
    copy_span(error.code, sizeof error.code, &frame->code);
    copy_span(error.message, sizeof error.message, &frame->message);
    if (bus->phase == SB_PHASE_HANDSHAKE || closes(error.code) || !known(error.code)) {
        /* The reason the connection is about to end, for the status callback. */
        bus->close_reason = error;
        bus->has_close_reason = 1;
        /* A code we do not know is judged by whether the broker closes after it (§6). */
        bus->close_reason_tentative = !known(error.code) && bus->phase != SB_PHASE_HANDSHAKE;
        if (bus->phase == SB_PHASE_HANDSHAKE) return;
    }
    /* `sub`: the broker does not hold that subscription (refused, or ended by a reloaded policy): never resubscribe it. */
    if (frame->has_sub_about && sb_find_subscription(bus, frame->about_sub)) {
        ended = frame->about_sub;
        sb_forget_subscription(bus, ended);
    }
    if (bus->options.callbacks.error) bus->options.callbacks.error(bus, &error, ended, bus->options.user_data);
}

void sb_handle_frame(sockbus *bus, const sb_frame *frame) {
    if (bus->close_reason_tentative) {
        /* More came after an unknown error: it did not end the connection. */
        bus->has_close_reason = 0;
        bus->close_reason_tentative = 0;
    }
    if (bus->phase == SB_PHASE_HANDSHAKE) {
        if (frame->kind == 2) sb_attach(bus, frame);
        else if (frame->kind == 9) handle_error(bus, frame);
        else if (frame->kind != 10) {
            bus->has_close_reason = 0;
            sb_lose_connection(bus, "INVALID_MESSAGE", "expected a welcome from the broker, got a frame of kind %d", frame->kind);
        }
        return;
    }
    switch (frame->kind) {
    case 6: handle_message(bus, frame); return;
    case 7: sb_encode_token(&bus->out, 8, frame->id); return; /* a client MUST answer pings */
    case 8: case 13: sb_question_answered(bus, frame->id, frame); return;
    case 9: handle_error(bus, frame); return;
    case 10: {
        if (!bus->has_close_reason) {
            char reason[400];
            copy_span(reason, sizeof reason, &frame->message);
            sb_fail(&bus->close_reason, "CONNECTION_CLOSED", "the broker is going away: %s", reason);
            bus->has_close_reason = 1;
        }
        return;
    }
    case 11: sb_report_dropped(bus, SOCKBUS_DROPPED_BY_BROKER, frame->id, "the broker's buffer for this client was full"); return;
    case 15: handle_reply(bus, frame); return;
    case 16: {
        sb_subscription *subscription = sb_find_subscription(bus, frame->id);
        if (subscription) subscription->active = 1;
        return;
    }
    default: return; /* a kind this client does not know: ignored (§3.0) */
    }
}
