/*
 * Scenarios the vitest file (test/c/libsockbus.test.ts) runs against real
 * brokers. Each prints what it saw, one line per fact, and exits 0 when it
 * saw what it should. Only the public API (sockbus.h) is used.
 *
 *   test-client types SOCKET TOPIC       publish one message of every MessagePack type
 *   test-client features SOCKET          every feature checked in one process; "ok NAME" or "FAIL NAME: why"
 *   test-client limits SOCKET            the welcome's limits honoured (broker started with small ones)
 *   test-client offline SOCKET COUNT MAX across a broker restart: queue COUNT publishes (at most MAX kept), resubscribe
 *   test-client silent SOCKET            against a broker that welcomes and then never answers
 *   test-client notices SOCKET           against a scripted broker: every callback, one line each
 *   test-client give-up SOCKET           gives up after 3 failed reconnects once the broker is gone
 */
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "json.h"
#include "sockbus.h"

static int failures;

static void check(int condition, const char *name, const char *why) {
    if (condition) printf("ok %s\n", name);
    else {
        printf("FAIL %s: %s\n", name, why ? why : "");
        failures++;
    }
    fflush(stdout);
}

static int64_t now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Runs several clients in one poll() loop until *flag is set or the time is up. */
static int pump(sockbus **buses, int count, const volatile int *flag, int timeout_ms) {
    int64_t deadline = now_ms() + timeout_ms;
    while (!(flag && *flag)) {
        struct pollfd watched[8];
        int64_t left = deadline - now_ms();
        if (left <= 0) return flag ? -1 : 0;
        int wait = (int)left;
        for (int index = 0; index < count; index++) {
            int timeout = sockbus_timeout_ms(buses[index]);
            if (timeout >= 0 && timeout < wait) wait = timeout;
            watched[index].fd = sockbus_fd(buses[index]);
            watched[index].events = sockbus_events(buses[index]);
            watched[index].revents = 0;
        }
        poll(watched, (nfds_t)count, wait);
        for (int index = 0; index < count; index++) sockbus_process(buses[index], watched[index].revents);
    }
    return 0;
}

/* A client connected with these options; a scenario that cannot connect fails at once, saying why. */
static sockbus *connect_with(const sockbus_options *options) {
    sockbus_error error;
    sockbus *bus = sockbus_new(options, &error);
    if (!bus || sockbus_connect_sync(bus, 5000, &error) < 0) {
        printf("FAIL connect: %s\n", error.message);
        sockbus_free(bus);
        exit(1);
    }
    return bus;
}

static sockbus *connect_to(const char *path, const char *name, int no_echo, void *user_data, sockbus_callbacks *callbacks) {
    sockbus_options options;
    sockbus_options_init(&options);
    options.path = path;
    options.name = name;
    options.no_echo = no_echo;
    if (callbacks) options.callbacks = *callbacks;
    options.user_data = user_data;
    return connect_with(&options);
}

/* ---- types ---- */

