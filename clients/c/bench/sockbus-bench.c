/*
 * sockbus-bench: the C publisher and subscriber of `npm run bench`
 * (bench/peers.ts runs it), so that the broker can be measured without the
 * Node clients' cost. It speaks to the orchestrator as bench/peer.ts does:
 * "ready" once connected (a subscriber: once its subscription is
 * confirmed), then it waits for "go" on standard input; one JSON
 * line with what it saw; then it stays until standard input ends, so that
 * the orchestrator can read its CPU time in /proc before it exits.
 *
 *   sockbus-bench publish --path P --topic T --count N --size BYTES [--rate PER_SECOND] [--flow-bytes BYTES]
 *   sockbus-bench subscribe --path P --topic T --expect N --idle-ms MS [--latency]
 *   sockbus-bench --version
 *
 * Payloads are MessagePack bin values of --size bytes, as the Node peers
 * send Buffers. --flow-bytes B (0: unbounded): every B payload bytes the
 * publisher starts a flush and waits for the one before it, so at most
 * about 2 B are unconfirmed. Paced publishes (--rate) carry their send time
 * (a little-endian double, milliseconds of CLOCK_REALTIME) in their first
 * eight bytes, which the subscriber reads with --latency.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "sockbus.h"

/* Publishes per turn of the loop before the socket gets written: the Node peers' batch. */
#define PUBLISH_BATCH 1000
/* A flush that takes longer than this means the run has failed. */
#define FLUSH_TIMEOUT_MS 60000

typedef struct {
    const char *path, *topic;
    long count, size, rate, flow_bytes, expect, idle_ms;
    int latency;
} arguments;

static void fail(const char *what, const sockbus_error *error) {
    fprintf(stderr, "sockbus-bench: %s%s%s\n", what, error ? ": " : "", error ? error->message : "");
    exit(1);
}

static double wall_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec * 1000.0 + (double)now.tv_nsec / 1e6;
}

static void on_dropped(sockbus *bus, sockbus_drop_source source, uint64_t count, const char *reason, void *user_data) {
    fprintf(stderr, "sockbus-bench: %llu messages dropped by the %s: %s\n", (unsigned long long)count,
            source == SOCKBUS_DROPPED_BY_CLIENT ? "client" : "broker", reason);
}

static sockbus *connect_bus(const arguments *args, const char *name) {
    sockbus_options options;
    sockbus_error error;
    sockbus_options_init(&options);
    options.path = args->path;
    options.name = name;
    options.no_echo = 1;
    options.reconnect = 0; /* a lost connection fails the run rather than hiding in a reconnect */
    options.max_pending_bytes = 512u * 1024 * 1024; /* as the Node peers: the unbounded mode must not drop */
    options.callbacks.dropped = on_dropped;
    sockbus *bus = sockbus_new(&options, &error);
    if (!bus || sockbus_connect_sync(bus, 10000, &error) < 0) fail("cannot connect", &error);
    return bus;
}

/*
 * One turn of the loop: waits at most timeout_ms (capped by the client's own
 * deadline) for the broker, and for standard input when watch_input is set.
 * Returns 1 when standard input is readable or has ended.
 */
static int pump(sockbus *bus, int timeout_ms, int watch_input) {
    int deadline = sockbus_timeout_ms(bus);
    if (deadline >= 0 && (timeout_ms < 0 || deadline < timeout_ms)) timeout_ms = deadline;
    struct pollfd watched[2] = {{.fd = sockbus_fd(bus), .events = sockbus_events(bus)}, {.fd = STDIN_FILENO, .events = POLLIN}};
    int ready = poll(watched, watch_input ? 2 : 1, timeout_ms);
    if (ready < 0 && errno != EINTR) fail("poll failed", NULL);
    sockbus_process(bus, ready > 0 ? watched[0].revents : 0);
    if (sockbus_get_state(bus) == SOCKBUS_CLOSED) fail("the connection to the broker was lost", NULL);
    return watch_input && ready > 0 && watched[1].revents != 0;
}

/* Reads standard input until it holds "go" (returns 1) or ends (returns 0), running the client meanwhile. */
static int wait_for_input(sockbus *bus, const char *word) {
    char seen[256];
    size_t length = 0;
    for (;;) {
        if (!pump(bus, -1, 1)) continue;
        ssize_t got = read(STDIN_FILENO, seen + length, sizeof seen - 1 - length);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        length += (size_t)got;
        seen[length] = '\0';
        if (word && strstr(seen, word)) return 1;
        if (length == sizeof seen - 1) length = 0;
    }
}

