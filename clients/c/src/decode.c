/*
 * Broker frames (PROTOCOL.md §3) into sb_frame, whose spans point into the
 * frame body. Everything is checked: a frame that is not one MessagePack
 * value is MALFORMED_FRAME, one of the wrong shape INVALID_MESSAGE; the
 * client then treats the broker as broken. Unknown kinds, extra elements
 * and unknown map keys are ignored (§3.0, extension room).
 */
#include <string.h>
#include "client.h"

#define SHAPE(condition) do { if (!(condition)) return -1; } while (0)

static int key_is(const uint8_t *bytes, uint32_t length, const char *key) {
    return strlen(key) == length && memcmp(bytes, key, length) == 0;
}

static int read_span(sb_reader *reader, sb_span *span) {
    size_t start = reader->offset;
    if (sb_skip_value(reader, 0) < 0) return -1;
    span->bytes = reader->data + start;
    span->length = (uint32_t)(reader->offset - start);
    return 0;
}

static int read_text(sb_reader *reader, sb_span *span) {
    if (sb_read_str(reader, &span->bytes, &span->length) < 0) return -1;
    return sb_valid_utf8(span->bytes, span->length) ? 0 : -1;
}

static int read_bool(sb_reader *reader, int *value) {
    sb_mp_item item;
    if (sb_read_item(reader, &item) < 0 || item.type != SB_MP_BOOL) return -1;
    *value = item.boolean;
    return 0;
}

/* A map's entry count, or -1 when the next value is not a map. */
static int64_t read_map(sb_reader *reader) {
    sb_mp_item item;
    if (sb_read_item(reader, &item) < 0 || item.type != SB_MP_MAP) return -1;
    return item.length;
}

/* headers: nil, or a map of str to str. */
static int read_headers(sb_reader *reader, sb_frame *frame) {
    size_t start = reader->offset;
    if (sb_read_nil(reader)) return 0;
    int64_t count = read_map(reader);
    SHAPE(count >= 0);
    for (int64_t index = 0; index < 2 * count; index++) {
        sb_span text;
        SHAPE(read_text(reader, &text) == 0);
    }
    frame->headers.bytes = reader->data + start;
    frame->headers.length = (uint32_t)(reader->offset - start);
    frame->header_count = (uint32_t)count;
    return 0;
}

/* sender: nil, or [uid, pid or nil, gateway str (optional)]. */
static int read_sender(sb_reader *reader, sb_frame *frame) {
    sb_mp_item item;
    if (sb_read_nil(reader)) return 0;
    SHAPE(sb_read_item(reader, &item) == 0 && item.type == SB_MP_ARRAY && item.length >= 2);
    SHAPE(sb_read_u32(reader, &frame->sender.uid) == 0);
    if (!sb_read_nil(reader)) {
        SHAPE(sb_read_u32(reader, &frame->sender.pid) == 0);
        frame->sender.has_pid = 1;
    }
    if (item.length >= 3) {
        if (!sb_read_nil(reader)) SHAPE(read_text(reader, &frame->gateway) == 0);
        for (uint32_t index = 3; index < item.length; index++) SHAPE(sb_skip_value(reader, 0) == 0);
    }
    frame->sender.known = 1;
    return 0;
}

static int read_info(sb_reader *reader, sb_frame *frame) {
    if (sb_read_nil(reader)) return 0;
    int64_t count = read_map(reader);
    SHAPE(count >= 0);
    for (int64_t index = 0; index < count; index++) {
        sb_span key;
        SHAPE(sb_read_str(reader, &key.bytes, &key.length) == 0);
        if (key_is(key.bytes, key.length, "reply")) SHAPE(read_text(reader, &frame->reply_to) == 0 && frame->reply_to.length > 0);
        else if (key_is(key.bytes, key.length, "retained")) SHAPE(read_bool(reader, &frame->retained) == 0);
        else if (key_is(key.bytes, key.length, "sub")) { SHAPE(sb_read_u32(reader, &frame->sub) == 0); frame->has_sub = 1; }
        else SHAPE(sb_skip_value(reader, 0) == 0);
    }
    return 0;
}

