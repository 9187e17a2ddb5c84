#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"

/* ---- JSON to MessagePack ---- */

typedef struct {
    const char *at;
    int depth;
} parser;

static void skip_space(parser *state) {
    while (*state->at == ' ' || *state->at == '\t' || *state->at == '\n' || *state->at == '\r') state->at++;
}

static int hex4(const char *text, unsigned *value) {
    *value = 0;
    for (int index = 0; index < 4; index++) {
        char c = text[index];
        if (!isxdigit((unsigned char)c)) return -1;
        *value = *value * 16 + (unsigned)(isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10));
    }
    return 0;
}

static void put_utf8(json_text *out, unsigned code) {
    char bytes[4];
    size_t length;
    if (code < 0x80) { bytes[0] = (char)code; length = 1; }
    else if (code < 0x800) { bytes[0] = (char)(0xc0 | code >> 6); bytes[1] = (char)(0x80 | (code & 0x3f)); length = 2; }
    else if (code < 0x10000) { bytes[0] = (char)(0xe0 | code >> 12); bytes[1] = (char)(0x80 | ((code >> 6) & 0x3f)); bytes[2] = (char)(0x80 | (code & 0x3f)); length = 3; }
    else { bytes[0] = (char)(0xf0 | code >> 18); bytes[1] = (char)(0x80 | ((code >> 12) & 0x3f)); bytes[2] = (char)(0x80 | ((code >> 6) & 0x3f)); bytes[3] = (char)(0x80 | (code & 0x3f)); length = 4; }
    json_append(out, bytes, length);
}

/* A JSON string into out (unescaped UTF-8). */
static int parse_string(parser *state, json_text *out) {
    if (*state->at != '"') return -1;
    state->at++;
    for (;;) {
        unsigned char c = (unsigned char)*state->at;
        if (c == '\0' || c < 0x20) return -1;
        if (c == '"') { state->at++; return 0; }
        if (c != '\\') { json_append(out, state->at++, 1); continue; }
        state->at++;
        char escaped = *state->at++;
        switch (escaped) {
        case '"': json_append(out, "\"", 1); break;
        case '\\': json_append(out, "\\", 1); break;
        case '/': json_append(out, "/", 1); break;
        case 'b': json_append(out, "\b", 1); break;
        case 'f': json_append(out, "\f", 1); break;
        case 'n': json_append(out, "\n", 1); break;
        case 'r': json_append(out, "\r", 1); break;
        case 't': json_append(out, "\t", 1); break;
        case 'u': {
            unsigned code, low;
            if (hex4(state->at, &code) < 0) return -1;
            state->at += 4;
            if (code >= 0xd800 && code <= 0xdbff && state->at[0] == '\\' && state->at[1] == 'u' && hex4(state->at + 2, &low) == 0 &&
                low >= 0xdc00 && low <= 0xdfff) {
                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                state->at += 6;
            } else if (code >= 0xd800 && code <= 0xdfff) {
                code = 0xfffd; /* a lone surrogate has no UTF-8 form */
            }
            put_utf8(out, code);
            break;
        }
        default: return -1;
        }
    }
}

static int parse_value(parser *state, msgpack_packer *packer);

