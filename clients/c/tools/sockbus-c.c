/*
 * sockbus-c: pub, sub, req, reply and stats from the command line, with the
 * output of `sockbus` (client/cli.ts): one JSON line per message
 * {"topic","data","headers"} (and "retained": true for a replayed value),
 * a reply as {"data","headers"}, errors as "sockbus-c: ..." on stderr.
 * An example of the library as much as a tool: it uses only sockbus.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "json.h"
#include "sockbus.h"

static const char usage[] =
    "Usage: sockbus-c <command> [options]\n"
    "\n"
    "Commands:\n"
    "  pub TOPIC [DATA]      publish DATA (JSON if it parses, else a string; none: null);\n"
    "                        DATA \"-\" publishes one message per line of standard input\n"
    "  sub PATTERN           print each message as one JSON line {\"topic\",\"data\",\"headers\"}\n"
    "  req TOPIC [DATA]      send a request, print the reply as {\"data\",\"headers\"}\n"
    "  reply PATTERN [DATA]  answer every request on PATTERN with DATA, printing each request\n"
    "  stats                 print the broker's counters as JSON\n"
    "  clients               print the clients connected to the broker as JSON\n"
    "\n"
    "Options:\n"
    "  --socket PATH         broker socket (default: $SOCKBUS_SOCKET, else /tmp/sockbus.sock)\n"
    "  --count N             pub: send N times; sub: exit after N messages; reply: after N answers\n"
    "  --header KEY=VALUE    pub, req: add a header (repeatable)\n"
    "  --retain              pub: keep as the topic's last value for later subscribers\n"
    "  --queue NAME          sub, reply: join queue group NAME\n"
    "  --timeout MS          req: how long to wait for the reply (default: 5000)\n"
    "  --name NAME           client name shown in the broker's stats\n"
    "  --broker-uid USER     trust a broker running as USER (name or uid) besides root and yourself\n"
    "  --no-echo             do not receive this client's own publishes\n"
    "  --sender              sub, reply: add \"sender\":{\"uid\",\"pid\"} to each line\n"
    "  -h, --help            show this help\n"
    "  -v, --version         show the version\n";

#define MAX_HEADERS 64

typedef struct {
    const char *command;
    const char *positional[2];
    int positional_count;
    long count;
    sockbus_header headers[MAX_HEADERS];
    size_t header_count;
    int retain, no_echo, sender;
    const char *queue;
    long timeout;
    const char *socket;
    const char *name;
    const char *broker_uid;
} arguments;

typedef struct {
    arguments *args;
    long received;
    int failed;
    int done;
    msgpack_sbuffer answer;
} run_state;

static volatile sig_atomic_t stop_requested;

static void on_signal(int signal_number) {
    (void)signal_number;
    stop_requested = 1;
}

static void usage_error(const char *message) {
    fprintf(stderr, "sockbus-c: %s\n\n%s", message, usage);
    exit(2);
}

/* What a peer wrote, made safe for a terminal line: controls as escapes (as the TS CLI's escapeControls). */
static void print_safe(FILE *stream, const char *text) {
    for (const unsigned char *at = (const unsigned char *)text; *at; at++) {
        if (*at == '\n') fputs("\\n", stream);
        else if (*at == '\r') fputs("\\r", stream);
        else if (*at == '\t') fputs("\\t", stream);
        else if (*at < 0x20 || *at == 0x7f) fprintf(stream, "\\x%02x", *at);
        else fputc(*at, stream);
    }
}

/* The library names its option broker_uid; on the command line it is --broker-uid, as `sockbus` says it. */
static void name_flags(char *text, size_t size) {
    static const char *const from[] = {"pass broker_uid ", "as broker_uid asks", "broker_uid \"", "broker_uid must"};
    static const char *const to[] = {"pass --broker-uid ", "as --broker-uid asks", "--broker-uid \"", "--broker-uid must"};
    for (size_t index = 0; index < sizeof from / sizeof *from; index++) {
        char *found = strstr(text, from[index]);
        size_t from_length = strlen(from[index]), to_length = strlen(to[index]);
        if (!found || strlen(text) + to_length - from_length >= size) continue;
        memmove(found + to_length, found + from_length, strlen(found + from_length) + 1);
        memcpy(found, to[index], to_length);
    }
}

static void say_error(const sockbus_error *error, int with_code) {
    char message[sizeof error->message + 64];
    snprintf(message, sizeof message, "%s", error->message);
    name_flags(message, sizeof message);
    fputs("sockbus-c: ", stderr);
    if (with_code) {
        print_safe(stderr, error->code);
        fputs(": ", stderr);
    }
    print_safe(stderr, message);
    fputc('\n', stderr);
}

