/* The outbound buffer and the offline queue: bounded by their owners, which check before appending. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

/*
 * Appends only grow the buffer (realloc keeps offsets): callers hold
 * offsets into it while they encode a frame (where it starts, to patch its
 * length or take it back). Written bytes are dropped in sb_buffer_consume(),
 * which no encoder runs during.
 */
int sb_buffer_append(sb_buffer *buffer, const void *bytes, size_t length) {
    if (buffer->length + length > buffer->capacity) {
        size_t capacity = buffer->capacity ? buffer->capacity : 4096;
        while (capacity < buffer->length + length) capacity *= 2;
        uint8_t *data = realloc(buffer->data, capacity);
        if (!data) return -1;
        buffer->data = data;
        buffer->capacity = capacity;
    }
    if (length) memcpy(buffer->data + buffer->length, bytes, length);
    buffer->length += length;
    return 0;
}

void sb_buffer_consume(sb_buffer *buffer, size_t length) {
    buffer->start += length;
    if (buffer->start >= buffer->length) {
        buffer->start = buffer->length = 0;
        /* After a burst, do not keep megabytes for an idle connection. */
        if (buffer->capacity > 1024 * 1024) {
            free(buffer->data);
            buffer->data = NULL;
            buffer->capacity = 0;
        }
    } else if (buffer->start > 64 * 1024 && buffer->start > buffer->length / 2) {
        /* Most of the buffer is written: move the rest down rather than grow. */
        memmove(buffer->data, buffer->data + buffer->start, buffer->length - buffer->start);
        buffer->length -= buffer->start;
        buffer->start = 0;
    }
}

size_t sb_buffer_pending(const sb_buffer *buffer) {
    return buffer->length - buffer->start;
}

void sb_buffer_free(sb_buffer *buffer) {
    free(buffer->data);
    memset(buffer, 0, sizeof *buffer);
}

/* When full, the oldest give way to the newest, counted: the application hears how many. */
size_t sb_queue_push(sb_queue *queue, const uint8_t *frame, size_t length, uint32_t request_id) {
    size_t dropped = 0;
    if (length > queue->max_bytes || queue->max_count == 0) return 1;
    while (queue->head && (queue->count + 1 > queue->max_count || queue->bytes + length > queue->max_bytes)) {
        sb_queued *oldest = queue->head;
        queue->head = oldest->next;
        if (!queue->head) queue->tail = NULL;
        queue->count--;
        queue->bytes -= oldest->length;
        free(oldest);
        dropped++;
    }
    sb_queued *item = malloc(sizeof *item + length);
    if (!item) return dropped + 1;
    item->next = NULL;
    item->request_id = request_id;
    item->length = length;
    memcpy(item->frame, frame, length);
    if (queue->tail) queue->tail->next = item;
    else queue->head = item;
    queue->tail = item;
    queue->count++;
    queue->bytes += length;
    return dropped;
}

sb_queued *sb_queue_take_all(sb_queue *queue) {
    sb_queued *all = queue->head;
    queue->head = queue->tail = NULL;
    queue->count = queue->bytes = 0;
    return all;
}

void sb_queue_clear(sb_queue *queue) {
    sb_queued *item = sb_queue_take_all(queue);
    while (item) {
        sb_queued *next = item->next;
        free(item);
        item = next;
    }
}