/* The error of a reply: nil, or {"code": str, "message": str}. */
static int read_reply_error(sb_reader *reader, sb_frame *frame) {
    if (sb_read_nil(reader)) return 0;
    int64_t count = read_map(reader);
    SHAPE(count >= 0);
    frame->has_error = 1;
    for (int64_t index = 0; index < count; index++) {
        sb_span key;
        SHAPE(sb_read_str(reader, &key.bytes, &key.length) == 0);
        /* nil is as good as missing (§3.12): REQUEST_FAILED and the empty string. */
        if (key_is(key.bytes, key.length, "code")) SHAPE(sb_read_nil(reader) || read_text(reader, &frame->code) == 0);
        else if (key_is(key.bytes, key.length, "message")) SHAPE(sb_read_nil(reader) || read_text(reader, &frame->message) == 0);
        else SHAPE(sb_skip_value(reader, 0) == 0);
    }
    return 0;
}

static int read_about(sb_reader *reader, sb_frame *frame) {
    if (sb_read_nil(reader)) return 0;
    int64_t count = read_map(reader);
    SHAPE(count >= 0);
    for (int64_t index = 0; index < count; index++) {
        sb_span key;
        uint32_t value;
        SHAPE(sb_read_str(reader, &key.bytes, &key.length) == 0);
        if (key_is(key.bytes, key.length, "kind")) { SHAPE(sb_read_u32(reader, &value) == 0); frame->about_kind = (int)(value > 1000 ? 1000 : value); }
        else if (key_is(key.bytes, key.length, "sub")) { SHAPE(sb_read_u32(reader, &frame->about_sub) == 0); frame->has_sub_about = 1; }
        else if (key_is(key.bytes, key.length, "inUse")) { SHAPE(sb_read_u32(reader, &frame->in_use) == 0); frame->has_in_use = 1; }
        else if (key_is(key.bytes, key.length, "topic")) SHAPE(read_text(reader, &frame->about_topic) == 0);
        else SHAPE(sb_skip_value(reader, 0) == 0);
    }
    return 0;
}

static void copy_text(char *target, size_t size, const sb_span *span) {
    size_t length = span->length < size - 1 ? span->length : size - 1;
    memcpy(target, span->bytes, length);
    target[length] = '\0';
}

static int read_welcome(sb_reader *reader, sb_frame *frame) {
    sockbus_limits *limits = &frame->welcome;
    /* A key the welcome leaves out keeps the protocol's default; one it gives, even 0, is the broker's word. */
    *limits = sb_default_limits;
    limits->max_broker_frame_bytes = 0; /* absent: maxFrameBytes + 1024, worked out once maxFrameBytes is known */
    limits->server[0] = '\0';
    int64_t count = read_map(reader);
    uint32_t version = 0;
    SHAPE(count >= 0);
    for (int64_t index = 0; index < count; index++) {
        sb_span key;
        uint32_t *target = NULL;
        SHAPE(sb_read_str(reader, &key.bytes, &key.length) == 0);
#define LIMIT(name, field) else if (key_is(key.bytes, key.length, name)) target = &limits->field
        if (key_is(key.bytes, key.length, "version")) target = &version;
        LIMIT("connectionId", connection_id);
        LIMIT("maxFrameBytes", max_frame_bytes);
        LIMIT("maxBrokerFrameBytes", max_broker_frame_bytes);
        LIMIT("maxTopicBytes", max_topic_bytes);
        LIMIT("maxPatternTokens", max_pattern_tokens);
        LIMIT("maxPatternWildcards", max_pattern_wildcards);
        LIMIT("maxHeaderEntries", max_header_entries);
        LIMIT("maxHeaderBytes", max_header_bytes);
        LIMIT("maxSubscriptions", max_subscriptions);
        LIMIT("maxRequests", max_requests);
        LIMIT("maxPendingBytes", max_pending_bytes);
        LIMIT("keepaliveMs", keepalive_ms);
#undef LIMIT
        if (target) SHAPE(sb_read_u32(reader, target) == 0);
        else if (key_is(key.bytes, key.length, "senders")) SHAPE(read_bool(reader, &limits->senders) == 0);
        else if (key_is(key.bytes, key.length, "server")) {
            sb_span server;
            SHAPE(read_text(reader, &server) == 0);
            copy_text(limits->server, sizeof limits->server, &server);
        } else SHAPE(sb_skip_value(reader, 0) == 0);
    }
    SHAPE(version == SOCKBUS_PROTOCOL_VERSION);
    return 0;
}