static int scenario_types(const char *path, const char *topic) {
    sockbus *bus = connect_to(path, "c types", 0, NULL, NULL);
    msgpack_sbuffer buffer;
    msgpack_packer packer;
    sockbus_error error;
    sockbus_header headers[] = {{"trace", "abc"}, {"lang", "c"}};
    sockbus_publish_options with_headers = {headers, 2, 0};
    msgpack_sbuffer_init(&buffer);
    msgpack_packer_init(&packer, &buffer, msgpack_sbuffer_write);
    /* One map holding every type, then each again as a whole message. */
    msgpack_pack_map(&packer, 16);
    msgpack_pack_str_with_body(&packer, "nil", 3); msgpack_pack_nil(&packer);
    msgpack_pack_str_with_body(&packer, "true", 4); msgpack_pack_true(&packer);
    msgpack_pack_str_with_body(&packer, "false", 5); msgpack_pack_false(&packer);
    msgpack_pack_str_with_body(&packer, "small", 5); msgpack_pack_int(&packer, 7);
    msgpack_pack_str_with_body(&packer, "negative", 8); msgpack_pack_int(&packer, -7);
    msgpack_pack_str_with_body(&packer, "u16", 3); msgpack_pack_uint16(&packer, 65535);
    msgpack_pack_str_with_body(&packer, "u32", 3); msgpack_pack_uint32(&packer, 4294967295u);
    msgpack_pack_str_with_body(&packer, "big", 3); msgpack_pack_int64(&packer, 1099511627776LL);
    msgpack_pack_str_with_body(&packer, "bigNegative", 11); msgpack_pack_int64(&packer, -1099511627776LL);
    msgpack_pack_str_with_body(&packer, "double", 6); msgpack_pack_double(&packer, 1.5);
    msgpack_pack_str_with_body(&packer, "float", 5); msgpack_pack_float(&packer, 0.25f);
    msgpack_pack_str_with_body(&packer, "text", 4); msgpack_pack_str_with_body(&packer, "h\xc3\xa9llo \xf0\x9f\x93\xa6", 11);
    msgpack_pack_str_with_body(&packer, "empty", 5); msgpack_pack_str_with_body(&packer, "", 0);
    msgpack_pack_str_with_body(&packer, "bytes", 5); msgpack_pack_bin_with_body(&packer, "\x00\x01\xff", 3);
    msgpack_pack_str_with_body(&packer, "list", 4);
    msgpack_pack_array(&packer, 3); msgpack_pack_int(&packer, 1); msgpack_pack_str_with_body(&packer, "a", 1); msgpack_pack_map(&packer, 0);
    msgpack_pack_str_with_body(&packer, "ext", 3); msgpack_pack_ext_with_body(&packer, "\x01\x02\x03", 3, 42);
    if (sockbus_publish(bus, topic, buffer.data, buffer.size, &with_headers, &error) < 0) printf("FAIL publish: %s\n", error.message);
    msgpack_sbuffer_destroy(&buffer);
    sockbus_publish_string(bus, topic, "plain", NULL, &error);
    sockbus_publish_int(bus, topic, -42, NULL, &error);
    sockbus_publish_double(bus, topic, 2.5, NULL, &error);
    sockbus_publish_nil(bus, topic, NULL, &error);
    msgpack_zone zone;
    msgpack_object object;
    static const uint8_t packed_map[] = {0x81, 0xa3, 'o', 'b', 'j', 0xc3};
    msgpack_zone_init(&zone, 256);
    if (sockbus_unpack(packed_map, sizeof packed_map, &zone, &object) == 0) sockbus_publish_object(bus, topic, &object, NULL, &error);
    msgpack_zone_destroy(&zone);
    sockbus_publish_options retained = {NULL, 0, 1};
    char retained_topic[300];
    snprintf(retained_topic, sizeof retained_topic, "%s.retained", topic);
    sockbus_publish_string(bus, retained_topic, "kept", &retained, &error);
    int result = sockbus_flush_sync(bus, 5000, &error);
    printf(result == 0 ? "published\n" : "FAIL flush: %s\n", error.message);
    sockbus_close_sync(bus, 5000);
    sockbus_free(bus);
    return result == 0 ? 0 : 1;
}

/* ---- features ---- */

typedef struct {
    int messages;
    char last_topic[300];
    char last_data[300];
    uint32_t last_subscription;
    int last_retained;
    sockbus_sender last_sender;
    char last_header[300];
    char reply_to[64];
    volatile int flag;
    int errors;
    char last_error_code[32];
    uint32_t last_error_subscription;
    int replied;
    char reply_data[300];
    char reply_error[600];
    sockbus_sender reply_sender;
    int dropped;
} inbox;

static void remember(inbox *box, const sockbus_message *message) {
    json_text text = {0};
    box->messages++;
    snprintf(box->last_topic, sizeof box->last_topic, "%s", message->topic);
    json_append_value(&text, message->data, message->data_len);
    snprintf(box->last_data, sizeof box->last_data, "%s", text.text);
    json_text_free(&text);
    box->last_subscription = message->subscription;
    box->last_retained = message->retained;
    box->last_sender = message->sender;
    box->last_header[0] = '\0';
    if (message->header_count) snprintf(box->last_header, sizeof box->last_header, "%s=%s", message->headers[0].name, message->headers[0].value);
    if (message->reply_to) snprintf(box->reply_to, sizeof box->reply_to, "%s", message->reply_to);
    box->flag = 1;
}

static void on_message(sockbus *bus, const sockbus_message *message, void *user_data) { remember(user_data, message); }

static void on_error(sockbus *bus, const sockbus_error *error, uint32_t subscription, void *user_data) {
    inbox *box = user_data;
    box->errors++;
    snprintf(box->last_error_code, sizeof box->last_error_code, "%s", error->code);
    box->last_error_subscription = subscription;
    box->flag = 1;
}

static void on_dropped(sockbus *bus, sockbus_drop_source source, uint64_t count, const char *reason, void *user_data) {
    ((inbox *)user_data)->dropped += (int)count;
}

static void on_reply(sockbus *bus, const sockbus_reply *reply, const sockbus_error *error, void *user_data) {
    inbox *box = user_data;
    box->replied++;
    box->reply_data[0] = box->reply_error[0] = '\0';
    if (reply) {
        json_text text = {0};
        json_append_value(&text, reply->data, reply->data_len);
        snprintf(box->reply_data, sizeof box->reply_data, "%s", text.text);
        json_text_free(&text);
        box->reply_sender = reply->sender;
    } else {
        snprintf(box->reply_error, sizeof box->reply_error, "%s: %s", error->code, error->message);
    }
    box->flag = 1;
}

