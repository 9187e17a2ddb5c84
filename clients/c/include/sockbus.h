/*
 * libsockbus: a C client for sockbus, the message bus for one machine.
 * It speaks PROTOCOL.md version 2.
 *
 * Threading: a client (struct sockbus) is not thread-safe. Use each client
 * from one thread at a time; different clients may live in different threads,
 * since the library has no global state. Callbacks run only inside
 * sockbus_process(), sockbus_run() and the *_sync() helpers, on the calling
 * thread, never from another call such as sockbus_publish().
 *
 * Errors: calls that can fail return 0 on success and -1 on failure, filling
 * the sockbus_error passed in (which may be NULL). error.code is one of the
 * codes in PROTOCOL.md §6 (wire codes and library codes), compared with
 * strcmp() or sockbus_error_is().
 *
 * Signals: the library never raises SIGPIPE (it writes with MSG_NOSIGNAL).
 */
#ifndef SOCKBUS_H
#define SOCKBUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <msgpack.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SOCKBUS_PROTOCOL_VERSION 2
#define SOCKBUS_VERSION "0.2.0"

typedef struct sockbus sockbus;

/** An error: a stable code (PROTOCOL.md §6) and a sentence for people. */
typedef struct sockbus_error {
    char code[32];
    char message[480];
} sockbus_error;

/** Whether err holds the given code. */
int sockbus_error_is(const sockbus_error *err, const char *code);

/** The client's one lifecycle state. */
typedef enum sockbus_state {
    SOCKBUS_CONNECTING = 0,   /* first connection not yet welcomed */
    SOCKBUS_CONNECTED = 1,    /* welcomed; frames flow */
    SOCKBUS_RECONNECTING = 2, /* lost the broker; waiting or dialling again */
    SOCKBUS_CLOSING = 3,      /* sockbus_close() was called; confirming and saying goodbye */
    SOCKBUS_CLOSED = 4        /* for good: after close, or when connecting gave up */
} sockbus_state;

/** Who dropped messages. */
typedef enum sockbus_drop_source {
    SOCKBUS_DROPPED_BY_BROKER = 0, /* a dropped notice (kind 11): the broker's buffer for us was full */
    SOCKBUS_DROPPED_BY_CLIENT = 1  /* this library: offline queue or outbound buffer full, undecodable frame */
} sockbus_drop_source;

/** One header, NUL-terminated name and value (PROTOCOL.md §4.4). A received value holding U+0000 reads as cut there. */
typedef struct sockbus_header {
    const char *name;
    const char *value;
} sockbus_header;

/** Who sent a message or a reply, as the kernel told the broker. */
typedef struct sockbus_sender {
    int known;           /* 0: the broker did not say (welcome senders: false) */
    uint32_t uid;
    int has_pid;         /* 0 where the platform cannot tell */
    uint32_t pid;
    const char *gateway; /* NULL, or e.g. "bridge" when it came through a gateway of the broker */
} sockbus_sender;

/**
 * A message delivered to a subscription. Every pointer is valid only during
 * the callback; copy what you keep. Strings are NUL-terminated; data is one
 * MessagePack value (unpack it with msgpack_unpack(), or sockbus_unpack()).
 */
typedef struct sockbus_message {
    const char *topic;
    const uint8_t *data;
    size_t data_len;
    const sockbus_header *headers; /* NULL when there were none */
    size_t header_count;
    int retained;                  /* a retained value replayed to a new subscription */
    uint32_t subscription;         /* the subscription it was handed to */
    const char *reply_to;          /* NULL unless it is a request: answer with sockbus_respond() */
    sockbus_sender sender;
} sockbus_message;

/** The answer to a request. Pointers valid during the callback only. */
typedef struct sockbus_reply {
    const uint8_t *data;
    size_t data_len;
    const sockbus_header *headers;
    size_t header_count;
    sockbus_sender sender;
} sockbus_reply;

typedef void (*sockbus_message_fn)(sockbus *bus, const sockbus_message *message, void *user_data);
/** reply is NULL when error is set (NO_RESPONDERS, REQUEST_TIMEOUT, CONNECTION_CLOSED, a responder's own code...). */
typedef void (*sockbus_reply_fn)(sockbus *bus, const sockbus_reply *reply, const sockbus_error *error, void *user_data);
/** error NULL: the broker has everything sent before the flush. */
typedef void (*sockbus_done_fn)(sockbus *bus, const sockbus_error *error, void *user_data);
/** counters: the stats map (PROTOCOL.md §3.11) as MessagePack bytes; NULL when error is set. */
typedef void (*sockbus_stats_fn)(sockbus *bus, const uint8_t *counters, size_t length, const sockbus_error *error, void *user_data);

