/* Topics, patterns, queue group and header names: the rules of PROTOCOL.md §4, checked before sending. */
#include <string.h>
#include "internal.h"

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. Returns the code point length, 0 when invalid. */
static int decode_utf8(const uint8_t *bytes, size_t length, uint32_t *code_point) {
    uint8_t first = bytes[0];
    int count;
    uint32_t value, minimum;
    if (first < 0x80) { *code_point = first; return 1; }
    if (first >= 0xc2 && first <= 0xdf) { count = 2; value = first & 0x1f; minimum = 0x80; }
    else if (first >= 0xe0 && first <= 0xef) { count = 3; value = first & 0x0f; minimum = 0x800; }
    else if (first >= 0xf0 && first <= 0xf4) { count = 4; value = first & 0x07; minimum = 0x10000; }
    else return 0;
    if ((size_t)count > length) return 0;
    for (int index = 1; index < count; index++) {
        if ((bytes[index] & 0xc0) != 0x80) return 0;
        value = (value << 6) | (bytes[index] & 0x3f);
    }
    if (value < minimum || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return 0;
    *code_point = value;
    return count;
}

int sb_valid_utf8(const uint8_t *bytes, size_t length) {
    size_t offset = 0;
    while (offset < length) {
        uint32_t code_point;
        if (bytes[offset] < 0x80) { offset++; continue; }
        int count = decode_utf8(bytes + offset, length - offset, &code_point);
        if (count == 0) return 0;
        offset += (size_t)count;
    }
    return 1;
}

/* §4.1: the exact set of refused characters (invisible, space-like or reordering). */
static int refused(uint32_t c) {
    return c <= 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad || c == 0x61c || c == 0x1680 || c == 0x180e ||
           (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) ||
           c == 0x3000 || c == 0x3164 || c == 0xffa0 || c == 0xfeff || (c >= 0xfff0 && c <= 0xffff) ||
           (c >= 0xe0000 && c <= 0xe007f);
}

/* 0 when every character is valid UTF-8 and none is refused; else what is wrong. */
static const char *character_problem(const char *text, size_t length) {
    const uint8_t *bytes = (const uint8_t *)text;
    size_t offset = 0;
    while (offset < length) {
        uint32_t code_point;
        int count = decode_utf8(bytes + offset, length - offset, &code_point);
        if (count == 0) return "it is not valid UTF-8";
        if (refused(code_point)) return "it holds an invisible, space or control character";
        offset += (size_t)count;
    }
    return NULL;
}

static int name_problem(const char *name, size_t length, const sb_name_limits *limits, int pattern, sockbus_error *err) {
    const char *what = pattern ? "pattern" : "topic";
    const char *code = pattern ? "INVALID_PATTERN" : "INVALID_TOPIC";
    const char *problem;
    uint32_t tokens = 0, wildcards = 0;
    if (length == 0) return sb_fail(err, code, "invalid %s \"\": it is empty", what);
    if (length > limits->max_topic_bytes)
        return sb_fail(err, code, "invalid %s: %zu bytes is longer than the limit of %u bytes", what, length, limits->max_topic_bytes);
    if ((problem = character_problem(name, length)) != NULL) return sb_fail(err, code, "invalid %s: %s", what, problem);
    for (size_t start = 0; start <= length;) {
        const char *dot = memchr(name + start, '.', length - start);
        size_t end = dot ? (size_t)(dot - name) : length;
        size_t token_length = end - start;
        const char *token = name + start;
        tokens++;
        if (token_length == 0)
            return sb_fail(err, code, "invalid %s %.*s: empty token (two dots in a row, or a dot at either end)", what, (int)length, name);
        int has_wildcard = memchr(token, '*', token_length) != NULL || memchr(token, '>', token_length) != NULL;
        if (has_wildcard) {
            if (!pattern) return sb_fail(err, code, "invalid topic %.*s: wildcard \"%.*s\" is not allowed in a publish topic", (int)length, name, (int)token_length, token);
            if (token_length != 1)
                return sb_fail(err, code, "invalid pattern %.*s: a wildcard must be a whole token", (int)length, name);
            if (*token == '>' && end != length)
                return sb_fail(err, code, "invalid pattern %.*s: \">\" must be the last token", (int)length, name);
            if (*token == '*') wildcards++;
        }
        start = end + 1;
    }
    if (pattern && (tokens > limits->max_pattern_tokens || wildcards > limits->max_pattern_wildcards))
        return sb_fail(err, "PATTERN_TOO_COMPLEX", "pattern %.*s has %u tokens and %u \"*\" wildcards; at most %u and %u are allowed",
                       (int)length, name, tokens, wildcards, limits->max_pattern_tokens, limits->max_pattern_wildcards);
    return 0;
}

int sb_topic_problem(const char *topic, size_t length, const sb_name_limits *limits, sockbus_error *err) {
    if (name_problem(topic, length, limits, 0, err) < 0) return -1;
    if (length >= 5 && memcmp(topic, "$SYS.", 5) == 0)
        return sb_fail(err, "RESERVED_TOPIC", "%.*s is reserved for the broker", (int)length, topic);
    return 0;
}

int sb_pattern_problem(const char *pattern, size_t length, const sb_name_limits *limits, sockbus_error *err) {
    return name_problem(pattern, length, limits, 1, err);
}

int sb_queue_problem(const char *queue, sockbus_error *err) {
    size_t length = strlen(queue);
    const char *problem;
    if (length == 0 || length > 64) return sb_fail(err, "INVALID_QUEUE", "invalid queue group name: it must be 1 to 64 bytes, not %zu", length);
    if ((problem = character_problem(queue, length)) != NULL) return sb_fail(err, "INVALID_QUEUE", "invalid queue group name: %s", problem);
    return 0;
}

int sb_header_name_problem(const char *name, sockbus_error *err) {
    size_t length = strlen(name);
    const char *problem;
    if (length == 0 || length > 256) return sb_fail(err, "INVALID_DATA", "invalid header name: it must be 1 to 256 bytes, not %zu", length);
    if ((problem = character_problem(name, length)) != NULL) return sb_fail(err, "INVALID_DATA", "invalid header name: %s", problem);
    if (memchr(name, ':', length)) return sb_fail(err, "INVALID_DATA", "invalid header name %s: it holds \":\"", name);
    return 0;
}

/* §4.2, token by token; a leading wildcard never matches a topic whose first token starts with '$'. */
int sb_matches(const char *pattern, size_t pattern_length, const char *topic, size_t topic_length) {
    size_t p = 0, t = 0;
    int topic_left = topic_length > 0;
    if (pattern_length > 0 && (pattern[0] == '*' || pattern[0] == '>') && (pattern_length == 1 || pattern[1] == '.') &&
        topic_length > 0 && topic[0] == '$')
        return 0;
    for (;;) {
        const char *pattern_dot = memchr(pattern + p, '.', pattern_length - p);
        size_t pattern_end = pattern_dot ? (size_t)(pattern_dot - pattern) : pattern_length;
        size_t token_length = pattern_end - p;
        if (token_length == 1 && pattern[p] == '>') return topic_left;
        if (!topic_left) return 0;
        const char *topic_dot = memchr(topic + t, '.', topic_length - t);
        size_t topic_end = topic_dot ? (size_t)(topic_dot - topic) : topic_length;
        if (!(token_length == 1 && pattern[p] == '*') &&
            (token_length != topic_end - t || memcmp(pattern + p, topic + t, token_length) != 0))
            return 0;
        topic_left = topic_end != topic_length;
        if (pattern_end == pattern_length) return !topic_left;
        p = pattern_end + 1;
        if (topic_left) t = topic_end + 1;
    }
}

static const sb_name_limits default_limits = {256, 16, 3};

int sockbus_check_topic(const char *topic, sockbus_error *err) {
    return sb_topic_problem(topic, strlen(topic), &default_limits, err);
}

int sockbus_check_pattern(const char *pattern, sockbus_error *err) {
    return sb_pattern_problem(pattern, strlen(pattern), &default_limits, err);
}

int sockbus_pattern_matches(const char *pattern, const char *topic) {
    return sb_matches(pattern, strlen(pattern), topic, strlen(topic));
}