static void say(const char *line) {
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* ---- publishing ---- */

typedef struct {
    int done;
    sockbus_error error;
    int failed;
} flush_wait;

static void on_flushed(sockbus *bus, const sockbus_error *error, void *user_data) {
    flush_wait *wait = user_data;
    wait->done = 1;
    if (error) {
        wait->failed = 1;
        wait->error = *error;
    }
}

static void await_flush(sockbus *bus, flush_wait *wait) {
    double deadline = wall_ms() + FLUSH_TIMEOUT_MS;
    while (!wait->done) {
        if (wall_ms() > deadline) fail("a flush was not confirmed within 60 s", NULL);
        pump(bus, 100, 0);
    }
    if (wait->failed) fail("a flush failed", &wait->error);
}

typedef struct {
    sockbus *bus;
    long flow_bytes;
    long unflushed;
    flush_wait waits[2];
    int current; /* the slot of the flush in flight, or -1 */
} flow_control;

/* Counts a publish; every flow_bytes, starts a flush and waits for the one before it. */
static void flow_account(flow_control *flow, long bytes) {
    if (flow->flow_bytes <= 0) return;
    flow->unflushed += bytes;
    if (flow->unflushed < flow->flow_bytes) return;
    flow->unflushed = 0;
    int previous = flow->current;
    int next = previous == 0 ? 1 : 0;
    sockbus_error error;
    memset(&flow->waits[next], 0, sizeof flow->waits[next]);
    if (sockbus_flush(flow->bus, on_flushed, &flow->waits[next], &error) < 0) fail("cannot flush", &error);
    flow->current = next;
    if (previous >= 0) await_flush(flow->bus, &flow->waits[previous]);
}

static size_t bin_header(uint8_t *out, size_t size) {
    if (size < 256) {
        out[0] = 0xc4, out[1] = (uint8_t)size;
        return 2;
    }
    if (size < 65536) {
        out[0] = 0xc5, out[1] = (uint8_t)(size >> 8), out[2] = (uint8_t)size;
        return 3;
    }
    out[0] = 0xc6, out[1] = (uint8_t)(size >> 24), out[2] = (uint8_t)(size >> 16), out[3] = (uint8_t)(size >> 8), out[4] = (uint8_t)size;
    return 5;
}

static void publish_one(sockbus *bus, const arguments *args, const uint8_t *data, size_t length) {
    sockbus_error error;
    if (sockbus_publish(bus, args->topic, data, length, NULL, &error) < 0) fail("cannot publish", &error);
}

static int publish(const arguments *args) {
    sockbus *bus = connect_bus(args, "bench-publisher");
    uint8_t *data = malloc((size_t)args->size + 5);
    if (!data) fail("out of memory", NULL);
    size_t header = bin_header(data, (size_t)args->size);
    memset(data + header, 0x61, (size_t)args->size);
    size_t length = header + (size_t)args->size;
    flow_control flow = {.bus = bus, .flow_bytes = args->flow_bytes, .current = -1};

    say("ready");
    if (!wait_for_input(bus, "go")) return 1;
    long sent = 0;
    if (args->rate > 0) {
        /* Paced: each message carries its send time, so the subscriber can measure latency. */
        double started = wall_ms();
        while (sent < args->count) {
            long due = (long)((wall_ms() - started) / 1000.0 * (double)args->rate);
            if (due > args->count) due = args->count;
            for (; sent < due; sent++) {
                double at = wall_ms();
                if (args->size >= 8) memcpy(data + header, &at, sizeof at); /* little-endian on every target we build for */
                publish_one(bus, args, data, length);
                flow_account(&flow, args->size);
            }
            pump(bus, 1, 0);
        }
    } else {
        /* As fast as the client takes them, writing to the socket after every batch. */
        while (sent < args->count) {
            long end = sent + PUBLISH_BATCH < args->count ? sent + PUBLISH_BATCH : args->count;
            for (; sent < end; sent++) {
                publish_one(bus, args, data, length);
                flow_account(&flow, args->size);
            }
            pump(bus, 0, 0);
        }
    }
    /* A flush with its callback, waited for by this program's own loop, which also watches standard input. */
    flush_wait last = {0};
    sockbus_error error;
    if (sockbus_flush(bus, on_flushed, &last, &error) < 0) fail("cannot flush", &error);
    await_flush(bus, &last);
    char line[64];
    snprintf(line, sizeof line, "{\"published\":%ld}", sent);
    say(line);
    wait_for_input(bus, NULL);
    sockbus_close_sync(bus, 5000);
    sockbus_free(bus);
    free(data);
    return 0;
}

/* ---- subscribing ---- */

typedef struct {
    const arguments *args;
    long received;
    double first_at, last_at;
    double *latencies;
    long latency_count;
} subscriber;

static void on_message(sockbus *bus, const sockbus_message *message, void *user_data) {
    subscriber *state = user_data;
    double at = wall_ms();
    if (state->received == 0) state->first_at = at;
    state->last_at = at;
    state->received++;
    if (state->latencies && state->latency_count < state->args->expect && message->data_len > 0) {
        /* Skip the bin header (0xc4, 0xc5, 0xc6: 1, 2 or 4 length bytes) to the send time. */
        const uint8_t *data = message->data;
        size_t skip = data[0] == 0xc4 ? 2 : data[0] == 0xc5 ? 3 : data[0] == 0xc6 ? 5 : 0;
        double sent_at;
        if (skip && message->data_len >= skip + sizeof sent_at) {
            memcpy(&sent_at, data + skip, sizeof sent_at);
            if (sent_at > 1e12) state->latencies[state->latency_count++] = (at - sent_at) * 1000.0;
        }
    }
    if (state->received >= state->args->expect) sockbus_break(bus);
}

static int compare_doubles(const void *left, const void *right) {
    double a = *(const double *)left, b = *(const double *)right;
    return a < b ? -1 : a > b;
}

static long percentile(const subscriber *state, double fraction) {
    long index = (long)((double)state->latency_count * fraction);
    if (index > state->latency_count - 1) index = state->latency_count - 1;
    return (long)(state->latencies[index] + 0.5);
}

static int subscribe(const arguments *args) {
    sockbus *bus = connect_bus(args, "bench-subscriber");
    subscriber state = {.args = args};
    sockbus_error error;
    if (args->latency && !(state.latencies = malloc(sizeof(double) * (size_t)(args->expect > 0 ? args->expect : 1))))
        fail("out of memory", NULL);
    if (!sockbus_subscribe(bus, args->topic, NULL, on_message, &state, &error)) fail("cannot subscribe", &error);
    /* The subscription's confirmation comes before the flush's answer. */
    if (sockbus_flush_sync(bus, 10000, &error) < 0) fail("the subscription was not confirmed", &error);
    say("ready");
    /* The idle limit counts from the go: publishers may take seconds to start on a busy machine. */
    if (!wait_for_input(bus, "go")) return 1;
    double quiet_since = wall_ms();
    long seen = 0;
    /* Ends with every expected message, or after idle_ms without one (a run that loses some still ends). */
    while (state.received < args->expect) {
        pump(bus, 50, 0);
        if (state.received != seen) {
            seen = state.received;
            quiet_since = wall_ms();
        } else if (wall_ms() - quiet_since >= (double)args->idle_ms) {
            break;
        }
    }
    char latency[128] = "null";
    if (state.latency_count > 0) {
        qsort(state.latencies, (size_t)state.latency_count, sizeof(double), compare_doubles);
        snprintf(latency, sizeof latency, "{\"p50\":%ld,\"p99\":%ld,\"max\":%ld}", percentile(&state, 0.5), percentile(&state, 0.99),
                 (long)(state.latencies[state.latency_count - 1] + 0.5));
    }
    char line[256];
    snprintf(line, sizeof line, "{\"received\":%ld,\"firstAt\":%.3f,\"lastAt\":%.3f,\"latencyMicros\":%s}", state.received, state.first_at,
             state.last_at, latency);
    say(line);
    wait_for_input(bus, NULL);
    sockbus_close_sync(bus, 5000);
    sockbus_free(bus);
    free(state.latencies);
    return 0;
}

/* ---- the command line ---- */

static long number(const char *name, const char *text) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || value < 0) {
        fprintf(stderr, "sockbus-bench: %s wants a number, not %s\n", name, text);
        exit(2);
    }
    return value;
}

