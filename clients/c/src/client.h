/* The client's state, shared by client.c (connection and lifecycle), inbound.c (what the broker sends), and publish.c, subscriptions.c, requests.c, questions.c and blocking.c (what the application asks). */
#ifndef SOCKBUS_CLIENT_H
#define SOCKBUS_CLIENT_H

#include <sys/un.h>
#include "internal.h"

typedef struct sb_subscription {
    uint32_t id;
    char *pattern;
    size_t pattern_length;
    char *queue;
    sockbus_message_fn handler;
    void *user_data;
    int active;  /* its [16, id] arrived on this connection (PROTOCOL.md §3.7) */
    int removed; /* unsubscribed while messages were being dispatched; removed after */
} sb_subscription;

typedef struct sb_request {
    struct sb_request *next, *prev;   /* every pending request */
    struct sb_request *bucket_next;   /* by id */
    uint32_t id;
    int64_t deadline;
    uint32_t timeout_ms;
    char *topic;
    sockbus_reply_fn on_reply;
    void *user_data;
} sb_request;

typedef enum { SB_ASK_FLUSH, SB_ASK_CONFIRM, SB_ASK_STATS } sb_ask_kind;

/* A ping or stats request awaiting its answer (or, unsent, the next connection). */
typedef struct sb_question {
    struct sb_question *next;
    sb_ask_kind kind;
    int sent;
    uint32_t token;
    int64_t asked_at;
    uint64_t confirms; /* publishes sent before this ping */
    sockbus_done_fn done;
    sockbus_stats_fn stats;
    void *user_data;
} sb_question;

/* Where the current connection is; the public state is derived from it and from closing. */
typedef enum {
    SB_PHASE_IDLE,      /* no socket: waiting to dial */
    SB_PHASE_HANDSHAKE, /* hello sent, awaiting welcome */
    SB_PHASE_OPEN,      /* welcomed */
    SB_PHASE_ENDING,    /* closing on purpose: confirming, then goodbye, then waiting for the broker to close */
    SB_PHASE_DONE       /* closed for good */
} sb_phase;

#define SB_REQUEST_BUCKETS 256

struct sockbus {
    sockbus_options options;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    char *name;
    long extra_uid;
    int extra_uid_from_environment;

    sockbus_state state;
    sb_phase phase;
    int fd;
    short reported_events;
    int reported_fd;
    int ever_connected;
    uint32_t attempt;
    uint64_t random_state;
    int64_t retry_at;
    int64_t next_file_check;
    int file_seen;                 /* the socket file's identity at the failed attempt */
    unsigned long long file_device, file_inode;
    int jitter_scheduled;
    int64_t opened_at;
    int64_t handshake_deadline;
    int64_t last_heard;
    int heartbeat_pinged;
    int64_t end_deadline;
    int end_goodbye_sent;
    uint64_t connection_number;    /* increases on every connection lost: loops notice */
    sockbus_error close_reason;
    int has_close_reason;
    int close_reason_tentative; /* an error of a code we do not know: the reason only if the connection ends right after */

    sockbus_limits limits;
    sb_decoder decoder;
    sb_buffer out;
    sb_queue offline;

    sb_subscription *subscriptions; /* sorted by id */
    size_t subscription_count, subscription_capacity;
    uint32_t next_subscription_id;
    int dispatching;

    sb_request *requests;
    sb_request *request_buckets[SB_REQUEST_BUCKETS];
    size_t request_count;
    uint32_t next_request_id;

    sb_question *questions;
    uint32_t next_token;

    uint64_t publishes_sent, publishes_confirmed;
    int confirming;
    int64_t confirm_at;

    int in_process; /* inside sockbus_process: *_sync helpers and sockbus_run refuse */
    int break_requested;
    sockbus_counters counters;
};

/* connection.c */
SB_HIDDEN extern const sockbus_limits sb_default_limits;
SB_HIDDEN void sb_start_dial(sockbus *bus);
SB_HIDDEN void sb_close_socket(sockbus *bus);
SB_HIDDEN void sb_read_in(sockbus *bus);
SB_HIDDEN void sb_write_out(sockbus *bus);
SB_HIDDEN int sb_socket_file_identity(const char *path, unsigned long long *device, unsigned long long *inode);

/* client.c */
SB_HIDDEN void sb_notify_watch(sockbus *bus);
SB_HIDDEN void sb_lose_connection(sockbus *bus, const char *code, const char *format, ...) __attribute__((format(printf, 3, 4)));
SB_HIDDEN void sb_set_state(sockbus *bus, sockbus_state state, const sockbus_error *error);
SB_HIDDEN void sb_report_dropped(sockbus *bus, sockbus_drop_source source, uint64_t count, const char *reason);
SB_HIDDEN void sb_attach(sockbus *bus, const sb_frame *welcome);
SB_HIDDEN void sb_question_answered(sockbus *bus, uint32_t token, const sb_frame *frame);
SB_HIDDEN void sb_send_questions(sockbus *bus);
SB_HIDDEN void sb_finish_end(sockbus *bus);

/* inbound.c */
SB_HIDDEN void sb_handle_frame(sockbus *bus, const sb_frame *frame);

/* publish.c */
SB_HIDDEN sb_name_limits sb_limits_of(const sockbus *bus);
SB_HIDDEN int sb_closed_error(const sockbus *bus, sockbus_error *err);
SB_HIDDEN int sb_check_headers(const sockbus *bus, const sockbus_header *headers, size_t count, sockbus_error *err);
SB_HIDDEN int sb_check_data(const void *data, size_t length, sockbus_error *err);
SB_HIDDEN int sb_place_frame(sockbus *bus, size_t start, int is_publish, uint32_t request_id, sockbus_error *err);

/* subscriptions.c, requests.c, questions.c */
SB_HIDDEN sb_subscription *sb_find_subscription(sockbus *bus, uint32_t id);
SB_HIDDEN void sb_forget_subscription(sockbus *bus, uint32_t id);
SB_HIDDEN void sb_compact_subscriptions(sockbus *bus);
SB_HIDDEN sb_request *sb_take_request(sockbus *bus, uint32_t id);
SB_HIDDEN void sb_fail_requests(sockbus *bus, const char *code, const char *why);
SB_HIDDEN void sb_fail_questions(sockbus *bus, int sent_only, const char *code, const char *why);
SB_HIDDEN void sb_free_request(sb_request *request);

#endif