/** Everything a client can be told besides messages. Any callback may be NULL. */
typedef struct sockbus_callbacks {
    /** The state changed; error says why for RECONNECTING and CLOSED (NULL after a clean close). */
    void (*status)(sockbus *bus, sockbus_state state, const sockbus_error *error, void *user_data);
    /** An error frame from the broker, or UNTRUSTED_BROKER on a reconnect. subscription: the subscription it ended, or 0. */
    void (*error)(sockbus *bus, const sockbus_error *error, uint32_t subscription, void *user_data);
    /** Messages lost, with who lost them and why. */
    void (*dropped)(sockbus *bus, sockbus_drop_source source, uint64_t count, const char *reason, void *user_data);
    /** A connection ended with count publishes the broker never confirmed: they may or may not have arrived. */
    void (*unconfirmed)(sockbus *bus, uint64_t count, void *user_data);
    /** The descriptor or the events to poll for changed (fd is -1 while there is no connection). */
    void (*watch)(sockbus *bus, int fd, short events, void *user_data);
} sockbus_callbacks;

/** Options of sockbus_new(). Initialise with sockbus_options_init(), then set what you need. */
typedef struct sockbus_options {
    const char *path;                 /* NULL: $SOCKBUS_SOCKET, else /tmp/sockbus.sock */
    const char *name;                 /* shown in the broker's stats; at most 256 bytes. Default "" */
    int no_echo;                      /* do not receive our own publishes. Default 0 */
    const char *broker_uid;           /* a user (name or uid) trusted to run the broker besides root and us. Default $SOCKBUS_BROKER_UID */
    int reconnect;                    /* reconnect when the broker goes away. Default 1 */
    int wait_for_broker;              /* keep trying when no broker answers the first time. Default 0 */
    uint32_t max_reconnect_delay_ms;  /* cap of the backoff (PROTOCOL.md §8). Default 2000 */
    uint32_t max_reconnect_attempts;  /* failed attempts in a row before giving up; 0: never give up. Default 0 */
    size_t offline_queue_messages;    /* publishes kept while disconnected. Default 10000 */
    size_t offline_queue_bytes;       /* bytes kept while disconnected. Default 8 MiB */
    size_t max_pending_bytes;         /* bytes that may wait for the socket while connected. Default 32 MiB */
    uint32_t request_timeout_ms;      /* default request timeout. Default 5000 */
    uint32_t handshake_timeout_ms;    /* how long the broker may take to welcome us. Default 5000 */
    uint32_t ping_interval_ms;        /* silence after which we ping the broker. Default 5000 */
    uint32_t ping_timeout_ms;         /* further silence before the broker is taken for hung. Default 5000 */
    sockbus_callbacks callbacks;
    void *user_data;                  /* passed to every callback in callbacks */
} sockbus_options;

void sockbus_options_init(sockbus_options *options);

/**
 * Creates a client and starts connecting (without blocking). Returns NULL
 * only for bad options (a broker_uid that names no user, a path too long),
 * or when memory runs out. Watch the status callback, or call
 * sockbus_connect_sync(), to learn when it is connected.
 */
sockbus *sockbus_new(const sockbus_options *options, sockbus_error *err);

/** Runs the client until it is connected (0) or gives up (-1, the reason in err), at most timeout_ms (-1: no limit). */
int sockbus_connect_sync(sockbus *bus, int timeout_ms, sockbus_error *err);

/**
 * Starts a clean close: confirms what was published, says goodbye, closes.
 * Returns at once; the state becomes SOCKBUS_CLOSED when done (run the loop).
 * Requests still waiting fail with CLIENT_CLOSED. May be called from a callback.
 */
void sockbus_close(sockbus *bus);
/** sockbus_close(), then runs the client until it is closed, at most timeout_ms. */
int sockbus_close_sync(sockbus *bus, int timeout_ms);
/** Frees the client, closing its connection at once if still open. Never from a callback. */
void sockbus_free(sockbus *bus);