/* Answers 2 * n; a request for a string is answered with an error of code BAD_INPUT. */
static void on_double(sockbus *bus, const sockbus_message *message, void *user_data) {
    msgpack_zone zone;
    msgpack_object value;
    msgpack_sbuffer buffer;
    msgpack_packer packer;
    remember(user_data, message);
    msgpack_zone_init(&zone, 1024);
    if (sockbus_unpack(message->data, message->data_len, &zone, &value) == 0 && value.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        msgpack_sbuffer_init(&buffer);
        msgpack_packer_init(&packer, &buffer, msgpack_sbuffer_write);
        msgpack_pack_uint64(&packer, value.via.u64 * 2);
        sockbus_header header = {"by", "c"};
        sockbus_respond(bus, message->reply_to, buffer.data, buffer.size, &header, 1, NULL);
        msgpack_sbuffer_destroy(&buffer);
    } else if (value.type == MSGPACK_OBJECT_NIL) {
        sockbus_respond_error(bus, message->reply_to, NULL, "nothing to double", NULL, 0, NULL);
    } else {
        sockbus_respond_error(bus, message->reply_to, "BAD_INPUT", "expected a number", NULL, 0, NULL);
    }
    msgpack_zone_destroy(&zone);
}

static void on_once(sockbus *bus, const sockbus_message *message, void *user_data) {
    remember(user_data, message);
    sockbus_unsubscribe(bus, message->subscription);
}

static void reset(inbox *box) {
    memset(box, 0, sizeof *box);
}

static int code_is(int result, const sockbus_error *error, const char *code) {
    return result < 0 && strcmp(error->code, code) == 0;
}

