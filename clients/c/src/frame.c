/*
 * The incremental frame decoder (PROTOCOL.md §2). The socket is read
 * straight into its buffer. The length prefix is checked against
 * maxBrokerFrameBytes before the buffer grows for the body, so a peer
 * cannot make it hold more than one frame's limit; once a length is bad
 * the stream cannot be resynchronised and the decoder stays failed.
 */
#include <stdlib.h>
#include <string.h>
#include "internal.h"

#define INITIAL_CAPACITY (64 * 1024)

void sb_decoder_init(sb_decoder *decoder, uint32_t max_body) {
    memset(decoder, 0, sizeof *decoder);
    decoder->max_body = max_body;
}

void sb_decoder_free(sb_decoder *decoder) {
    free(decoder->buffer);
    memset(decoder, 0, sizeof *decoder);
}

void sb_decoder_reset(sb_decoder *decoder, uint32_t max_body) {
    decoder->used = decoder->start = 0;
    decoder->failed = 0;
    decoder->max_body = max_body;
}

static uint32_t announced_length(const uint8_t *bytes) {
    return ((uint32_t)bytes[0] << 24) | ((uint32_t)bytes[1] << 16) | ((uint32_t)bytes[2] << 8) | bytes[3];
}

static int resize(sb_decoder *decoder, size_t capacity) {
    uint8_t *buffer = realloc(decoder->buffer, capacity);
    if (!buffer) return -1;
    decoder->buffer = buffer;
    decoder->capacity = capacity;
    return 0;
}

uint8_t *sb_decoder_space(sb_decoder *decoder, size_t *room) {
    size_t unread = decoder->used - decoder->start;
    size_t wanted = INITIAL_CAPACITY;
    if (decoder->start > 0) {
        memmove(decoder->buffer, decoder->buffer + decoder->start, unread);
        decoder->used = unread;
        decoder->start = 0;
    }
    if (unread >= 4) {
        uint32_t length = announced_length(decoder->buffer);
        /* Grow for the body only once its length is known to be within the limit. */
        if (length > 0 && length <= decoder->max_body && (size_t)length + 4 > wanted) wanted = (size_t)length + 4;
    }
    if (wanted < unread + 1) wanted = unread + 1;
    if (decoder->capacity < wanted) {
        if (resize(decoder, wanted) < 0) return NULL;
    } else if (decoder->capacity > 4 * INITIAL_CAPACITY && wanted <= INITIAL_CAPACITY) {
        /* A large frame has gone: give its memory back rather than keep it for the connection's life. */
        if (resize(decoder, INITIAL_CAPACITY) < 0) return NULL;
    }
    *room = decoder->capacity - decoder->used;
    return decoder->buffer + decoder->used;
}

void sb_decoder_commit(sb_decoder *decoder, size_t bytes) {
    decoder->used += bytes;
}

int sb_decoder_next(sb_decoder *decoder, const uint8_t **body, uint32_t *length, sockbus_error *err) {
    size_t unread = decoder->used - decoder->start;
    if (decoder->failed) return sb_fail(err, "MALFORMED_FRAME", "the frame stream from the broker broke earlier");
    if (unread < 4) return 0;
    uint32_t announced = announced_length(decoder->buffer + decoder->start);
    if (announced == 0) {
        decoder->failed = 1;
        return sb_fail(err, "MALFORMED_FRAME", "the broker sent a frame of length 0");
    }
    if (announced > decoder->max_body) {
        decoder->failed = 1;
        return sb_fail(err, "MALFORMED_FRAME", "the broker announced a frame of %u bytes, more than its maxBrokerFrameBytes %u",
                       announced, decoder->max_body);
    }
    if (unread - 4 < announced) return 0;
    *body = decoder->buffer + decoder->start + 4;
    *length = announced;
    decoder->start += 4 + (size_t)announced;
    return 1;
}

int sb_decoder_push(sb_decoder *decoder, const uint8_t *bytes, size_t length) {
    while (length > 0) {
        size_t room;
        uint8_t *space = sb_decoder_space(decoder, &room);
        if (!space) return -1;
        if (room > length) room = length;
        memcpy(space, bytes, room);
        sb_decoder_commit(decoder, room);
        bytes += room;
        length -= room;
    }
    return 0;
}
