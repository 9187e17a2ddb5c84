/*
 * The conformance vectors (the JSON files in protocol/vectors/) through the library:
 * the vitest file turns each case into one line on stdin, this prints one
 * verdict line per case on stdout, and the test compares them.
 *
 *   topic HEX | pattern HEX | queue HEX | header HEX   ->  valid, or the error code
 *   match PATTERN-HEX TOPIC-HEX                         ->  1 or 0
 *   frame HEX                                           ->  KIND JSON of the body (broker frames: decoded, then printed)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#include "json.h"

static size_t from_hex(const char *hex, uint8_t *bytes, size_t capacity) {
    size_t length = 0;
    while (hex[0] && hex[1] && length < capacity) {
        unsigned value;
        if (sscanf(hex, "%2x", &value) != 1) break;
        bytes[length++] = (uint8_t)value;
        hex += 2;
    }
    return length;
}

int main(void) {
    /* "no complexity limits here: those are broker options" */
    static const sb_name_limits limits = {256, 1000, 1000};
    static char line[4 * 1024 * 1024];
    static uint8_t first[2 * 1024 * 1024], second[2 * 1024 * 1024];
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof line, stdin)) {
        char what[16], hex[2][sizeof line / 2];
        sockbus_error error;
        line[strcspn(line, "\n")] = '\0';
        hex[0][0] = hex[1][0] = '\0';
        if (sscanf(line, "%15s %s %s", what, hex[0], hex[1]) < 1) continue;
        if (strcmp(hex[0], "-") == 0) hex[0][0] = '\0';
        size_t length = from_hex(hex[0], first, sizeof first - 1);
        first[length] = '\0';
        int result = 0;
        if (strcmp(what, "topic") == 0) result = sb_topic_problem((char *)first, length, &limits, &error);
        else if (strcmp(what, "pattern") == 0) result = sb_pattern_problem((char *)first, length, &limits, &error);
        else if (strcmp(what, "queue") == 0) result = memchr(first, 0, length) ? sb_fail(&error, "INVALID_QUEUE", "NUL") : sb_queue_problem((char *)first, &error);
        else if (strcmp(what, "header") == 0) result = memchr(first, 0, length) ? sb_fail(&error, "INVALID_DATA", "NUL") : sb_header_name_problem((char *)first, &error);
        else if (strcmp(what, "match") == 0) {
            size_t topic_length = from_hex(hex[1], second, sizeof second);
            printf("%d\n", sb_matches((char *)first, length, (char *)second, topic_length));
            continue;
        } else if (strcmp(what, "frame") == 0) {
            sb_decoder decoder;
            const uint8_t *body;
            uint32_t body_length;
            sb_frame frame;
            sb_decoder_init(&decoder, 1049600);
            sb_decoder_push(&decoder, first, length);
            if (sb_decoder_next(&decoder, &body, &body_length, &error) != 1) printf("undecodable %s\n", error.message);
            else if (sb_decode(body, body_length, &frame, &error) < 0) printf("refused %s: %s\n", error.code, error.message);
            else {
                json_text text = {0};
                text.hex_binary = 1;
                json_append_value(&text, body, body_length);
                printf("%d %s\n", frame.kind, text.text);
                json_text_free(&text);
            }
            sb_decoder_free(&decoder);
            continue;
        } else {
            printf("unknown %s\n", what);
            continue;
        }
        printf("%s\n", result == 0 ? "valid" : error.code);
    }
    return 0;
}