static int scenario_features(const char *path) {
    static inbox a_box, b_box;
    sockbus_callbacks callbacks = {0};
    callbacks.error = on_error;
    callbacks.dropped = on_dropped;
    sockbus *a = connect_to(path, "c-features-a", 0, &a_box, &callbacks);
    sockbus *b = connect_to(path, "c-features-b", 1, &b_box, &callbacks);
    sockbus *both[2] = {a, b};
    sockbus_error error;
    char why[1400];

    /* Wildcards: * one token, > the rest. */
    uint32_t star = sockbus_subscribe(a, "feat.*.x", NULL, on_message, &a_box, &error);
    check(star > 0, "subscribe", error.message);
    sockbus_flush_sync(a, 5000, NULL);
    sockbus_publish_int(b, "feat.one.x", 1, NULL, NULL);
    sockbus_publish_int(b, "feat.one.two.x", 2, NULL, NULL);
    sockbus_publish_int(b, "feat.two.x", 3, NULL, NULL);
    sockbus_flush_sync(b, 5000, NULL);
    pump(both, 2, NULL, 200);
    snprintf(why, sizeof why, "%d messages, last %s %s", a_box.messages, a_box.last_topic, a_box.last_data);
    check(a_box.messages == 2 && strcmp(a_box.last_data, "3") == 0 && a_box.last_subscription == star, "star matches one token", why);
    check(a_box.last_sender.known && a_box.last_sender.uid == getuid() && a_box.last_sender.pid == (uint32_t)getpid(), "sender is uid and pid", NULL);

    reset(&a_box);
    uint32_t tail = sockbus_subscribe(a, "feat.>", NULL, on_message, &a_box, &error);
    sockbus_unsubscribe(a, star);
    sockbus_flush_sync(a, 5000, NULL);
    sockbus_header header = {"trace", "t-1"};
    sockbus_publish_options with_header = {&header, 1, 0};
    sockbus_publish_string(b, "feat.a.b.c", "deep", &with_header, NULL);
    sockbus_flush_sync(b, 5000, NULL);
    pump(both, 2, NULL, 200);
    snprintf(why, sizeof why, "%d messages, last %s %s %s", a_box.messages, a_box.last_topic, a_box.last_data, a_box.last_header);
    check(a_box.messages == 1 && a_box.last_subscription == tail && strcmp(a_box.last_data, "\"deep\"") == 0 && strcmp(a_box.last_header, "trace=t-1") == 0,
          "tail matches the rest, headers arrive, unsubscribed gets nothing", why);

    /* noEcho: b does not hear itself; a hears its own publishes. */
    reset(&a_box);
    reset(&b_box);
    sockbus_subscribe(b, "echo.x", NULL, on_message, &b_box, NULL);
    sockbus_subscribe(a, "echo.x", NULL, on_message, &a_box, NULL);
    sockbus_flush_sync(a, 5000, NULL);
    sockbus_flush_sync(b, 5000, NULL);
    sockbus_publish_int(b, "echo.x", 1, NULL, NULL);
    sockbus_publish_int(a, "echo.x", 2, NULL, NULL);
    sockbus_flush_sync(a, 5000, NULL);
    sockbus_flush_sync(b, 5000, NULL);
    pump(both, 2, NULL, 200);
    snprintf(why, sizeof why, "a got %d, b got %d (%s)", a_box.messages, b_box.messages, b_box.last_data);
    check(a_box.messages == 2 && b_box.messages == 1 && strcmp(b_box.last_data, "2") == 0, "noEcho", why);

    /* Requests: b answers a; errors with a code; no responders; a timeout. */
    reset(&a_box);
    reset(&b_box);
    sockbus_subscribe(b, "math.double", NULL, on_double, &b_box, NULL);
    sockbus_flush_sync(b, 5000, NULL);
    const uint8_t twenty_one = 21, text[] = {0xa1, 'x'};
    sockbus_request(a, "math.double", &twenty_one, 1, NULL, 0, 2000, on_reply, &a_box, NULL);
    pump(both, 2, &a_box.flag, 3000);
    check(strcmp(a_box.reply_data, "42") == 0 && a_box.reply_sender.known && a_box.reply_sender.pid == (uint32_t)getpid(), "request answered, with the responder as sender",
          a_box.reply_error);
    a_box.flag = 0;
    sockbus_request(a, "math.double", text, sizeof text, NULL, 0, 2000, on_reply, &a_box, NULL);
    pump(both, 2, &a_box.flag, 3000);
    check(strncmp(a_box.reply_error, "BAD_INPUT: expected a number", 28) == 0, "error reply with the responder's code", a_box.reply_error);
    a_box.flag = 0;
    sockbus_request(a, "math.double", NULL, 0, NULL, 0, 2000, on_reply, &a_box, NULL);
    pump(both, 2, &a_box.flag, 3000);
    check(strcmp(a_box.reply_error, "REQUEST_FAILED: nothing to double") == 0, "error reply without a code is REQUEST_FAILED", a_box.reply_error);
    a_box.flag = 0;
    sockbus_request(a, "nobody.home", NULL, 0, NULL, 0, 30000, on_reply, &a_box, NULL);
    pump(both, 2, &a_box.flag, 3000);
    check(strcmp(a_box.reply_error, "NO_RESPONDERS: no responders: nothing subscribes to nobody.home") == 0, "no responders at once", a_box.reply_error);
    a_box.flag = 0;
    sockbus_subscribe(b, "slow.never", NULL, on_message, &b_box, NULL);
    sockbus_flush_sync(b, 5000, NULL);
    int64_t asked = now_ms();
    sockbus_request(a, "slow.never", NULL, 0, NULL, 0, 300, on_reply, &a_box, NULL);
    pump(both, 2, &a_box.flag, 3000);
    int64_t waited = now_ms() - asked;
    snprintf(why, sizeof why, "%s after %lld ms", a_box.reply_error, (long long)waited);
    check(strncmp(a_box.reply_error, "REQUEST_TIMEOUT", 15) == 0 && waited >= 290 && waited < 2000, "request timeout", why);

    /* Flush and stats: the clients list names both. */
    size_t length;
    uint8_t *stats = sockbus_stats_sync(a, 5000, &length, &error);
    const uint8_t *clients;
    size_t clients_length;
    int listed = 0;
    if (stats && sockbus_map_find(stats, length, "clients", &clients, &clients_length) == 0)
        listed = memmem(clients, clients_length, "c-features-a", 12) && memmem(clients, clients_length, "c-features-b", 12);
    check(stats && listed, "stats and the client list", stats ? "names missing" : error.message);
    free(stats);

    /* Retained values come first, marked. */
    reset(&a_box);
    sockbus_publish_options retain = {NULL, 0, 1};
    sockbus_publish_string(b, "ret.theme", "dark", &retain, NULL);
    sockbus_flush_sync(b, 5000, NULL);
    sockbus_subscribe(a, "ret.*", NULL, on_message, &a_box, NULL);
    pump(both, 2, &a_box.flag, 3000);
    check(a_box.messages == 1 && a_box.last_retained && strcmp(a_box.last_data, "\"dark\"") == 0, "retained replay marked", a_box.last_data);
    sockbus_publish_nil(b, "ret.theme", &retain, NULL);

    /* What is refused before sending, with the broker's codes. */
    const uint8_t bad_utf8[] = {0xa2, 0xc3, 0x28}, two_values[] = {0x01, 0x02};
    check(code_is(sockbus_publish_int(a, "bad topic", 1, NULL, &error), &error, "INVALID_TOPIC"), "INVALID_TOPIC", error.message);
    check(code_is(sockbus_publish_int(a, "a.*", 1, NULL, &error), &error, "INVALID_TOPIC"), "wildcards in a topic", error.message);
    check(code_is(sockbus_publish_int(a, "$SYS.x", 1, NULL, &error), &error, "RESERVED_TOPIC"), "RESERVED_TOPIC", error.message);
    check(code_is(sockbus_publish(a, "a.b", bad_utf8, sizeof bad_utf8, NULL, &error), &error, "INVALID_DATA"), "INVALID_DATA for invalid UTF-8", error.message);
    check(code_is(sockbus_publish(a, "a.b", two_values, sizeof two_values, NULL, &error), &error, "INVALID_DATA"), "INVALID_DATA for two values", error.message);
    check(!sockbus_subscribe(a, "a.b*", NULL, on_message, NULL, &error) && strcmp(error.code, "INVALID_PATTERN") == 0, "INVALID_PATTERN", error.message);
    check(!sockbus_subscribe(a, "*.*.*.*", NULL, on_message, NULL, &error) && strcmp(error.code, "PATTERN_TOO_COMPLEX") == 0, "PATTERN_TOO_COMPLEX", error.message);
    check(!sockbus_subscribe(a, "a", "", on_message, NULL, &error) && strcmp(error.code, "INVALID_QUEUE") == 0, "INVALID_QUEUE", error.message);
    sockbus_header bad_name = {"a:b", "v"}, repeated[2] = {{"k", "1"}, {"k", "2"}};
    sockbus_publish_options bad_header = {&bad_name, 1, 0}, repeated_header = {repeated, 2, 0};
    check(code_is(sockbus_publish_int(a, "a.b", 1, &bad_header, &error), &error, "INVALID_DATA"), "a header name with a colon", error.message);
    check(code_is(sockbus_publish_int(a, "a.b", 1, &repeated_header, &error), &error, "INVALID_DATA"), "a repeated header", error.message);
    sockbus_header many[65];
    for (int index = 0; index < 65; index++) {
        static char names[65][16];
        snprintf(names[index], sizeof names[index], "h%d", index);
        many[index].name = names[index];
        many[index].value = "v";
    }
    sockbus_publish_options too_many = {many, 65, 0};
    check(code_is(sockbus_publish_int(a, "a.b", 1, &too_many, &error), &error, "HEADERS_TOO_LARGE"), "HEADERS_TOO_LARGE", error.message);
    check(code_is(sockbus_respond(a, NULL, NULL, 0, NULL, 0, &error), &error, "NOT_A_REQUEST"), "NOT_A_REQUEST", error.message);

    /* Past max_pending_bytes publishes are dropped and reported, not buffered without bound. */
    {
        static inbox small_box;
        sockbus_options options;
        sockbus_options_init(&options);
        options.path = path;
        options.max_pending_bytes = 2000;
        options.callbacks.dropped = on_dropped;
        options.user_data = &small_box;
        sockbus *small = sockbus_new(&options, &error);
        sockbus_connect_sync(small, 5000, &error);
        char payload[101];
        memset(payload, 'x', 100);
        payload[100] = '\0';
        for (int index = 0; index < 100; index++) sockbus_publish_string(small, "bounded.x", payload, NULL, NULL);
        snprintf(why, sizeof why, "%d dropped", small_box.dropped);
        check(small_box.dropped > 70 && small_box.dropped < 100, "the outbound buffer is bounded", why);
        sockbus_close_sync(small, 5000);
        sockbus_free(small);
    }

    /* A subscription's handler may unsubscribe itself, and a second one on the same topic still gets both. */
    static inbox once_box, other_box;
    sockbus_subscribe(a, "self.x", NULL, on_once, &once_box, NULL);
    sockbus_subscribe(a, "self.*", NULL, on_message, &other_box, NULL);
    sockbus_flush_sync(a, 5000, NULL);
    sockbus_publish_int(a, "self.x", 1, NULL, NULL);
    sockbus_publish_int(a, "self.x", 2, NULL, NULL);
    sockbus_flush_sync(a, 5000, NULL);
    pump(both, 2, NULL, 300);
    snprintf(why, sizeof why, "once got %d, the other %d", once_box.messages, other_box.messages);
    check(once_box.messages == 1 && other_box.messages == 2, "unsubscribe inside the handler", why);
    reset(&a_box);
    reset(&b_box);

    check(a_box.errors == 0 && b_box.errors == 0, "no error notices", a_box.last_error_code);
    sockbus_close_sync(a, 5000);
    sockbus_close_sync(b, 5000);
    check(sockbus_get_state(a) == SOCKBUS_CLOSED, "closed", NULL);
    check(code_is(sockbus_publish_int(a, "a.b", 1, NULL, &error), &error, "CLIENT_CLOSED"), "CLIENT_CLOSED after close", error.message);
    sockbus_counters counters;
    sockbus_get_counters(a, &counters);
    snprintf(why, sizeof why, "unconfirmed %llu", (unsigned long long)counters.unconfirmed);
    check(counters.unconfirmed == 0, "a clean close leaves nothing unconfirmed", why);
    sockbus_free(a);
    sockbus_free(b);
    return failures ? 1 : 0;
}