sockbus_state sockbus_get_state(const sockbus *bus);
/** The path the client connects to, after resolution. */
const char *sockbus_path(const sockbus *bus);

/* ---- Event-loop integration ---- */

/** The descriptor to poll, or -1 while there is none (waiting before a reconnect). */
int sockbus_fd(const sockbus *bus);
/** The poll(2) events to wait for on sockbus_fd(): POLLIN, plus POLLOUT when output waits. */
short sockbus_events(const sockbus *bus);
/** Milliseconds until sockbus_process() must be called at the latest, even without events; -1: no deadline. */
int sockbus_timeout_ms(const sockbus *bus);
/** Does what is due: reads and writes per revents (poll(2) bits, 0 on a timeout), timers, reconnects. Calls callbacks. */
void sockbus_process(sockbus *bus, short revents);
/**
 * Blocking loop for command-line tools: polls and processes for up to
 * timeout_ms (-1: until closed or sockbus_break()). Returns 0 on time or
 * break, -1 once the client is closed.
 */
int sockbus_run(sockbus *bus, int timeout_ms);
/** Makes sockbus_run() (or a *_sync helper) return after the current callback. */
void sockbus_break(sockbus *bus);

/* ---- Publishing ---- */

typedef struct sockbus_publish_options {
    const sockbus_header *headers;
    size_t header_count;
    int retain; /* keep as the topic's retained value; publishing nil with retain clears it */
} sockbus_publish_options;

/**
 * Publishes one MessagePack value (data, length bytes: exactly one value,
 * strings valid UTF-8). Checks the topic, headers and size first
 * (INVALID_TOPIC, RESERVED_TOPIC, INVALID_DATA, HEADERS_TOO_LARGE,
 * FRAME_TOO_LARGE, CLIENT_CLOSED). While disconnected it is queued; when a
 * queue is full the oldest are dropped and reported (dropped callback).
 * options may be NULL.
 */
int sockbus_publish(sockbus *bus, const char *topic, const void *data, size_t length,
                    const sockbus_publish_options *options, sockbus_error *err);
/** Helpers: a str, an integer, a float, nil, or a value built with msgpack-c. */
int sockbus_publish_string(sockbus *bus, const char *topic, const char *text, const sockbus_publish_options *options, sockbus_error *err);
int sockbus_publish_int(sockbus *bus, const char *topic, int64_t value, const sockbus_publish_options *options, sockbus_error *err);
int sockbus_publish_double(sockbus *bus, const char *topic, double value, const sockbus_publish_options *options, sockbus_error *err);
int sockbus_publish_nil(sockbus *bus, const char *topic, const sockbus_publish_options *options, sockbus_error *err);
int sockbus_publish_object(sockbus *bus, const char *topic, const msgpack_object *value, const sockbus_publish_options *options, sockbus_error *err);

/* ---- Subscribing ---- */

/**
 * Subscribes to a pattern (`*` one token, `>` the rest, PROTOCOL.md §4).
 * queue: NULL, or a queue group to join. Returns the subscription's id
 * (> 0), or 0 with err set (INVALID_PATTERN, PATTERN_TOO_COMPLEX,
 * INVALID_QUEUE, TOO_MANY_SUBSCRIPTIONS). Messages reach handler only once
 * the broker has confirmed it; a refusal arrives through the error
 * callback with this id. Subscriptions are restored after a reconnect.
 */
uint32_t sockbus_subscribe(sockbus *bus, const char *pattern, const char *queue,
                           sockbus_message_fn handler, void *user_data, sockbus_error *err);
/** Stops a subscription; unknown ids are ignored. Safe inside its own handler. */
void sockbus_unsubscribe(sockbus *bus, uint32_t subscription);

/* ---- Requests ---- */

/**
 * Sends a request and calls on_reply exactly once: with the first reply, or
 * an error (NO_RESPONDERS, REQUEST_TIMEOUT, CONNECTION_CLOSED,
 * CLIENT_CLOSED, TOO_MANY_REQUESTS, a responder's code). timeout_ms 0: the
 * client's default. Returns 0, or -1 with err set when it could not even be
 * sent (then on_reply is not called).
 */
int sockbus_request(sockbus *bus, const char *topic, const void *data, size_t length,
                    const sockbus_header *headers, size_t header_count, uint32_t timeout_ms,
                    sockbus_reply_fn on_reply, void *user_data, sockbus_error *err);

