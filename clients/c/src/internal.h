/* Internal interfaces of libsockbus: each module's job in a few functions. */
#ifndef SOCKBUS_INTERNAL_H
#define SOCKBUS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "sockbus.h"

#define SB_HIDDEN __attribute__((visibility("hidden")))

/* ---- error.c ---- */
SB_HIDDEN int sb_fail(sockbus_error *err, const char *code, const char *format, ...) __attribute__((format(printf, 3, 4)));

/* ---- reader.c: a bounds-checked MessagePack reader over one buffer, no allocation ---- */
typedef enum {
    SB_MP_NIL, SB_MP_BOOL, SB_MP_UINT, SB_MP_INT, SB_MP_FLOAT, SB_MP_STR, SB_MP_BIN, SB_MP_ARRAY, SB_MP_MAP, SB_MP_EXT
} sb_mp_type;

typedef struct {
    sb_mp_type type;
    int boolean;
    uint64_t uint;    /* SB_MP_UINT */
    int64_t sint;     /* SB_MP_INT: negative values only */
    double real;
    const uint8_t *bytes; /* STR, BIN, EXT payload */
    uint32_t length;      /* STR/BIN/EXT bytes, ARRAY elements, MAP pairs */
    int8_t ext_type;
} sb_mp_item;

typedef struct {
    const uint8_t *data;
    size_t length;
    size_t offset;
} sb_reader;

SB_HIDDEN void sb_reader_init(sb_reader *reader, const uint8_t *data, size_t length);
/** Reads one item's header (containers: only their header). -1 on truncation or the reserved byte 0xc1. */
SB_HIDDEN int sb_read_item(sb_reader *reader, sb_mp_item *item);
/** Skips one whole value, nested ones included, iteratively (no recursion, any depth). utf8: also check every str. */
SB_HIDDEN int sb_skip_value(sb_reader *reader, int check_utf8);
/** A uint in 0..2^32-1 (any integer encoding, never a float), per PROTOCOL.md §3.0. */
SB_HIDDEN int sb_read_u32(sb_reader *reader, uint32_t *value);
SB_HIDDEN int sb_read_str(sb_reader *reader, const uint8_t **bytes, uint32_t *length);
/** 1 and advances if the next item is nil. */
SB_HIDDEN int sb_read_nil(sb_reader *reader);
/** Whether data holds exactly one well-formed value with valid UTF-8 strings. */
SB_HIDDEN int sb_valid_value(const uint8_t *data, size_t length, int check_utf8);

/* ---- names.c: PROTOCOL.md §4 ---- */
SB_HIDDEN int sb_valid_utf8(const uint8_t *bytes, size_t length);
typedef struct {
    uint32_t max_topic_bytes, max_pattern_tokens, max_pattern_wildcards;
} sb_name_limits;
SB_HIDDEN int sb_topic_problem(const char *topic, size_t length, const sb_name_limits *limits, sockbus_error *err);
SB_HIDDEN int sb_pattern_problem(const char *pattern, size_t length, const sb_name_limits *limits, sockbus_error *err);
SB_HIDDEN int sb_queue_problem(const char *queue, sockbus_error *err);
SB_HIDDEN int sb_header_name_problem(const char *name, sockbus_error *err);
SB_HIDDEN int sb_matches(const char *pattern, size_t pattern_length, const char *topic, size_t topic_length);

/* ---- frame.c: the incremental frame decoder ---- */
typedef struct {
    uint8_t *buffer;
    size_t capacity;
    size_t used;      /* bytes held: length prefix and body so far */
    size_t start;     /* where the unread bytes begin */
    uint32_t max_body;
    int failed;
} sb_decoder;

SB_HIDDEN void sb_decoder_init(sb_decoder *decoder, uint32_t max_body);
SB_HIDDEN void sb_decoder_free(sb_decoder *decoder);
SB_HIDDEN void sb_decoder_reset(sb_decoder *decoder, uint32_t max_body);
/** Where to read the next bytes into, and how many fit; grows the buffer within the limit. NULL when out of memory. */
SB_HIDDEN uint8_t *sb_decoder_space(sb_decoder *decoder, size_t *room);
SB_HIDDEN void sb_decoder_commit(sb_decoder *decoder, size_t bytes);
/** The next complete frame's body: 1 and sets body/length, 0 when none is complete, -1 on a bad length (err set). */
SB_HIDDEN int sb_decoder_next(sb_decoder *decoder, const uint8_t **body, uint32_t *length, sockbus_error *err);
/** Feeds bytes (tests and the fuzzer): copies them in. */
SB_HIDDEN int sb_decoder_push(sb_decoder *decoder, const uint8_t *bytes, size_t length);