/* ---- limits: the broker runs with --max-payload 4096 --max-subscriptions 3 --max-requests 2 --max-retained 1 ---- */

static int scenario_limits(const char *path) {
    static inbox box;
    sockbus_callbacks callbacks = {0};
    callbacks.error = on_error;
    sockbus *bus = connect_to(path, "c-limits", 0, &box, &callbacks);
    sockbus_error error;
    sockbus_limits limits;
    char why[1400];
    sockbus_get_limits(bus, &limits);
    snprintf(why, sizeof why, "maxFrameBytes %u, maxBrokerFrameBytes %u, maxSubscriptions %u, maxRequests %u", limits.max_frame_bytes,
             limits.max_broker_frame_bytes, limits.max_subscriptions, limits.max_requests);
    check(limits.max_frame_bytes == 4096 && limits.max_broker_frame_bytes == 5120 && limits.max_subscriptions == 3 && limits.max_requests == 2,
          "the welcome's limits", why);
    char *large = malloc(5000);
    memset(large, 'x', 4999);
    large[4999] = '\0';
    check(code_is(sockbus_publish_string(bus, "big.one", large, NULL, &error), &error, "FRAME_TOO_LARGE"), "FRAME_TOO_LARGE from the welcome", error.message);
    large[4000] = '\0';
    check(sockbus_publish_string(bus, "big.one", large, NULL, &error) == 0, "a frame within the limit", error.message);
    free(large);
    for (int index = 0; index < 3; index++) sockbus_subscribe(bus, "lim.x", NULL, on_message, &box, NULL);
    check(!sockbus_subscribe(bus, "lim.y", NULL, on_message, &box, &error) && strcmp(error.code, "TOO_MANY_SUBSCRIPTIONS") == 0,
          "TOO_MANY_SUBSCRIPTIONS from the welcome", error.message);
    sockbus_subscribe(bus, "never.answered", NULL, on_message, &box, NULL);
    sockbus_request(bus, "lim.x", NULL, 0, NULL, 0, 2000, on_reply, &box, NULL);
    sockbus_request(bus, "lim.x", NULL, 0, NULL, 0, 2000, on_reply, &box, NULL);
    check(code_is(sockbus_request(bus, "lim.x", NULL, 0, NULL, 0, 2000, on_reply, &box, &error), &error, "TOO_MANY_REQUESTS"), "TOO_MANY_REQUESTS from the welcome",
          error.message);
    /* Refused by the broker: the second retained topic, through the error callback. */
    sockbus_publish_options retain = {NULL, 0, 1};
    sockbus_publish_int(bus, "keep.one", 1, &retain, NULL);
    sockbus_publish_int(bus, "keep.two", 2, &retain, NULL);
    sockbus_flush_sync(bus, 5000, NULL);
    check(box.errors == 1 && strcmp(box.last_error_code, "RETAINED_STORE_FULL") == 0, "RETAINED_STORE_FULL through the error callback", box.last_error_code);
    sockbus_close_sync(bus, 5000);
    sockbus_free(bus);
    return failures ? 1 : 0;
}