/** A reply kept after its callback: sockbus_request_sync()'s answer. Free with sockbus_owned_reply_free(). */
typedef struct sockbus_owned_reply {
    uint8_t *data;
    size_t data_len;
    sockbus_header *headers;
    size_t header_count;
    sockbus_sender sender;
} sockbus_owned_reply;

/** Blocking request for simple programs: runs the client until the reply. Returns NULL with err set on failure. */
sockbus_owned_reply *sockbus_request_sync(sockbus *bus, const char *topic, const void *data, size_t length,
                                          const sockbus_header *headers, size_t header_count,
                                          uint32_t timeout_ms, sockbus_error *err);
void sockbus_owned_reply_free(sockbus_owned_reply *reply);

/** Answers a request (message->reply_to, which may be copied and used after the callback). */
int sockbus_respond(sockbus *bus, const char *reply_to, const void *data, size_t length,
                    const sockbus_header *headers, size_t header_count, sockbus_error *err);
/** Answers a request with an error: the requester gets code (NULL: REQUEST_FAILED) and message. */
int sockbus_respond_error(sockbus *bus, const char *reply_to, const char *code, const char *message,
                          const sockbus_header *headers, size_t header_count, sockbus_error *err);

/* ---- Flush and stats ---- */

/** Calls done once the broker has processed everything sent before this call (a ping). */
int sockbus_flush(sockbus *bus, sockbus_done_fn done, void *user_data, sockbus_error *err);
int sockbus_flush_sync(sockbus *bus, int timeout_ms, sockbus_error *err);
/** Asks for the broker's counters (PROTOCOL.md §3.11); the clients list is its "clients" key. */
int sockbus_stats(sockbus *bus, sockbus_stats_fn on_stats, void *user_data, sockbus_error *err);
/** Blocking stats: returns malloc'd MessagePack bytes of the counters map (free()), or NULL with err. */
uint8_t *sockbus_stats_sync(sockbus *bus, int timeout_ms, size_t *length, sockbus_error *err);
/** Finds key in a MessagePack map: points value and value_len at its value's bytes. 0 found, -1 not. */
int sockbus_map_find(const uint8_t *map, size_t length, const char *key, const uint8_t **value, size_t *value_len);

/* ---- What the client counted, and what the broker allows ---- */

typedef struct sockbus_counters {
    uint64_t published;
    uint64_t received;
    uint64_t dropped_by_broker;
    uint64_t dropped_by_client;
    uint64_t unconfirmed;
    uint64_t reconnects;
    uint64_t late_replies;
} sockbus_counters;

void sockbus_get_counters(const sockbus *bus, sockbus_counters *counters);

/** The limits of the last welcome (PROTOCOL.md §3.2), or the protocol's defaults before one. */
typedef struct sockbus_limits {
    uint32_t connection_id;
    int senders;
    uint32_t max_frame_bytes;
    uint32_t max_broker_frame_bytes;
    uint32_t max_topic_bytes;
    uint32_t max_pattern_tokens;
    uint32_t max_pattern_wildcards;
    uint32_t max_header_entries;
    uint32_t max_header_bytes;
    uint32_t max_subscriptions;
    uint32_t max_requests;
    uint32_t max_pending_bytes;
    uint32_t keepalive_ms;
    char server[64];
} sockbus_limits;

void sockbus_get_limits(const sockbus *bus, sockbus_limits *limits);

/* ---- Pure helpers (no client needed) ---- */

/** 0 when topic may be published on, else -1 with INVALID_TOPIC or RESERVED_TOPIC. */
int sockbus_check_topic(const char *topic, sockbus_error *err);
/** 0 when pattern is valid (default limits), else -1 with INVALID_PATTERN or PATTERN_TOO_COMPLEX. */
int sockbus_check_pattern(const char *pattern, sockbus_error *err);
/** 1 when the (valid) pattern matches the (valid) topic, by PROTOCOL.md §4.2. */
int sockbus_pattern_matches(const char *pattern, const char *topic);
/** Unpacks message data with msgpack-c into zone (the data was checked when it arrived). 0 or -1. */
int sockbus_unpack(const uint8_t *data, size_t length, msgpack_zone *zone, msgpack_object *object);

#ifdef __cplusplus
}
#endif
#endif
