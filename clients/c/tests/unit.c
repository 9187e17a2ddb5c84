/*
 * Unit tests of the parts that need no broker: the frame decoder (whole,
 * byte by byte, split at every boundary), the broker frames of
 * PROTOCOL.md §7 decoded, the client frames of §7 encoded byte for byte,
 * §4's names and matching, the reader's bounds, the backoff, the offline
 * queue. Prints one line per failed check and exits 1 if any failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "spec-frames.h"

static int failures, checks;

#define CHECK(condition, ...) do { \
    checks++; \
    if (!(condition)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } \
} while (0)

static const spec_frame *const broker_frames[] = {
    &spec_welcome, &spec_subscribed, &spec_pong, &spec_message, &spec_message_header, &spec_message_no_sender, &spec_error_pattern,
    &spec_error_reserved, &spec_error_closing, &spec_going_away, &spec_dropped, &spec_request_delivery, &spec_reply,
    &spec_reply_no_responders, &spec_reply_reserved, &spec_reply_error, &spec_retained_replay, &spec_queue_delivery,
};
#define BROKER_FRAME_COUNT (sizeof broker_frames / sizeof *broker_frames)

/* Every broker frame of §7 in one stream. */
static uint8_t *stream_of_frames(size_t *length) {
    size_t total = 0, offset = 0;
    for (size_t index = 0; index < BROKER_FRAME_COUNT; index++) total += broker_frames[index]->length;
    uint8_t *stream = malloc(total);
    for (size_t index = 0; index < BROKER_FRAME_COUNT; index++) {
        memcpy(stream + offset, broker_frames[index]->bytes, broker_frames[index]->length);
        offset += broker_frames[index]->length;
    }
    *length = total;
    return stream;
}

/* Feeds stream in pieces of the given sizes (0 ends), collecting the frames; returns how many came out, each checked against §7. */
static size_t decode_in_pieces(const uint8_t *stream, size_t length, size_t (*piece)(size_t offset, void *state), void *state, const char *how) {
    sb_decoder decoder;
    size_t offset = 0, frames = 0;
    sb_decoder_init(&decoder, 1049600);
    while (offset < length) {
        size_t size = piece(offset, state);
        if (size > length - offset) size = length - offset;
        sb_decoder_push(&decoder, stream + offset, size);
        offset += size;
        const uint8_t *body;
        uint32_t body_length;
        sockbus_error error;
        int found;
        while ((found = sb_decoder_next(&decoder, &body, &body_length, &error)) == 1) {
            const spec_frame *expected = frames < BROKER_FRAME_COUNT ? broker_frames[frames] : NULL;
            CHECK(expected && body_length == expected->length - 4 && memcmp(body, expected->bytes + 4, body_length) == 0,
                  "%s: frame %zu differs", how, frames);
            frames++;
        }
        CHECK(found == 0, "%s: decoder failed: %s", how, error.message);
    }
    CHECK(decoder.used == decoder.start, "%s: bytes left over", how);
    sb_decoder_free(&decoder);
    return frames;
}

static size_t whole(size_t offset, void *state) { return (size_t)-1; }
static size_t one_byte(size_t offset, void *state) { return 1; }
static size_t split_at(size_t offset, void *state) {
    size_t at = *(size_t *)state;
    return offset < at ? at - offset : (size_t)-1;
}