/* ---- offline: the test kills the broker, we queue, it restarts the broker, says "go" on stdin, we reconnect ---- */

typedef struct {
    int watch_calls, saw_no_fd, saw_fd_after;
    int reconnected, disconnected;
    char disconnect_code[32];
    inbox box;
} offline_state;

static void offline_status(sockbus *bus, sockbus_state state, const sockbus_error *error, void *user_data) {
    offline_state *state_seen = user_data;
    if (state == SOCKBUS_RECONNECTING) {
        state_seen->disconnected++;
        if (error) snprintf(state_seen->disconnect_code, sizeof state_seen->disconnect_code, "%s", error->code);
    }
    if (state == SOCKBUS_CONNECTED && state_seen->disconnected) state_seen->reconnected = 1;
}

static void offline_watch(sockbus *bus, int fd, short events, void *user_data) {
    offline_state *state_seen = user_data;
    state_seen->watch_calls++;
    if (fd < 0) state_seen->saw_no_fd = 1;
    else if (state_seen->saw_no_fd) state_seen->saw_fd_after = 1;
}

static void offline_dropped(sockbus *bus, sockbus_drop_source source, uint64_t count, const char *reason, void *user_data) {
    offline_state *state_seen = user_data;
    state_seen->box.dropped += (int)count;
    printf("dropped %llu: %s\n", (unsigned long long)count, reason);
}

