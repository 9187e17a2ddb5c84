/* Requests awaiting replies: a list for timeouts and buckets by id for replies (PROTOCOL.md §3.12). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

/* ---- requests: a list for timeouts and buckets by id for replies ---- */

void sb_free_request(sb_request *request) {
    free(request->topic);
    free(request);
}

sb_request *sb_take_request(sockbus *bus, uint32_t id) {
    sb_request **link = &bus->request_buckets[id % SB_REQUEST_BUCKETS];
    while (*link && (*link)->id != id) link = &(*link)->bucket_next;
    sb_request *request = *link;
    if (!request) return NULL;
    *link = request->bucket_next;
    if (request->prev) request->prev->next = request->next;
    else bus->requests = request->next;
    if (request->next) request->next->prev = request->prev;
    bus->request_count--;
    return request;
}

void sb_fail_requests(sockbus *bus, const char *code, const char *why) {
    while (bus->requests) {
        sb_request *request = sb_take_request(bus, bus->requests->id);
        sockbus_error error;
        sb_fail(&error, code, "%s (request on %s)", why, request->topic);
        request->on_reply(bus, NULL, &error, request->user_data);
        sb_free_request(request);
    }
}

int sockbus_request(sockbus *bus, const char *topic, const void *data, size_t length, const sockbus_header *headers, size_t header_count,
                    uint32_t timeout_ms, sockbus_reply_fn on_reply, void *user_data, sockbus_error *err) {
    static const uint8_t nil = 0xc0;
    sb_name_limits limits = sb_limits_of(bus);
    if (sb_closed_error(bus, err) < 0) return -1;
    if (!on_reply) return sb_fail(err, "INVALID_DATA", "a request needs a reply callback");
    if (!topic) return sb_fail(err, "INVALID_TOPIC", "the topic is NULL");
    if (!data) {
        data = &nil;
        length = 1;
    }
    if (sb_topic_problem(topic, strlen(topic), &limits, err) < 0) return -1;
    /* In the broker's order (PROTOCOL.md §3.3): the data's strings, then the headers. */
    if (sb_check_data(data, length, err) < 0 || sb_check_headers(bus, headers, header_count, err) < 0) return -1;
    if (bus->request_count >= bus->limits.max_requests)
        return sb_fail(err, "TOO_MANY_REQUESTS", "%zu requests await a reply, the most the broker allows", bus->request_count);
    sb_request *request = calloc(1, sizeof *request);
    if (!request || !(request->topic = strdup(topic))) {
        free(request);
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    }
    /* Ids only grow, across reconnects too, so a late reply is never taken for another request's; 0 is skipped. */
    request->id = bus->next_request_id++;
    if (bus->next_request_id == 0) bus->next_request_id = 1;
    size_t start = bus->out.length;
    if (sb_encode_publish(&bus->out, topic, data, length, headers, header_count, 0, request->id) < 0) {
        sb_free_request(request);
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    }
    if (sb_place_frame(bus, start, 1, request->id, err) < 0) {
        sb_free_request(request);
        return -1;
    }
    request->timeout_ms = timeout_ms ? timeout_ms : bus->options.request_timeout_ms;
    request->deadline = sb_now_ms() + request->timeout_ms;
    request->on_reply = on_reply;
    request->user_data = user_data;
    request->next = bus->requests;
    if (bus->requests) bus->requests->prev = request;
    bus->requests = request;
    request->bucket_next = bus->request_buckets[request->id % SB_REQUEST_BUCKETS];
    bus->request_buckets[request->id % SB_REQUEST_BUCKETS] = request;
    bus->request_count++;
    bus->counters.published++;
    return 0;
}