static long positive(const char *flag, const char *text) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || value < 1) {
        char message[200];
        snprintf(message, sizeof message, "%s must be a positive integer, not \"%s\"", flag, text);
        usage_error(message);
    }
    return value;
}

static void parse(int argc, char **argv, arguments *args) {
    memset(args, 0, sizeof *args);
    for (int index = 1; index < argc; index++) {
        const char *arg = argv[index];
        const char *next = index + 1 < argc ? argv[index + 1] : NULL;
#define VALUE() (next ? (index++, next) : (usage_error("an option is missing its value"), ""))
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) { fputs(usage, stdout); exit(0); }
        else if (strcmp(arg, "-v") == 0 || strcmp(arg, "--version") == 0) { puts("sockbus-c " SOCKBUS_VERSION); exit(0); }
        else if (strcmp(arg, "--socket") == 0) args->socket = VALUE();
        else if (strcmp(arg, "--count") == 0) args->count = positive("--count", VALUE());
        else if (strcmp(arg, "--timeout") == 0) args->timeout = positive("--timeout", VALUE());
        else if (strcmp(arg, "--queue") == 0) args->queue = VALUE();
        else if (strcmp(arg, "--name") == 0) args->name = VALUE();
        else if (strcmp(arg, "--broker-uid") == 0) args->broker_uid = VALUE();
        else if (strcmp(arg, "--retain") == 0) args->retain = 1;
        else if (strcmp(arg, "--no-echo") == 0) args->no_echo = 1;
        else if (strcmp(arg, "--sender") == 0) args->sender = 1;
        else if (strcmp(arg, "--header") == 0) {
            char *pair = (char *)VALUE();
            char *separator = strchr(pair, '=');
            if (!separator || separator == pair) usage_error("--header must look like KEY=VALUE");
            if (args->header_count == MAX_HEADERS) usage_error("too many --header options");
            *separator = '\0';
            args->headers[args->header_count].name = pair;
            args->headers[args->header_count++].value = separator + 1;
        } else if (strncmp(arg, "--", 2) == 0) {
            char message[200];
            snprintf(message, sizeof message, "unknown option %s", arg);
            usage_error(message);
        } else if (!args->command) args->command = arg;
        else if (args->positional_count < 2) args->positional[args->positional_count++] = arg;
        else usage_error("too many arguments");
#undef VALUE
    }
    if (!args->command) usage_error("missing command");
}

static void on_status(sockbus *bus, sockbus_state state, const sockbus_error *error, void *user_data) {
    run_state *run = user_data;
    if (state == SOCKBUS_RECONNECTING && error) {
        fputs("sockbus-c: disconnected: ", stderr);
        print_safe(stderr, error->message);
        fputs("; reconnecting\n", stderr);
    } else if (state == SOCKBUS_CONNECTED && run->received >= 0) {
        sockbus_counters counters;
        sockbus_get_counters(bus, &counters);
        if (counters.reconnects > 0) fputs("sockbus-c: reconnected\n", stderr);
    } else if (state == SOCKBUS_CLOSED && error) {
        say_error(error, 0);
        run->failed = 1;
    }
}

static void on_error(sockbus *bus, const sockbus_error *error, uint32_t subscription, void *user_data) {
    run_state *run = user_data;
    say_error(error, 1);
    /* A refused publish fails pub; a subscriber fails only when its subscription ends (the broker refused or revoked it). */
    if (subscription || strcmp(run->args->command, "pub") == 0) run->failed = 1;
    if (subscription) sockbus_close(bus);
}

static void on_dropped(sockbus *bus, sockbus_drop_source source, uint64_t count, const char *reason, void *user_data) {
    fprintf(stderr, "sockbus-c: %llu message(s) dropped: %s\n", (unsigned long long)count, reason);
}

static void on_unconfirmed(sockbus *bus, uint64_t count, void *user_data) {
    fprintf(stderr, "sockbus-c: %llu publish(es) unconfirmed: the broker went away before confirming them\n", (unsigned long long)count);
}

static void append_sender(json_text *line, const sockbus_sender *sender) {
    char text[64];
    if (!sender->known) {
        json_append(line, ",\"sender\":null", 14);
        return;
    }
    if (sender->has_pid) snprintf(text, sizeof text, ",\"sender\":{\"uid\":%u,\"pid\":%u}", sender->uid, sender->pid);
    else snprintf(text, sizeof text, ",\"sender\":{\"uid\":%u,\"pid\":null}", sender->uid);
    json_append(line, text, strlen(text));
}