static void test_frame_decoder(void) {
    size_t length;
    uint8_t *stream = stream_of_frames(&length);
    CHECK(decode_in_pieces(stream, length, whole, NULL, "whole") == BROKER_FRAME_COUNT, "whole: not every frame");
    CHECK(decode_in_pieces(stream, length, one_byte, NULL, "byte by byte") == BROKER_FRAME_COUNT, "byte by byte: not every frame");
    for (size_t at = 1; at < length; at++) {
        char how[64];
        snprintf(how, sizeof how, "split at %zu", at);
        CHECK(decode_in_pieces(stream, length, split_at, &at, how) == BROKER_FRAME_COUNT, "%s: not every frame", how);
    }
    free(stream);

    /* The limit is checked from the length prefix alone, before the buffer grows for the body. */
    sb_decoder decoder;
    const uint8_t *body;
    uint32_t body_length;
    sockbus_error error;
    sb_decoder_init(&decoder, 100);
    const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 0x92};
    sb_decoder_push(&decoder, huge, sizeof huge);
    CHECK(sb_decoder_next(&decoder, &body, &body_length, &error) == -1 && strcmp(error.code, "MALFORMED_FRAME") == 0, "an oversize length is refused");
    CHECK(decoder.capacity <= 64 * 1024, "no buffer grew for an oversize frame (%zu)", decoder.capacity);
    CHECK(sb_decoder_next(&decoder, &body, &body_length, &error) == -1, "the decoder stays failed");
    sb_decoder_reset(&decoder, 100);
    const uint8_t empty[] = {0, 0, 0, 0};
    sb_decoder_push(&decoder, empty, sizeof empty);
    CHECK(sb_decoder_next(&decoder, &body, &body_length, &error) == -1, "length 0 is malformed");
    sb_decoder_free(&decoder);
}

static int decode_spec(const spec_frame *spec, sb_frame *frame) {
    sockbus_error error;
    int result = sb_decode(spec->bytes + 4, spec->length - 4, frame, &error);
    CHECK(result == 0, "%s decodes: %s", spec->name, error.message);
    return result;
}

static int span_is(const sb_span *span, const char *text) {
    return span->length == strlen(text) && memcmp(span->bytes, text, span->length) == 0;
}