/* Values are parsed twice: first to check and count (packer NULL), then to pack. */
static int parse_value(parser *state, msgpack_packer *packer) {
    skip_space(state);
    if (++state->depth > 64) return -1;
    int result = -1;
    char c = *state->at;
    if (c == '{' || c == '[') {
        int object = c == '{';
        const char *start = state->at;
        uint32_t count = 0;
        /* Count the entries with a dry run, then pack for real. */
        for (int pass = 0; pass < 2; pass++) {
            msgpack_packer *target = pass ? packer : NULL;
            state->at = start + 1;
            if (pass && packer) {
                if (object) msgpack_pack_map(packer, count);
                else msgpack_pack_array(packer, count);
            }
            count = 0;
            skip_space(state);
            if (*state->at == (object ? '}' : ']')) {
                state->at++;
                result = 0;
                if (!packer) break;
                continue;
            }
            for (;;) {
                skip_space(state);
                if (object) {
                    json_text key = {0};
                    if (parse_string(state, &key) < 0) { json_text_free(&key); state->depth--; return -1; }
                    if (target) msgpack_pack_str_with_body(target, key.text ? key.text : "", key.length);
                    json_text_free(&key);
                    skip_space(state);
                    if (*state->at++ != ':') { state->depth--; return -1; }
                }
                if (parse_value(state, target) < 0) { state->depth--; return -1; }
                count++;
                skip_space(state);
                if (*state->at == ',') { state->at++; continue; }
                if (*state->at == (object ? '}' : ']')) { state->at++; break; }
                state->depth--;
                return -1;
            }
            result = 0;
            if (!packer) break;
        }
    } else if (c == '"') {
        json_text text = {0};
        result = parse_string(state, &text);
        if (result == 0 && packer) msgpack_pack_str_with_body(packer, text.text ? text.text : "", text.length);
        json_text_free(&text);
    } else if (strncmp(state->at, "true", 4) == 0) {
        state->at += 4; result = 0;
        if (packer) msgpack_pack_true(packer);
    } else if (strncmp(state->at, "false", 5) == 0) {
        state->at += 5; result = 0;
        if (packer) msgpack_pack_false(packer);
    } else if (strncmp(state->at, "null", 4) == 0) {
        state->at += 4; result = 0;
        if (packer) msgpack_pack_nil(packer);
    } else if (c == '-' || isdigit((unsigned char)c)) {
        /* JSON's grammar exactly: strtod alone would take "0x1", "inf" or "1." */
        const char *at = state->at;
        if (*at == '-') at++;
        if (*at == '0') at++;
        else if (isdigit((unsigned char)*at)) while (isdigit((unsigned char)*at)) at++;
        else { state->depth--; return -1; }
        if (*at == '.') { at++; if (!isdigit((unsigned char)*at)) { state->depth--; return -1; } while (isdigit((unsigned char)*at)) at++; }
        if (*at == 'e' || *at == 'E') {
            at++;
            if (*at == '+' || *at == '-') at++;
            if (!isdigit((unsigned char)*at)) { state->depth--; return -1; }
            while (isdigit((unsigned char)*at)) at++;
        }
        double value = strtod(state->at, NULL);
        state->at = at;
        result = 0;
        /* As JavaScript: a number with no fraction is an integer, packed as one while it is exact. */
        if (packer) {
            if (value == floor(value) && fabs(value) <= 9007199254740991.0) msgpack_pack_int64(packer, (int64_t)value);
            else msgpack_pack_double(packer, value);
        }
    }
    state->depth--;
    return result;
}

int json_pack(msgpack_packer *packer, const char *text) {
    parser state = {text, 0};
    if (parse_value(&state, NULL) < 0) return -1;
    skip_space(&state);
    if (*state.at != '\0') return -1;
    state.at = text;
    state.depth = 0;
    return parse_value(&state, packer);
}

void json_pack_data(msgpack_packer *packer, const char *text) {
    if (json_pack(packer, text) < 0) msgpack_pack_str_with_body(packer, text, strlen(text));
}

/* ---- MessagePack to JSON ---- */

void json_text_free(json_text *out) {
    free(out->text);
    memset(out, 0, sizeof *out);
}

void json_append(json_text *out, const char *text, size_t length) {
    if (out->length + length + 1 > out->capacity) {
        size_t capacity = out->capacity ? out->capacity : 256;
        while (capacity < out->length + length + 1) capacity *= 2;
        char *grown = realloc(out->text, capacity);
        if (!grown) abort();
        out->text = grown;
        out->capacity = capacity;
    }
    memcpy(out->text + out->length, text, length);
    out->length += length;
    out->text[out->length] = '\0';
}