static void print_message(const sockbus_message *message, int with_sender) {
    json_text line = {0};
    json_append(&line, "{\"topic\":", 9);
    json_append_string(&line, message->topic, strlen(message->topic));
    json_append(&line, ",\"data\":", 8);
    json_append_value(&line, message->data, message->data_len);
    json_append(&line, ",\"headers\":", 11);
    json_append_headers(&line, message->headers, message->header_count);
    if (message->retained) json_append(&line, ",\"retained\":true", 16);
    if (with_sender) append_sender(&line, &message->sender);
    json_append(&line, "}\n", 2);
    fwrite(line.text, 1, line.length, stdout);
    fflush(stdout);
    json_text_free(&line);
}

static void on_message(sockbus *bus, const sockbus_message *message, void *user_data) {
    run_state *run = user_data;
    if (run->done) return;
    print_message(message, run->args->sender);
    if (run->args->count && ++run->received >= run->args->count) {
        run->done = 1;
        sockbus_break(bus);
    }
}

static void on_request(sockbus *bus, const sockbus_message *message, void *user_data) {
    run_state *run = user_data;
    sockbus_error error;
    if (run->done) return;
    print_message(message, run->args->sender);
    if (!message->reply_to) return;
    if (sockbus_respond(bus, message->reply_to, run->answer.data, run->answer.size, NULL, 0, &error) < 0) say_error(&error, 1);
    if (run->args->count && ++run->received >= run->args->count) {
        run->done = 1;
        sockbus_break(bus);
    }
}

static void pack_data(msgpack_sbuffer *buffer, const char *text) {
    msgpack_packer packer;
    msgpack_sbuffer_init(buffer);
    msgpack_packer_init(&packer, buffer, msgpack_sbuffer_write);
    if (text) json_pack_data(&packer, text);
    else msgpack_pack_nil(&packer);
}

static int publish_one(sockbus *bus, arguments *args, const char *text) {
    msgpack_sbuffer data;
    sockbus_error error;
    sockbus_publish_options options = {args->headers, args->header_count, args->retain};
    int result = 0;
    pack_data(&data, text);
    for (long sent = 0; sent < (args->count ? args->count : 1); sent++) {
        if (sockbus_publish(bus, args->positional[0], data.data, data.size, &options, &error) < 0) {
            say_error(&error, 0);
            result = -1;
            break;
        }
        /* Keep the outbound buffer bounded for large counts: let the loop write now and then. */
        if (sent % 1024 == 1023) sockbus_run(bus, 0);
    }
    msgpack_sbuffer_destroy(&data);
    return result;
}

static int command_pub(sockbus *bus, arguments *args, run_state *run) {
    sockbus_error error;
    if (args->positional_count < 1) usage_error("usage: sockbus-c pub TOPIC [DATA]");
    if (args->positional[1] && strcmp(args->positional[1], "-") == 0) {
        char *line = NULL;
        size_t capacity = 0;
        ssize_t length;
        while ((length = getline(&line, &capacity, stdin)) >= 0) {
            if (length > 0 && line[length - 1] == '\n') line[--length] = '\0';
            if (length > 0 && line[length - 1] == '\r') line[--length] = '\0';
            if (publish_one(bus, args, line) < 0) { free(line); return 1; }
            sockbus_run(bus, 0);
        }
        free(line);
    } else if (publish_one(bus, args, args->positional[1]) < 0) {
        return 1;
    }
    if (sockbus_flush_sync(bus, -1, &error) < 0) {
        say_error(&error, 0);
        return 1;
    }
    return run->failed ? 1 : 0;
}

static int command_sub(sockbus *bus, arguments *args, run_state *run, int answering) {
    sockbus_error error;
    if (args->positional_count < 1) usage_error(answering ? "usage: sockbus-c reply PATTERN [DATA]" : "usage: sockbus-c sub PATTERN");
    if (answering) pack_data(&run->answer, args->positional[1]);
    if (!sockbus_subscribe(bus, args->positional[0], args->queue, answering ? on_request : on_message, run, &error)) {
        say_error(&error, 0);
        return 1;
    }
    /* The broker has the subscription once a flush is through: say so, for scripts and tests that wait on it. */
    if (sockbus_flush_sync(bus, -1, &error) < 0) {
        say_error(&error, 0);
        return 1;
    }
    if (!run->failed) fprintf(stderr, "sockbus-c: subscribed to %s\n", args->positional[0]);
    while (!run->done && !stop_requested && sockbus_get_state(bus) != SOCKBUS_CLOSED) sockbus_run(bus, 200);
    if (answering) msgpack_sbuffer_destroy(&run->answer);
    if (run->done && sockbus_get_state(bus) != SOCKBUS_CLOSED) sockbus_flush_sync(bus, 5000, NULL); /* answers given are on their way */
    return run->failed ? 1 : 0;
}