static void offline_message(sockbus *bus, const sockbus_message *message, void *user_data) {
    offline_state *state_seen = user_data;
    remember(&state_seen->box, message);
    printf("received %s %s\n", state_seen->box.last_topic, state_seen->box.last_data);
    fflush(stdout);
}

static void offline_reply(sockbus *bus, const sockbus_reply *reply, const sockbus_error *error, void *user_data) {
    json_text text = {0};
    if (reply) json_append_value(&text, reply->data, reply->data_len);
    printf("reply %s\n", reply ? text.text : error->code);
    json_text_free(&text);
    (*(int *)user_data)++;
}

static void offline_flushed(sockbus *bus, const sockbus_error *error, void *user_data) {
    printf("flushed %s\n", error ? error->code : "after the reconnect");
    (*(int *)user_data)++;
}

static int scenario_offline(const char *path, int count, int max_queued) {
    static int answered;
    static offline_state seen;
    sockbus_options options;
    char line[64];
    sockbus_options_init(&options);
    options.path = path;
    options.name = "c-offline";
    options.offline_queue_messages = (size_t)max_queued;
    options.callbacks.status = offline_status;
    options.callbacks.watch = offline_watch;
    options.callbacks.dropped = offline_dropped;
    options.user_data = &seen;
    sockbus *bus = connect_with(&options);
    sockbus_subscribe(bus, "back.>", NULL, offline_message, &seen, NULL);
    sockbus_subscribe(bus, "shared", "workers", offline_message, &seen, NULL);
    sockbus_flush_sync(bus, 5000, NULL);
    printf("connected\n");
    fflush(stdout);
    while (!seen.disconnected) sockbus_run(bus, 100);
    printf("disconnected %s\n", seen.disconnect_code);
    for (int index = 0; index < count; index++) sockbus_publish_int(bus, "offline.n", index, NULL, NULL);
    /* A request and a flush made while away wait for the next connection. */
    const uint8_t five = 5;
    sockbus_request(bus, "offline.ask", &five, 1, NULL, 0, 20000, offline_reply, &answered, NULL);
    sockbus_flush(bus, offline_flushed, &answered, NULL);
    printf("queued\n");
    fflush(stdout);
    /* Not running the loop: the client cannot reconnect before the test has its subscriber on the new broker. */
    if (!fgets(line, sizeof line, stdin)) return 1;
    while (!seen.reconnected) sockbus_run(bus, 100);
    sockbus_flush_sync(bus, 5000, NULL);
    printf("reconnected\n");
    fflush(stdout);
    while (seen.box.messages < 2 || answered < 2) sockbus_run(bus, 100);
    check(seen.saw_fd_after, "the watch callback saw the descriptor go and come back", NULL);
    sockbus_counters counters;
    sockbus_get_counters(bus, &counters);
    printf("reconnects %llu dropped %llu\n", (unsigned long long)counters.reconnects, (unsigned long long)counters.dropped_by_client);
    sockbus_close_sync(bus, 5000);
    sockbus_free(bus);
    return failures ? 1 : 0;
}

/* ---- silent: a broker that welcomes, then says nothing and answers nothing ---- */

static int scenario_silent(const char *path) {
    static offline_state seen;
    sockbus_options options;
    sockbus_options_init(&options);
    options.path = path;
    options.ping_interval_ms = 200;
    options.ping_timeout_ms = 200;
    options.callbacks.status = offline_status;
    options.user_data = &seen;
    sockbus *bus = connect_with(&options);
    int64_t connected = now_ms();
    while (!seen.disconnected && now_ms() - connected < 5000) sockbus_run(bus, 100);
    printf("disconnected %s after %lld ms\n", seen.disconnect_code, (long long)(now_ms() - connected));
    sockbus_free(bus);
    return strcmp(seen.disconnect_code, "BROKER_UNRESPONSIVE") == 0 ? 0 : 1;
}

/* ---- quiet-loop: a loop that trusts sockbus_timeout_ms() does not spin while a confirming ping is out ---- */

static int scenario_quiet_loop(const char *path) {
    sockbus_options options;
    sockbus_error error;
    sockbus_options_init(&options);
    options.path = path;
    options.ping_interval_ms = 5000;
    options.ping_timeout_ms = 5000;
    sockbus *bus = connect_with(&options);
    /* The silent broker never answers the ping that confirms this publish. */
    if (sockbus_publish_string(bus, "quiet.x", "one", NULL, &error) < 0) {
        printf("FAIL publish: %s\n", error.message);
        sockbus_free(bus);
        return 1;
    }
    long turns = 0;
    int64_t start = now_ms();
    while (now_ms() - start < 500) {
        int timeout = sockbus_timeout_ms(bus);
        int left = (int)(500 - (now_ms() - start));
        if (timeout < 0 || timeout > left) timeout = left;
        struct pollfd watched = {.fd = sockbus_fd(bus), .events = sockbus_events(bus)};
        int ready = poll(&watched, 1, timeout);
        sockbus_process(bus, ready > 0 ? watched.revents : 0);
        turns++;
    }
    printf("turns %ld\n", turns);
    sockbus_free(bus);
    /* A handful: the publish, the ping, the timers. A spinning loop turns hundreds of thousands of times. */
    return turns < 50 ? 0 : 1;
}