static void append_format(json_text *out, const char *format, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void append_format(json_text *out, const char *format, ...) {
    char scratch[64];
    va_list arguments;
    va_start(arguments, format);
    int length = vsnprintf(scratch, sizeof scratch, format, arguments);
    va_end(arguments);
    if (length > 0) json_append(out, scratch, (size_t)length < sizeof scratch ? (size_t)length : sizeof scratch - 1);
}

/*
 * As JSON.stringify, then the CLI's escapeJson: controls, C1, bidi marks
 * and line separators as \u escapes, so the line is safe on a terminal.
 */
void json_append_string(json_text *out, const char *text, size_t length) {
    const unsigned char *bytes = (const unsigned char *)text;
    json_append(out, "\"", 1);
    for (size_t index = 0; index < length;) {
        unsigned char c = bytes[index];
        unsigned code = c;
        size_t count = 1;
        if (c >= 0xc0 && c < 0xe0 && index + 1 < length) { code = ((c & 0x1fu) << 6) | (bytes[index + 1] & 0x3fu); count = 2; }
        else if (c >= 0xe0 && c < 0xf0 && index + 2 < length) { code = ((c & 0x0fu) << 12) | ((bytes[index + 1] & 0x3fu) << 6) | (bytes[index + 2] & 0x3fu); count = 3; }
        else if (c >= 0xf0 && index + 3 < length) { code = 0x10000; count = 4; }
        if (code == '"') json_append(out, "\\\"", 2);
        else if (code == '\\') json_append(out, "\\\\", 2);
        else if (code == '\n') json_append(out, "\\n", 2);
        else if (code == '\r') json_append(out, "\\r", 2);
        else if (code == '\t') json_append(out, "\\t", 2);
        else if (code == '\b') json_append(out, "\\b", 2);
        else if (code == '\f') json_append(out, "\\f", 2);
        else if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code == 0x61c || code == 0x200e || code == 0x200f || code == 0x2028 ||
                 code == 0x2029 || (code >= 0x202a && code <= 0x202e) || (code >= 0x2066 && code <= 0x2069))
            append_format(out, "\\u%04x", code);
        else json_append(out, text + index, count);
        index += count;
    }
    json_append(out, "\"", 1);
}

/* A double as JavaScript's Number.prototype.toString prints it (shortest digits that read back the same). */
static void append_number(json_text *out, double value) {
    char digits[32], scratch[40];
    int exponent = 0, precision;
    if (!isfinite(value)) { json_append(out, "null", 4); return; }
    if (value == 0) { json_append(out, "0", 1); return; }
    if (value < 0) { json_append(out, "-", 1); value = -value; }
    for (precision = 1; precision <= 17; precision++) {
        snprintf(scratch, sizeof scratch, "%.*e", precision - 1, value);
        if (strtod(scratch, NULL) == value) break;
    }
    /* scratch: d.ddde[+-]xx */
    size_t count = 0;
    for (const char *at = scratch; *at && *at != 'e'; at++) if (isdigit((unsigned char)*at)) digits[count++] = *at;
    digits[count] = '\0';
    exponent = atoi(strchr(scratch, 'e') + 1);
    int n = exponent + 1, k = (int)count;
    if (k <= n && n <= 21) {
        json_append(out, digits, (size_t)k);
        for (int index = 0; index < n - k; index++) json_append(out, "0", 1);
    } else if (0 < n && n <= 21) {
        json_append(out, digits, (size_t)n);
        json_append(out, ".", 1);
        json_append(out, digits + n, (size_t)(k - n));
    } else if (-6 < n && n <= 0) {
        json_append(out, "0.", 2);
        for (int index = 0; index < -n; index++) json_append(out, "0", 1);
        json_append(out, digits, (size_t)k);
    } else {
        json_append(out, digits, 1);
        if (k > 1) { json_append(out, ".", 1); json_append(out, digits + 1, (size_t)(k - 1)); }
        append_format(out, "e%c%d", n - 1 >= 0 ? '+' : '-', abs(n - 1));
    }
}

static void append_base64(json_text *out, const uint8_t *bytes, size_t length) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t index = 0; index < length; index += 3) {
        uint32_t group = (uint32_t)bytes[index] << 16;
        if (index + 1 < length) group |= (uint32_t)bytes[index + 1] << 8;
        if (index + 2 < length) group |= bytes[index + 2];
        char quad[4] = {alphabet[group >> 18 & 63], alphabet[group >> 12 & 63], index + 1 < length ? alphabet[group >> 6 & 63] : '=',
                        index + 2 < length ? alphabet[group & 63] : '='};
        json_append(out, quad, 4);
    }
}

