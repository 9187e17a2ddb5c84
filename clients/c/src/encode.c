/* Client frames (PROTOCOL.md §3), packed with msgpack-c straight into the outbound buffer. */
#include <string.h>
#include "internal.h"

static int write_to_buffer(void *data, const char *bytes, size_t length) {
    return sb_buffer_append(data, bytes, length);
}

typedef struct {
    sb_buffer *out;
    size_t frame_start;
    msgpack_packer packer;
    int failed;
} frame_writer;

static void begin(frame_writer *writer, sb_buffer *out, uint32_t elements) {
    static const uint8_t placeholder[4] = {0, 0, 0, 0};
    writer->out = out;
    writer->frame_start = out->length;
    writer->failed = sb_buffer_append(out, placeholder, 4) < 0;
    msgpack_packer_init(&writer->packer, out, write_to_buffer);
    writer->failed |= msgpack_pack_array(&writer->packer, elements) != 0;
}

static void pack_text(frame_writer *writer, const char *text, size_t length) {
    writer->failed |= msgpack_pack_str(&writer->packer, length) != 0;
    writer->failed |= msgpack_pack_str_body(&writer->packer, text, length) != 0;
}

static void pack_cstring(frame_writer *writer, const char *text) {
    pack_text(writer, text, strlen(text));
}

static void pack_raw(frame_writer *writer, const void *bytes, size_t length) {
    writer->failed |= sb_buffer_append(writer->out, bytes, length) < 0;
}

static void pack_headers(frame_writer *writer, const sockbus_header *headers, size_t count) {
    writer->failed |= msgpack_pack_map(&writer->packer, count) != 0;
    for (size_t index = 0; index < count; index++) {
        pack_cstring(writer, headers[index].name);
        pack_cstring(writer, headers[index].value);
    }
}

/* Writes the body's length in front of it; on failure takes the partial frame back out. */
static int finish(frame_writer *writer) {
    if (writer->failed) {
        writer->out->length = writer->frame_start;
        return -1;
    }
    size_t body = writer->out->length - writer->frame_start - 4;
    uint8_t *prefix = writer->out->data + writer->frame_start;
    prefix[0] = (uint8_t)(body >> 24);
    prefix[1] = (uint8_t)(body >> 16);
    prefix[2] = (uint8_t)(body >> 8);
    prefix[3] = (uint8_t)body;
    return 0;
}

int sb_encode_hello(sb_buffer *out, const char *name, int no_echo) {
    frame_writer writer;
    begin(&writer, out, 2);
    msgpack_pack_int(&writer.packer, 1);
    msgpack_pack_map(&writer.packer, 1 + (name && *name) + (no_echo != 0));
    pack_cstring(&writer, "version");
    msgpack_pack_int(&writer.packer, SOCKBUS_PROTOCOL_VERSION);
    if (name && *name) {
        pack_cstring(&writer, "name");
        pack_cstring(&writer, name);
    }
    if (no_echo) {
        pack_cstring(&writer, "noEcho");
        msgpack_pack_true(&writer.packer);
    }
    return finish(&writer);
}

int sb_encode_publish(sb_buffer *out, const char *topic, const void *data, size_t length,
                      const sockbus_header *headers, size_t header_count, int retain, uint32_t request_id) {
    frame_writer writer;
    int has_options = retain || request_id != 0;
    begin(&writer, out, has_options ? 5 : header_count ? 4 : 3);
    msgpack_pack_int(&writer.packer, 3);
    pack_cstring(&writer, topic);
    pack_raw(&writer, data, length);
    if (header_count) pack_headers(&writer, headers, header_count);
    else if (has_options) msgpack_pack_nil(&writer.packer);
    if (has_options) {
        msgpack_pack_map(&writer.packer, 1);
        if (request_id) {
            pack_cstring(&writer, "request");
            msgpack_pack_uint32(&writer.packer, request_id);
        } else {
            pack_cstring(&writer, "retain");
            msgpack_pack_true(&writer.packer);
        }
    }
    return finish(&writer);
}

int sb_encode_subscribe(sb_buffer *out, uint32_t id, const char *pattern, const char *queue) {
    frame_writer writer;
    begin(&writer, out, queue ? 4 : 3);
    msgpack_pack_int(&writer.packer, 4);
    msgpack_pack_uint32(&writer.packer, id);
    pack_cstring(&writer, pattern);
    if (queue) {
        msgpack_pack_map(&writer.packer, 1);
        pack_cstring(&writer, "queue");
        pack_cstring(&writer, queue);
    }
    return finish(&writer);
}

int sb_encode_unsubscribe(sb_buffer *out, uint32_t id) {
    return sb_encode_token(out, 5, id);
}

int sb_encode_token(sb_buffer *out, int kind, uint32_t token) {
    frame_writer writer;
    begin(&writer, out, 2);
    msgpack_pack_int(&writer.packer, kind);
    msgpack_pack_uint32(&writer.packer, token);
    return finish(&writer);
}

int sb_encode_going_away(sb_buffer *out, const char *reason) {
    frame_writer writer;
    begin(&writer, out, 2);
    msgpack_pack_int(&writer.packer, 10);
    pack_cstring(&writer, reason);
    return finish(&writer);
}

int sb_encode_respond(sb_buffer *out, const char *reply_to, const void *data, size_t length,
                      const sockbus_header *headers, size_t header_count, const char *error_code, const char *error_message) {
    frame_writer writer;
    begin(&writer, out, 5);
    msgpack_pack_int(&writer.packer, 14);
    pack_cstring(&writer, reply_to);
    if (data) pack_raw(&writer, data, length);
    else msgpack_pack_nil(&writer.packer);
    if (header_count) pack_headers(&writer, headers, header_count);
    else msgpack_pack_nil(&writer.packer);
    if (error_message) {
        msgpack_pack_map(&writer.packer, 2);
        pack_cstring(&writer, "code");
        pack_cstring(&writer, error_code ? error_code : "REQUEST_FAILED");
        pack_cstring(&writer, "message");
        pack_cstring(&writer, error_message);
    } else {
        msgpack_pack_nil(&writer.packer);
    }
    return finish(&writer);
}

static size_t str_size(size_t length) {
    return length + (length < 32 ? 1 : length < 256 ? 2 : length < 65536 ? 3 : 5);
}

size_t sb_headers_encoded_size(const sockbus_header *headers, size_t count) {
    size_t size = count < 16 ? 1 : count < 65536 ? 3 : 5;
    for (size_t index = 0; index < count; index++)
        size += str_size(strlen(headers[index].name)) + str_size(strlen(headers[index].value));
    return size;
}