/* ---- notices: a scripted fake broker sends dropped, an error ending a subscription, an oversize frame ---- */

static const char *const state_names[] = {"connecting", "connected", "reconnecting", "closing", "closed"};

static void notice_status(sockbus *bus, sockbus_state state, const sockbus_error *error, void *user_data) {
    printf("status %s%s%s\n", state_names[state], error ? " " : "", error ? error->code : "");
    if (state == SOCKBUS_CONNECTED) {
        sockbus_counters counters;
        sockbus_get_counters(bus, &counters);
        if (counters.reconnects > 0) *(int *)user_data = 1;
    }
}

static void notice_error(sockbus *bus, const sockbus_error *error, uint32_t subscription, void *user_data) {
    printf("error %s sub %u\n", error->code, subscription);
}

static void notice_dropped(sockbus *bus, sockbus_drop_source source, uint64_t count, const char *reason, void *user_data) {
    printf("dropped %s %llu\n", source == SOCKBUS_DROPPED_BY_BROKER ? "broker" : "client", (unsigned long long)count);
}

static void notice_unconfirmed(sockbus *bus, uint64_t count, void *user_data) {
    printf("unconfirmed %llu\n", (unsigned long long)count);
}

static void notice_message(sockbus *bus, const sockbus_message *message, void *user_data) {
    printf("message %s sub %u\n", message->topic, message->subscription);
}

static int scenario_notices(const char *path) {
    static int reconnected;
    sockbus_options options;
    sockbus_error error;
    sockbus_options_init(&options);
    options.path = path;
    options.max_reconnect_delay_ms = 50;
    options.callbacks.status = notice_status;
    options.callbacks.error = notice_error;
    options.callbacks.dropped = notice_dropped;
    options.callbacks.unconfirmed = notice_unconfirmed;
    options.user_data = &reconnected;
    sockbus *bus = connect_with(&options);
    sockbus_subscribe(bus, "a.>", NULL, notice_message, NULL, NULL);
    sockbus_subscribe(bus, "b.>", NULL, notice_message, NULL, NULL);
    for (int index = 0; index < 10; index++) sockbus_publish_int(bus, "p.x", index, NULL, NULL);
    int64_t started = now_ms();
    while (!reconnected && now_ms() - started < 5000) sockbus_run(bus, 50);
    int flushed = sockbus_flush_sync(bus, 2000, &error);
    printf("flushed %d\n", flushed);
    sockbus_close_sync(bus, 2000);
    sockbus_free(bus);
    return 0;
}

/* ---- give-up: max_reconnect_attempts after the broker went away for good ---- */

static int scenario_give_up(const char *path) {
    static int reconnected;
    sockbus_options options;
    sockbus_error error;
    sockbus_options_init(&options);
    options.path = path;
    options.max_reconnect_attempts = 3;
    options.callbacks.status = notice_status;
    options.user_data = &reconnected;
    sockbus *bus = connect_with(&options);
    static inbox box;
    sockbus_request(bus, "never.answered", NULL, 0, NULL, 0, 30000, on_reply, &box, NULL);
    while (sockbus_run(bus, 1000) == 0) {}
    printf("request failed %s\n", box.reply_error);
    int published = sockbus_publish_int(bus, "after.closed", 1, NULL, &error);
    printf("publish after giving up: %s\n", published < 0 ? error.code : "accepted");
    sockbus_free(bus);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && strcmp(argv[1], "types") == 0) return scenario_types(argv[2], argv[3]);
    if (argc >= 3 && strcmp(argv[1], "features") == 0) return scenario_features(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "limits") == 0) return scenario_limits(argv[2]);
    if (argc >= 5 && strcmp(argv[1], "offline") == 0) return scenario_offline(argv[2], atoi(argv[3]), atoi(argv[4]));
    if (argc >= 3 && strcmp(argv[1], "silent") == 0) return scenario_silent(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "quiet-loop") == 0) return scenario_quiet_loop(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "notices") == 0) return scenario_notices(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "give-up") == 0) return scenario_give_up(argv[2]);
    fprintf(stderr, "usage: test-client types|features|limits|offline|silent SOCKET ...\n");
    return 2;
}