int main(int argc, char **argv) {
    arguments args = {.idle_ms = 2000};
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        puts("libsockbus " SOCKBUS_VERSION);
        return 0;
    }
    if (argc < 2) {
        fputs("Usage: sockbus-bench publish|subscribe --path P --topic T [options] (see the source's first comment)\n", stderr);
        return 2;
    }
    for (int index = 2; index < argc; index++) {
        const char *name = argv[index];
        if (strcmp(name, "--latency") == 0) {
            args.latency = 1;
            continue;
        }
        if (index + 1 >= argc) {
            fprintf(stderr, "sockbus-bench: %s wants a value\n", name);
            return 2;
        }
        const char *value = argv[++index];
        if (strcmp(name, "--path") == 0) args.path = value;
        else if (strcmp(name, "--topic") == 0) args.topic = value;
        else if (strcmp(name, "--count") == 0) args.count = number(name, value);
        else if (strcmp(name, "--size") == 0) args.size = number(name, value);
        else if (strcmp(name, "--rate") == 0) args.rate = number(name, value);
        else if (strcmp(name, "--flow-bytes") == 0) args.flow_bytes = number(name, value);
        else if (strcmp(name, "--expect") == 0) args.expect = number(name, value);
        else if (strcmp(name, "--idle-ms") == 0) args.idle_ms = number(name, value);
        else {
            fprintf(stderr, "sockbus-bench: unknown option %s\n", name);
            return 2;
        }
    }
    if (!args.path || !args.topic) {
        fputs("sockbus-bench: --path and --topic are required\n", stderr);
        return 2;
    }
    if (strcmp(argv[1], "publish") == 0) return publish(&args);
    if (strcmp(argv[1], "subscribe") == 0) return subscribe(&args);
    fprintf(stderr, "sockbus-bench: unknown command %s\n", argv[1]);
    return 2;
}
