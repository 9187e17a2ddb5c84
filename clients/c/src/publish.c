/* Publishing and answering: checked against the welcome's limits, then placed in the outbound buffer or the offline queue. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

sb_name_limits sb_limits_of(const sockbus *bus) {
    sb_name_limits limits = {bus->limits.max_topic_bytes, bus->limits.max_pattern_tokens, bus->limits.max_pattern_wildcards};
    return limits;
}

int sb_closed_error(const sockbus *bus, sockbus_error *err) {
    if (bus->state == SOCKBUS_CLOSED || bus->state == SOCKBUS_CLOSING) return sb_fail(err, "CLIENT_CLOSED", "the client is closed");
    return 0;
}

/* §4.4, with the welcome's bounds. */
int sb_check_headers(const sockbus *bus, const sockbus_header *headers, size_t count, sockbus_error *err) {
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

int sb_check_data(const void *data, size_t length, sockbus_error *err) {
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
int sb_place_frame(sockbus *bus, size_t start, int is_publish, uint32_t request_id, sockbus_error *err) {
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
    sb_name_limits limits = sb_limits_of(bus);
    const sockbus_header *headers = options ? options->headers : NULL;
    size_t header_count = options ? options->header_count : 0;
    if (sb_closed_error(bus, err) < 0) return -1;
    if (!topic) return sb_fail(err, "INVALID_TOPIC", "the topic is NULL");
    if (sb_topic_problem(topic, strlen(topic), &limits, err) < 0) return -1;
    /* In the broker's order (PROTOCOL.md §3.3): the data's strings, then the headers. */
    if (sb_check_data(data, length, err) < 0 || sb_check_headers(bus, headers, header_count, err) < 0) return -1;
    size_t start = bus->out.length;
    if (sb_encode_publish(&bus->out, topic, data, length, headers, header_count, options && options->retain, 0) < 0)
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    if (sb_place_frame(bus, start, 1, 0, err) < 0) return -1;
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

static int respond(sockbus *bus, const char *reply_to, const void *data, size_t length, const sockbus_header *headers, size_t header_count,
                   const char *code, const char *message, sockbus_error *err) {
    if (sb_closed_error(bus, err) < 0) return -1;
    if (!reply_to || !*reply_to) return sb_fail(err, "NOT_A_REQUEST", "the message is not a request: nobody awaits an answer");
    if (!sb_valid_utf8((const uint8_t *)reply_to, strlen(reply_to))) return sb_fail(err, "INVALID_REPLY_ADDRESS", "the reply address is not valid UTF-8");
    if (data && sb_check_data(data, length, err) < 0) return -1;
    if (sb_check_headers(bus, headers, header_count, err) < 0) return -1;
    if (message && (!sb_valid_utf8((const uint8_t *)message, strlen(message)) || (code && !sb_valid_utf8((const uint8_t *)code, strlen(code)))))
        return sb_fail(err, "INVALID_DATA", "the error's code and message must be valid UTF-8");
    size_t start = bus->out.length;
    if (sb_encode_respond(&bus->out, reply_to, data, length, headers, header_count, code, message) < 0)
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    return sb_place_frame(bus, start, 0, 0, err);
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