static void append_object(json_text *out, const msgpack_object *value);

static void append_hex(json_text *out, const char *bytes, size_t length) {
    for (size_t index = 0; index < length; index++) append_format(out, "%02x", (unsigned char)bytes[index]);
}

static void append_key(json_text *out, const msgpack_object *key) {
    if (key->type == MSGPACK_OBJECT_STR) { json_append_string(out, key->via.str.ptr, key->via.str.size); return; }
    /* A non-string key becomes its text, as JavaScript names an object's keys. */
    json_text text = {0};
    text.hex_binary = out->hex_binary;
    append_object(&text, key);
    json_append_string(out, text.text ? text.text : "", text.length);
    json_text_free(&text);
}

static void append_object(json_text *out, const msgpack_object *value) {
    switch (value->type) {
    case MSGPACK_OBJECT_NIL: json_append(out, "null", 4); break;
    case MSGPACK_OBJECT_BOOLEAN: value->via.boolean ? json_append(out, "true", 4) : json_append(out, "false", 5); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: append_format(out, "%llu", (unsigned long long)value->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: append_format(out, "%lld", (long long)value->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32: case MSGPACK_OBJECT_FLOAT64: append_number(out, value->via.f64); break;
    case MSGPACK_OBJECT_STR: json_append_string(out, value->via.str.ptr, value->via.str.size); break;
    case MSGPACK_OBJECT_BIN:
        if (out->hex_binary) {
            json_append(out, "{\"$bin\":\"", 9);
            append_hex(out, value->via.bin.ptr, value->via.bin.size);
            json_append(out, "\"}", 2);
            break;
        }
        json_append(out, "{\"$base64\":\"", 12);
        append_base64(out, (const uint8_t *)value->via.bin.ptr, value->via.bin.size);
        json_append(out, "\"}", 2);
        break;
    case MSGPACK_OBJECT_EXT:
        if (out->hex_binary) {
            append_format(out, "{\"$ext\":[%d,\"", value->via.ext.type);
            append_hex(out, value->via.ext.ptr, value->via.ext.size);
            json_append(out, "\"]}", 3);
            break;
        }
        append_format(out, "{\"$ext\":%d,\"$base64\":\"", value->via.ext.type);
        append_base64(out, (const uint8_t *)value->via.ext.ptr, value->via.ext.size);
        json_append(out, "\"}", 2);
        break;
    case MSGPACK_OBJECT_ARRAY:
        json_append(out, "[", 1);
        for (uint32_t index = 0; index < value->via.array.size; index++) {
            if (index) json_append(out, ",", 1);
            append_object(out, &value->via.array.ptr[index]);
        }
        json_append(out, "]", 1);
        break;
    case MSGPACK_OBJECT_MAP:
        json_append(out, "{", 1);
        for (uint32_t index = 0; index < value->via.map.size; index++) {
            if (index) json_append(out, ",", 1);
            append_key(out, &value->via.map.ptr[index].key);
            json_append(out, ":", 1);
            append_object(out, &value->via.map.ptr[index].val);
        }
        json_append(out, "}", 1);
        break;
    }
}

int json_append_value(json_text *out, const uint8_t *data, size_t length) {
    msgpack_zone zone;
    msgpack_object value;
    msgpack_zone_init(&zone, 4096);
    int result = sockbus_unpack(data, length, &zone, &value);
    if (result == 0) append_object(out, &value);
    else json_append(out, "null", 4);
    msgpack_zone_destroy(&zone);
    return result;
}

void json_append_headers(json_text *out, const sockbus_header *headers, size_t count) {
    json_append(out, "{", 1);
    for (size_t index = 0; index < count; index++) {
        if (index) json_append(out, ",", 1);
        json_append_string(out, headers[index].name, strlen(headers[index].name));
        json_append(out, ":", 1);
        json_append_string(out, headers[index].value, strlen(headers[index].value));
    }
    json_append(out, "}", 1);
}