static int command_req(sockbus *bus, arguments *args) {
    msgpack_sbuffer data;
    sockbus_error error;
    if (args->positional_count < 1) usage_error("usage: sockbus-c req TOPIC [DATA]");
    pack_data(&data, args->positional[1]);
    sockbus_owned_reply *reply = sockbus_request_sync(bus, args->positional[0], data.data, data.size, args->headers, args->header_count,
                                                      (uint32_t)(args->timeout ? args->timeout : 5000), &error);
    msgpack_sbuffer_destroy(&data);
    if (!reply) {
        say_error(&error, 0);
        return 1;
    }
    json_text line = {0};
    json_append(&line, "{\"data\":", 8);
    json_append_value(&line, reply->data, reply->data_len);
    json_append(&line, ",\"headers\":", 11);
    json_append_headers(&line, reply->headers, reply->header_count);
    json_append(&line, "}\n", 2);
    fwrite(line.text, 1, line.length, stdout);
    json_text_free(&line);
    sockbus_owned_reply_free(reply);
    return 0;
}

/* stats: the counters map; clients: its "clients" list (PROTOCOL.md §3.11). */
static int command_stats(sockbus *bus, int clients_only) {
    sockbus_error error;
    size_t length;
    uint8_t *counters = sockbus_stats_sync(bus, 10000, &length, &error);
    if (!counters) {
        say_error(&error, 0);
        return 1;
    }
    const uint8_t *shown = counters;
    size_t shown_length = length;
    if (clients_only && sockbus_map_find(counters, length, "clients", &shown, &shown_length) < 0) {
        static const uint8_t empty_list = 0x90;
        shown = &empty_list;
        shown_length = 1;
    }
    json_text line = {0};
    json_append_value(&line, shown, shown_length);
    json_append(&line, "\n", 1);
    fwrite(line.text, 1, line.length, stdout);
    json_text_free(&line);
    free(counters);
    return 0;
}

int main(int argc, char **argv) {
    arguments args;
    run_state run = {0};
    sockbus_options options;
    sockbus_error error;
    char name[300];
    parse(argc, argv, &args);
    run.args = &args;
    run.received = 0;
    int known = strcmp(args.command, "pub") == 0 || strcmp(args.command, "sub") == 0 || strcmp(args.command, "req") == 0 ||
                strcmp(args.command, "reply") == 0 || strcmp(args.command, "stats") == 0 || strcmp(args.command, "clients") == 0;
    if (!known) {
        char message[200];
        snprintf(message, sizeof message, "unknown command \"%s\"", args.command);
        usage_error(message);
    }
    /* Checked before connecting, so a typo is reported as such even with no broker. */
    if ((strcmp(args.command, "pub") == 0 || strcmp(args.command, "req") == 0) && args.positional_count > 0 &&
        sockbus_check_topic(args.positional[0], &error) < 0) {
        say_error(&error, 0);
        return 1;
    }
    if ((strcmp(args.command, "sub") == 0 || strcmp(args.command, "reply") == 0) && args.positional_count > 0 &&
        sockbus_check_pattern(args.positional[0], &error) < 0) {
        say_error(&error, 0);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    sockbus_options_init(&options);
    snprintf(name, sizeof name, "sockbus-c %s", args.command);
    options.path = args.socket;
    options.name = args.name ? args.name : name;
    options.broker_uid = args.broker_uid;
    options.no_echo = args.no_echo;
    options.callbacks.status = on_status;
    options.callbacks.error = on_error;
    options.callbacks.dropped = on_dropped;
    options.callbacks.unconfirmed = on_unconfirmed;
    options.user_data = &run;
    sockbus *bus = sockbus_new(&options, &error);
    if (!bus) {
        say_error(&error, 0);
        return 1;
    }
    if (sockbus_connect_sync(bus, -1, &error) < 0) {
        run.failed = 0; /* said by on_status already */
        sockbus_free(bus);
        return 1;
    }
    int status;
    if (strcmp(args.command, "pub") == 0) status = command_pub(bus, &args, &run);
    else if (strcmp(args.command, "sub") == 0) status = command_sub(bus, &args, &run, 0);
    else if (strcmp(args.command, "reply") == 0) status = command_sub(bus, &args, &run, 1);
    else if (strcmp(args.command, "req") == 0) status = command_req(bus, &args);
    else status = command_stats(bus, strcmp(args.command, "clients") == 0);
    sockbus_close_sync(bus, 5000);
    sockbus_free(bus);
    return status;
}