static void test_decode_spec_frames(void) {
    sb_frame frame;
    if (decode_spec(&spec_welcome, &frame) == 0) {
        CHECK(frame.kind == 2 && frame.welcome.connection_id == 1 && frame.welcome.senders == 1, "welcome basics");
        CHECK(frame.welcome.max_frame_bytes == 1048576 && frame.welcome.max_broker_frame_bytes == 1049600, "welcome frame limits");
        CHECK(frame.welcome.max_topic_bytes == 256 && frame.welcome.max_pattern_tokens == 16 && frame.welcome.max_pattern_wildcards == 3, "welcome names");
        CHECK(frame.welcome.max_header_entries == 64 && frame.welcome.max_header_bytes == 16384, "welcome headers");
        CHECK(frame.welcome.max_subscriptions == 10000 && frame.welcome.max_requests == 10000, "welcome counts");
        CHECK(frame.welcome.max_pending_bytes == 8388608 && frame.welcome.keepalive_ms == 30000, "welcome pending and keepalive");
        CHECK(strcmp(frame.welcome.server, "sockbusd 0.2.0") == 0, "welcome server");
    }
    if (decode_spec(&spec_subscribed, &frame) == 0) CHECK(frame.kind == 16 && frame.id == 1, "subscribed");
    if (decode_spec(&spec_pong, &frame) == 0) CHECK(frame.kind == 8 && frame.id == 9, "pong");
    if (decode_spec(&spec_message, &frame) == 0) {
        CHECK(frame.kind == 6 && span_is(&frame.topic, "app.saved") && frame.data.length == 4 && frame.header_count == 0, "message");
        CHECK(frame.sender.known && frame.sender.uid == 1000 && frame.sender.has_pid && frame.sender.pid == 4242 && !frame.has_sub, "message sender");
    }
    if (decode_spec(&spec_message_header, &frame) == 0) CHECK(frame.header_count == 1 && frame.headers.length == 5, "message with header");
    if (decode_spec(&spec_message_no_sender, &frame) == 0) CHECK(!frame.sender.known, "message without sender");
    if (decode_spec(&spec_error_pattern, &frame) == 0) {
        CHECK(frame.kind == 9 && span_is(&frame.code, "INVALID_PATTERN") && frame.about_kind == 4 && frame.has_sub_about && frame.about_sub == 1, "error about a subscribe");
    }
    if (decode_spec(&spec_error_reserved, &frame) == 0) CHECK(frame.about_kind == 3 && span_is(&frame.about_topic, "$SYS.x") && !frame.has_sub_about, "error about a publish");
    if (decode_spec(&spec_error_closing, &frame) == 0) CHECK(span_is(&frame.code, "FRAME_TOO_LARGE") && frame.about_kind == 0, "closing error");
    if (decode_spec(&spec_going_away, &frame) == 0) CHECK(frame.kind == 10 && span_is(&frame.message, "shutting down"), "going away");
    if (decode_spec(&spec_dropped, &frame) == 0) CHECK(frame.kind == 11 && frame.id == 300, "dropped");
    if (decode_spec(&spec_request_delivery, &frame) == 0) CHECK(span_is(&frame.reply_to, "q3Zr0F8mTbW2xYk9") && frame.has_sub && frame.sub == 1, "request delivery");
    if (decode_spec(&spec_reply, &frame) == 0) CHECK(frame.kind == 15 && frame.id == 5 && !frame.has_error && frame.sender.pid == 4243, "reply");
    if (decode_spec(&spec_reply_no_responders, &frame) == 0)
        CHECK(frame.has_error && span_is(&frame.code, "NO_RESPONDERS") && span_is(&frame.message, "no responders: nothing subscribes to x") && !frame.sender.known, "no responders");
    if (decode_spec(&spec_reply_reserved, &frame) == 0) CHECK(span_is(&frame.code, "RESERVED_TOPIC"), "refused request");
    if (decode_spec(&spec_reply_error, &frame) == 0) CHECK(span_is(&frame.code, "REQUEST_FAILED") && span_is(&frame.message, "disk full"), "error reply");
    if (decode_spec(&spec_retained_replay, &frame) == 0) CHECK(frame.retained && frame.has_sub && frame.sub == 2, "retained replay");
    if (decode_spec(&spec_queue_delivery, &frame) == 0) CHECK(frame.has_sub && frame.sub == 3 && !frame.retained, "queue delivery");

    /* A welcome that leaves keys out keeps the defaults; one that gives 0 means 0. */
    const uint8_t sparse_welcome[] = {0x92, 0x02, 0x82, 0xa7, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x02,
                                      0xb3, 'm', 'a', 'x', 'P', 'a', 't', 't', 'e', 'r', 'n', 'W', 'i', 'l', 'd', 'c', 'a', 'r', 'd', 's', 0x00};
    CHECK(sb_decode(sparse_welcome, sizeof sparse_welcome, &frame, NULL) == 0 && frame.welcome.max_pattern_wildcards == 0 &&
          frame.welcome.max_pattern_tokens == 16 && frame.welcome.max_frame_bytes == 1048576 && frame.welcome.max_broker_frame_bytes == 0,
          "a sparse welcome");
    const uint8_t version_one[] = {0x92, 0x02, 0x81, 0xa7, 'v', 'e', 'r', 's', 'i', 'o', 'n', 0x01};
    CHECK(sb_decode(version_one, sizeof version_one, &frame, NULL) == -1, "a welcome of version 1 is refused");

    /* A reply's error with a nil code is a missing code (§3.12). */
    const uint8_t nil_code[] = {0x96, 0x0f, 0x05, 0xc0, 0xc0, 0x81, 0xa4, 'c', 'o', 'd', 'e', 0xc0, 0xc0};
    CHECK(sb_decode(nil_code, sizeof nil_code, &frame, NULL) == 0 && frame.has_error && frame.code.bytes == NULL, "a nil code in a reply's error");

    /* Extension room: extra elements and unknown keys are ignored, unknown kinds too. */
    const uint8_t extended[] = {0x93, 0x10, 0x07, 0xc3};
    CHECK(sb_decode(extended, sizeof extended, &frame, NULL) == 0 && frame.kind == 16 && frame.id == 7, "extra elements ignored");
    const uint8_t unknown[] = {0x92, 0x63, 0x01};
    CHECK(sb_decode(unknown, sizeof unknown, &frame, NULL) == 0 && frame.kind == 99, "unknown kind ignored");
    /* §3.0: a float is never an integer; an id above 2^32-1 is out of range; bytes after the value are malformed. */
    const uint8_t float_id[] = {0x92, 0x10, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0};
    sockbus_error error;
    CHECK(sb_decode(float_id, sizeof float_id, &frame, &error) == -1 && strcmp(error.code, "INVALID_MESSAGE") == 0, "a float id is refused");
    const uint8_t big_id[] = {0x92, 0x10, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0};
    CHECK(sb_decode(big_id, sizeof big_id, &frame, NULL) == -1, "an id above 2^32-1 is refused");
    const uint8_t u64_id[] = {0x92, 0x10, 0xcf, 0, 0, 0, 0, 0, 0, 0, 5};
    CHECK(sb_decode(u64_id, sizeof u64_id, &frame, NULL) == 0 && frame.id == 5, "a uint64 encoding of 5 is 5");
    const uint8_t trailing[] = {0x92, 0x10, 0x01, 0xc0};
    CHECK(sb_decode(trailing, sizeof trailing, &frame, &error) == -1 && strcmp(error.code, "MALFORMED_FRAME") == 0, "bytes after the value");
    /* A hostile count: an array claiming 2^32-1 elements in a 5-byte frame is refused without allocating. */
    const uint8_t liar[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    CHECK(sb_decode(liar, sizeof liar, &frame, NULL) == -1, "a lying array count");
    const uint8_t bad_utf8[] = {0x96, 0x06, 0xa2, 0xc3, 0x28, 0xc0, 0xc0, 0xc0, 0xc0};
    CHECK(sb_decode(bad_utf8, sizeof bad_utf8, &frame, NULL) == -1, "a topic that is not UTF-8");
}

static void check_encoded(sb_buffer *out, const spec_frame *spec) {
    CHECK(out->length == spec->length && memcmp(out->data, spec->bytes, spec->length) == 0, "%s encodes as in PROTOCOL.md §7", spec->name);
    out->length = 0;
}

static void test_encode_spec_frames(void) {
    sb_buffer out = {0};
    sockbus_header header = {"k", "v"};
    static const uint8_t map_n_1[] = {0x81, 0xa1, 0x6e, 0x01}, text_x[] = {0xa1, 0x78}, nil[] = {0xc0}, dark[] = {0xa4, 'd', 'a', 'r', 'k'}, twelve[] = {0x0c};
    sb_encode_hello(&out, "ed", 0); check_encoded(&out, &spec_hello);
    sb_encode_subscribe(&out, 1, "app.*", NULL); check_encoded(&out, &spec_subscribe);
    sb_encode_token(&out, 7, 9); check_encoded(&out, &spec_ping);
    sb_encode_publish(&out, "app.saved", map_n_1, sizeof map_n_1, NULL, 0, 0, 0); check_encoded(&out, &spec_publish);
    sb_encode_publish(&out, "app.saved", text_x, sizeof text_x, &header, 1, 0, 0); check_encoded(&out, &spec_publish_header);
    sb_encode_unsubscribe(&out, 1); check_encoded(&out, &spec_unsubscribe);
    sb_encode_token(&out, 12, 2); check_encoded(&out, &spec_stats_request);
    sb_encode_going_away(&out, "done"); check_encoded(&out, &spec_goodbye);
    sb_encode_publish(&out, "time.now", nil, 1, NULL, 0, 0, 5); check_encoded(&out, &spec_request);
    sb_encode_respond(&out, "q3Zr0F8mTbW2xYk9", twelve, 1, NULL, 0, NULL, NULL); check_encoded(&out, &spec_respond);
    sb_encode_publish(&out, "ui.theme", dark, sizeof dark, NULL, 0, 1, 0); check_encoded(&out, &spec_publish_retain);
    sb_encode_subscribe(&out, 3, "jobs", "w"); check_encoded(&out, &spec_subscribe_queue);
    CHECK(sb_headers_encoded_size(&header, 1) == 5, "headers size");
    sb_buffer_free(&out);
}

static void test_names(void) {
    static const sb_name_limits limits = {256, 16, 3};
    static const char *const good_topics[] = {"app.editor.saved", "a", "città.évènement", "温度.读数", "\xf0\x9f\x93\xa6.built", "$notsys.x"};
    static const char *const bad_topics[] = {"", ".a", "a.", "a..b", "a b", "a.*", "a.>", "a\tb", "a\xc2\xa0" "b", "x\xe2\x80\x8b", "\xc3\x28", "ed*"};
    for (size_t index = 0; index < sizeof good_topics / sizeof *good_topics; index++)
        CHECK(sb_topic_problem(good_topics[index], strlen(good_topics[index]), &limits, NULL) == 0, "topic %s is valid", good_topics[index]);
    for (size_t index = 0; index < sizeof bad_topics / sizeof *bad_topics; index++) {
        sockbus_error error;
        CHECK(sb_topic_problem(bad_topics[index], strlen(bad_topics[index]), &limits, &error) == -1 && strcmp(error.code, "INVALID_TOPIC") == 0,
              "topic \"%s\" is invalid", bad_topics[index]);
    }
    sockbus_error error;
    CHECK(sb_topic_problem("$SYS.x", 6, &limits, &error) == -1 && strcmp(error.code, "RESERVED_TOPIC") == 0, "$SYS. is reserved");
    char long_topic[300];
    memset(long_topic, 'a', 257);
    long_topic[257] = '\0';
    CHECK(sb_topic_problem(long_topic, 257, &limits, NULL) == -1, "257 bytes is too long");
    CHECK(sb_topic_problem(long_topic, 256, &limits, NULL) == 0, "256 bytes is fine");

    static const char *const good_patterns[] = {"app.*.saved", ">", "app.>", "*", "*.*.*", "$SYS.>"};
    static const char *const bad_patterns[] = {"app.ed*", "a.>x", ">.a", "a.>.b", "", "a..b", "**"};
    for (size_t index = 0; index < sizeof good_patterns / sizeof *good_patterns; index++)
        CHECK(sb_pattern_problem(good_patterns[index], strlen(good_patterns[index]), &limits, NULL) == 0, "pattern %s is valid", good_patterns[index]);
    for (size_t index = 0; index < sizeof bad_patterns / sizeof *bad_patterns; index++)
        CHECK(sb_pattern_problem(bad_patterns[index], strlen(bad_patterns[index]), &limits, &error) == -1 && strcmp(error.code, "INVALID_PATTERN") == 0,
              "pattern \"%s\" is invalid", bad_patterns[index]);
    CHECK(sb_pattern_problem("*.*.*.*", 7, &limits, &error) == -1 && strcmp(error.code, "PATTERN_TOO_COMPLEX") == 0, "four * is too complex");
    CHECK(sb_pattern_problem("a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q", 33, &limits, &error) == -1 && strcmp(error.code, "PATTERN_TOO_COMPLEX") == 0, "17 tokens");

    CHECK(sb_queue_problem("w", NULL) == 0 && sb_queue_problem("a.*>", NULL) == 0, "queue names with . * >");
    CHECK(sb_queue_problem("", NULL) == -1 && sb_queue_problem("a b", NULL) == -1, "bad queue names");
    CHECK(sb_header_name_problem("trace", NULL) == 0 && sb_header_name_problem("a:b", NULL) == -1 && sb_header_name_problem("", NULL) == -1, "header names");

    static const struct { const char *pattern, *topic; int matches; } cases[] = {
        {"app.*.saved", "app.editor.saved", 1}, {"app.*.saved", "app.saved", 0}, {"app.*.saved", "app.a.b.saved", 0},
        {"app.>", "app.x", 1}, {"app.>", "app.x.y", 1}, {"app.>", "app", 0}, {">", "a", 1}, {">", "$SYS.client.connected", 0},
        {"*.connected", "$SYS.connected", 0}, {"$SYS.>", "$SYS.client.connected", 1}, {"a.b", "a.b", 1}, {"a.b", "a.bc", 0},
        {"a.b", "a", 0}, {"a", "a.b", 0}, {"*", "a", 1}, {"*", "a.b", 0}, {"a.*", "a.b", 1}, {"a.*.>", "a.b", 0}, {"a.*.>", "a.b.c", 1},
        {"*.b", "$x.b", 0}, {"a.$x", "a.$x", 1}, {"x.*", "x.$y", 1},
    };
    for (size_t index = 0; index < sizeof cases / sizeof *cases; index++)
        CHECK(sockbus_pattern_matches(cases[index].pattern, cases[index].topic) == cases[index].matches, "%s %s %s", cases[index].pattern,
              cases[index].matches ? "matches" : "does not match", cases[index].topic);
}

static void test_reader(void) {
    /* Every integer encoding of 7 reads as 7. */
    static const uint8_t encodings[][9] = {{0x07}, {0xcc, 7}, {0xcd, 0, 7}, {0xce, 0, 0, 0, 7}, {0xcf, 0, 0, 0, 0, 0, 0, 0, 7},
                                           {0xd0, 7}, {0xd1, 0, 7}, {0xd2, 0, 0, 0, 7}, {0xd3, 0, 0, 0, 0, 0, 0, 0, 7}};
    static const size_t sizes[] = {1, 2, 3, 5, 9, 2, 3, 5, 9};
    for (size_t index = 0; index < 9; index++) {
        sb_reader reader;
        uint32_t value = 0;
        sb_reader_init(&reader, encodings[index], sizes[index]);
        CHECK(sb_read_u32(&reader, &value) == 0 && value == 7, "integer encoding %zu of 7", index);
    }
    static const uint8_t negative[] = {0xff};
    sb_reader reader;
    uint32_t value;
    sb_reader_init(&reader, negative, 1);
    CHECK(sb_read_u32(&reader, &value) == -1, "-1 is no uint");
    /* Deep nesting is skipped without recursion. */
    size_t depth = 100000;
    uint8_t *deep = malloc(depth + 1);
    memset(deep, 0x91, depth);
    deep[depth] = 0xc0;
    CHECK(sb_valid_value(deep, depth + 1, 1), "100,000 nested arrays are one value");
    CHECK(!sb_valid_value(deep, depth, 1), "a truncated nesting is not");
    free(deep);
    static const uint8_t stats[] = {0x82, 0xa1, 'a', 0x01, 0xa7, 'c', 'l', 'i', 'e', 'n', 't', 's', 0x91, 0x80};
    const uint8_t *found;
    size_t found_length;
    CHECK(sockbus_map_find(stats, sizeof stats, "clients", &found, &found_length) == 0 && found_length == 2 && found[0] == 0x91, "map_find");
    CHECK(sockbus_map_find(stats, sizeof stats, "nothing", &found, &found_length) == -1, "map_find misses");
}

static void test_backoff(void) {
    uint64_t state = 42;
    for (uint32_t attempt = 0; attempt < 40; attempt++) {
        uint64_t bound = 20ull << (attempt > 30 ? 30 : attempt);
        if (bound > 2000) bound = 2000;
        for (int draw = 0; draw < 200; draw++) {
            uint32_t delay = sb_backoff_delay(attempt, 2000, &state);
            CHECK(delay >= bound / 2 && delay < bound, "attempt %u: %u not in [%llu, %llu)", attempt, delay, (unsigned long long)bound / 2,
                  (unsigned long long)bound);
        }
    }
    for (int draw = 0; draw < 1000; draw++) CHECK(sb_random_below(100, &state) < 100, "jitter below 100");
}

static void test_offline_queue(void) {
    sb_queue queue = {.max_count = 3, .max_bytes = 10};
    const uint8_t bytes[8] = {0};
    CHECK(sb_queue_push(&queue, bytes, 4, 0) == 0 && sb_queue_push(&queue, bytes, 4, 0) == 0, "two fit");
    CHECK(sb_queue_push(&queue, bytes, 4, 0) == 1 && queue.count == 2 && queue.bytes == 8, "a third passes the bytes: the oldest goes");
    CHECK(sb_queue_push(&queue, bytes, 1, 0) == 0 && sb_queue_push(&queue, bytes, 1, 0) == 1 && queue.count == 3, "the count bound");
    CHECK(sb_queue_push(&queue, bytes, 11, 0) == 1 && queue.count == 3, "one larger than the queue is dropped itself");
    sb_queue_clear(&queue);
    CHECK(queue.count == 0 && queue.head == NULL, "cleared");
}

int main(void) {
    test_frame_decoder();
    test_decode_spec_frames();
    test_encode_spec_frames();
    test_names();
    test_reader();
    test_backoff();
    test_offline_queue();
    printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
