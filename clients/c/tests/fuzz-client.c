/*
 * Fuzzing what a broker can send (run under ASan and UBSan by the tests):
 *
 *   fuzz-client decoder ITERATIONS SEED   random and mutated frames (from PROTOCOL.md §7) through the
 *                                         frame decoder, in random chunks, and every body through sb_decode
 *   fuzz-client socket PATH SECONDS       a whole client against a fake broker sending such frames:
 *                                         it must survive, reconnecting as often as it takes
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "internal.h"
#include "spec-frames.h"

static const spec_frame *const seeds[] = {
    &spec_welcome, &spec_subscribed, &spec_pong, &spec_message, &spec_message_header, &spec_message_no_sender, &spec_error_pattern,
    &spec_error_reserved, &spec_error_closing, &spec_going_away, &spec_dropped, &spec_request_delivery, &spec_reply,
    &spec_reply_no_responders, &spec_reply_error, &spec_retained_replay, &spec_queue_delivery,
};
#define SEED_COUNT (sizeof seeds / sizeof *seeds)

static uint64_t state;
static uint32_t next(uint32_t bound) { return sb_random_below(bound, &state); }

/* A frame body: random bytes, or a seed's body with a few mutations. */
static size_t make_body(uint8_t *body, size_t capacity) {
    size_t length;
    if (next(4) == 0) {
        length = 1 + next(64);
        for (size_t index = 0; index < length; index++) body[index] = (uint8_t)next(256);
        return length;
    }
    const spec_frame *seed = seeds[next(SEED_COUNT)];
    length = seed->length - 4;
    memcpy(body, seed->bytes + 4, length);
    for (uint32_t mutations = 1 + next(4); mutations > 0; mutations--) {
        switch (next(5)) {
        case 0: body[next((uint32_t)length)] = (uint8_t)next(256); break;                  /* any byte */
        case 1: body[next((uint32_t)length)] ^= (uint8_t)(1u << next(8)); break;           /* one bit */
        case 2: if (length > 1) length = 1 + next((uint32_t)length - 1); break;            /* truncated */
        case 3: if (length < capacity) body[length++] = (uint8_t)next(256); break;         /* a trailing byte */
        case 4: body[next((uint32_t)length)] = (uint8_t)(0xdc + next(4)); break;           /* a large container header */
        }
    }
    return length;
}

static int fuzz_decoder(long iterations) {
    uint8_t body[512], stream[4096];
    long frames = 0, decoded = 0, refused = 0;
    for (long iteration = 0; iteration < iterations; iteration++) {
        sb_decoder decoder;
        size_t stream_length = 0;
        sb_decoder_init(&decoder, next(2) ? 1049600 : 64 + next(200));
        /* A few frames in one stream; sometimes a lying length prefix. */
        for (int count = 1 + (int)next(4); count > 0 && stream_length + 4 + sizeof body < sizeof stream; count--) {
            size_t length = make_body(body, sizeof body);
            uint32_t announced = next(20) == 0 ? (uint32_t)next(UINT32_MAX) : (uint32_t)length;
            stream[stream_length++] = (uint8_t)(announced >> 24);
            stream[stream_length++] = (uint8_t)(announced >> 16);
            stream[stream_length++] = (uint8_t)(announced >> 8);
            stream[stream_length++] = (uint8_t)announced;
            memcpy(stream + stream_length, body, length);
            stream_length += length;
        }
        for (size_t offset = 0; offset < stream_length;) {
            size_t piece = 1 + next((uint32_t)(stream_length - offset));
            sb_decoder_push(&decoder, stream + offset, piece);
            offset += piece;
            const uint8_t *frame_body;
            uint32_t frame_length;
            sockbus_error error;
            int found;
            while ((found = sb_decoder_next(&decoder, &frame_body, &frame_length, &error)) == 1) {
                sb_frame frame;
                frames++;
                if (sb_decode(frame_body, frame_length, &frame, &error) == 0) decoded++;
                else refused++;
                msgpack_zone zone;
                msgpack_object object;
                msgpack_zone_init(&zone, 1024);
                sockbus_unpack(frame_body, frame_length, &zone, &object);
                msgpack_zone_destroy(&zone);
            }
            if (found < 0) break;
        }
        sb_decoder_free(&decoder);
    }
    printf("decoder: %ld iterations, %ld frames, %ld decoded, %ld refused\n", iterations, frames, decoded, refused);
    return 0;
}

static void on_message(sockbus *bus, const sockbus_message *message, void *user_data) {
    (*(long *)user_data)++;
    if (message->reply_to && strlen(message->reply_to) < 64) sockbus_respond(bus, message->reply_to, NULL, 0, message->headers, message->header_count, NULL);
}

static void on_reply(sockbus *bus, const sockbus_reply *reply, const sockbus_error *error, void *user_data) { (*(long *)user_data)++; }
static void on_done(sockbus *bus, const sockbus_error *error, void *user_data) { (*(long *)user_data)++; }
static void on_stats(sockbus *bus, const uint8_t *counters, size_t length, const sockbus_error *error, void *user_data) { (*(long *)user_data)++; }

static int fuzz_socket(const char *path, int seconds) {
    sockbus_options options;
    sockbus_error error;
    long messages = 0, answers = 0;
    sockbus_options_init(&options);
    options.path = path;
    options.name = "fuzzed";
    options.wait_for_broker = 1;
    options.max_reconnect_delay_ms = 40;
    options.handshake_timeout_ms = 300;
    options.ping_interval_ms = 300;
    options.ping_timeout_ms = 300;
    sockbus *bus = sockbus_new(&options, &error);
    if (!bus) return 1;
    sockbus_subscribe(bus, ">", NULL, on_message, &messages, NULL);
    sockbus_subscribe(bus, "app.*", "w", on_message, &messages, NULL);
    time_t end = time(NULL) + seconds;
    while (time(NULL) < end) {
        sockbus_run(bus, 20);
        sockbus_publish_int(bus, "fuzz.tick", 1, NULL, NULL);
        sockbus_request(bus, "time.now", NULL, 0, NULL, 0, 200, on_reply, &answers, NULL);
        sockbus_flush(bus, on_done, &answers, NULL);
        sockbus_stats(bus, on_stats, &answers, NULL);
    }
    sockbus_counters counters;
    sockbus_get_counters(bus, &counters);
    printf("survived: %ld messages, %ld answers, %llu reconnects, %llu dropped by the client\n", messages, answers,
           (unsigned long long)counters.reconnects, (unsigned long long)counters.dropped_by_client);
    sockbus_free(bus);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 4 && strcmp(argv[1], "decoder") == 0) {
        state = strtoull(argv[3], NULL, 10) * 2654435761u + 1;
        return fuzz_decoder(atol(argv[2]));
    }
    if (argc >= 4 && strcmp(argv[1], "socket") == 0) {
        state = (uint64_t)time(NULL);
        return fuzz_socket(argv[2], atoi(argv[3]));
    }
    fprintf(stderr, "usage: fuzz-client decoder ITERATIONS SEED | socket PATH SECONDS\n");
    return 2;
}