static int decode_fields(sb_reader *reader, uint32_t elements, sb_frame *frame) {
    switch (frame->kind) {
    case 2: /* welcome */
        SHAPE(elements >= 2);
        return read_welcome(reader, frame);
    case 6: /* message: topic, data, headers, info, sender */
        SHAPE(elements >= 6);
        SHAPE(read_text(reader, &frame->topic) == 0);
        SHAPE(read_span(reader, &frame->data) == 0);
        SHAPE(read_headers(reader, frame) == 0);
        SHAPE(read_info(reader, frame) == 0);
        return read_sender(reader, frame);
    case 7: case 8: case 11: case 16: /* ping, pong, dropped, subscribed */
        SHAPE(elements >= 2);
        return sb_read_u32(reader, &frame->id);
    case 9: /* error: code, message, about */
        SHAPE(elements >= 4);
        SHAPE(read_text(reader, &frame->code) == 0);
        SHAPE(read_text(reader, &frame->message) == 0);
        return read_about(reader, frame);
    case 10: /* going-away */
        SHAPE(elements >= 2);
        return read_text(reader, &frame->message);
    case 13: /* stats: token, counters */
        SHAPE(elements >= 3);
        SHAPE(sb_read_u32(reader, &frame->id) == 0);
        {
            size_t start = reader->offset;
            SHAPE(read_map(reader) >= 0);
            reader->offset = start;
        }
        return read_span(reader, &frame->counters);
    case 15: /* reply: id, data, headers, error, sender */
        SHAPE(elements >= 6);
        SHAPE(sb_read_u32(reader, &frame->id) == 0);
        SHAPE(read_span(reader, &frame->data) == 0);
        SHAPE(read_headers(reader, frame) == 0);
        SHAPE(read_reply_error(reader, frame) == 0);
        return read_sender(reader, frame);
    default: /* a kind this client does not know, or one only clients send: ignored */
        return 0;
    }
}

int sb_decode(const uint8_t *body, uint32_t length, sb_frame *frame, sockbus_error *err) {
    sb_reader reader;
    sb_mp_item item;
    memset(frame, 0, sizeof *frame);
    if (!sb_valid_value(body, length, 0))
        return sb_fail(err, "MALFORMED_FRAME", "the broker sent a frame that is not exactly one MessagePack value");
    sb_reader_init(&reader, body, length);
    if (sb_read_item(&reader, &item) < 0 || item.type != SB_MP_ARRAY || item.length == 0)
        return sb_fail(err, "INVALID_MESSAGE", "the broker sent a frame that is not an array with a kind");
    sb_mp_item kind;
    if (sb_read_item(&reader, &kind) < 0 || kind.type != SB_MP_UINT || kind.uint > 0xffff)
        return sb_fail(err, "INVALID_MESSAGE", "the broker sent a frame whose kind is not an integer");
    frame->kind = (int)kind.uint;
    if (decode_fields(&reader, item.length, frame) < 0)
        return sb_fail(err, "INVALID_MESSAGE", "the broker sent a frame of kind %d of the wrong shape", frame->kind);
    return 0;
}