/* ---- buffer.c: a growable byte buffer and the offline queue ---- */
typedef struct {
    uint8_t *data;
    size_t length;
    size_t capacity;
    size_t start; /* bytes before this were written already */
} sb_buffer;

SB_HIDDEN int sb_buffer_append(sb_buffer *buffer, const void *bytes, size_t length);
SB_HIDDEN void sb_buffer_consume(sb_buffer *buffer, size_t length);
SB_HIDDEN size_t sb_buffer_pending(const sb_buffer *buffer);
SB_HIDDEN void sb_buffer_free(sb_buffer *buffer);

typedef struct sb_queued {
    struct sb_queued *next;
    uint32_t request_id; /* a request's frame is sent only if the request still waits */
    size_t length;
    uint8_t frame[];
} sb_queued;

typedef struct {
    sb_queued *head, *tail;
    size_t count, bytes;
    size_t max_count, max_bytes;
} sb_queue;

/** Adds a whole frame; returns how many were dropped to make room (the new one included when it cannot fit). */
SB_HIDDEN size_t sb_queue_push(sb_queue *queue, const uint8_t *frame, size_t length, uint32_t request_id);
SB_HIDDEN sb_queued *sb_queue_take_all(sb_queue *queue);
SB_HIDDEN void sb_queue_clear(sb_queue *queue);

/* ---- encode.c: client frames, each a whole frame with its length prefix ---- */
SB_HIDDEN int sb_encode_hello(sb_buffer *out, const char *name, int no_echo);
SB_HIDDEN int sb_encode_publish(sb_buffer *out, const char *topic, const void *data, size_t length,
                                const sockbus_header *headers, size_t header_count, int retain, uint32_t request_id);
SB_HIDDEN int sb_encode_subscribe(sb_buffer *out, uint32_t id, const char *pattern, const char *queue);
SB_HIDDEN int sb_encode_unsubscribe(sb_buffer *out, uint32_t id);
SB_HIDDEN int sb_encode_token(sb_buffer *out, int kind, uint32_t token);
SB_HIDDEN int sb_encode_going_away(sb_buffer *out, const char *reason);
SB_HIDDEN int sb_encode_respond(sb_buffer *out, const char *reply_to, const void *data, size_t length,
                                const sockbus_header *headers, size_t header_count, const char *error_code, const char *error_message);
/** Bytes of the headers map as encoded (for maxHeaderBytes). */
SB_HIDDEN size_t sb_headers_encoded_size(const sockbus_header *headers, size_t count);

/* ---- decode.c: broker frames into plain structs pointing into the frame ---- */
typedef struct { const uint8_t *bytes; uint32_t length; } sb_span;

typedef struct {
    int kind;
    uint32_t id;         /* subscribed id, reply request id, ping/pong/stats token, dropped count */
    sb_span topic, data, headers, counters; /* headers: the map's bytes, or length 0 for nil */
    uint32_t header_count;
    /* info of a message */
    int has_sub; uint32_t sub;
    int retained;
    sb_span reply_to;
    /* sender */
    sockbus_sender sender;
    sb_span gateway;
    /* error frame, and the error of a reply */
    int has_error;
    sb_span code, message;
    int about_kind; int has_sub_about; uint32_t about_sub; int has_in_use; uint32_t in_use;
    sb_span about_topic;
    /* welcome */
    sockbus_limits welcome;
} sb_frame;

/** Decodes one broker frame body. -1 with err (MALFORMED_FRAME or INVALID_MESSAGE) when it does not follow PROTOCOL.md §3. */
SB_HIDDEN int sb_decode(const uint8_t *body, uint32_t length, sb_frame *frame, sockbus_error *err);

/* ---- trust.c ---- */
/** Resolves broker_uid (a uid or a name), else $SOCKBUS_BROKER_UID. *uid -1 when none. */
SB_HIDDEN int sb_resolve_broker_uid(const char *option, long *uid, int *from_environment, sockbus_error *err);
/** Checks who listens on fd (SO_PEERCRED): 0 trusted, -1 with UNTRUSTED_BROKER. */
SB_HIDDEN int sb_check_broker(int fd, const char *path, long extra_uid, int from_environment, sockbus_error *err);

/* ---- backoff.c ---- */
/** PROTOCOL.md §8: after the n-th failed attempt in a row (n from 0), uniformly in [b/2, b), b = min(cap, 20 * 2^n). */
SB_HIDDEN uint32_t sb_backoff_delay(uint32_t attempt, uint32_t cap_ms, uint64_t *random_state);
/** Uniform in [0, bound). */
SB_HIDDEN uint32_t sb_random_below(uint32_t bound, uint64_t *random_state);
SB_HIDDEN int64_t sb_now_ms(void);

#endif
