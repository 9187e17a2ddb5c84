/*
 * The event-loop recipe with plain poll(2): ask the client what to wait for
 * (sockbus_fd, sockbus_events, sockbus_timeout_ms), wait, hand it what
 * happened (sockbus_process). Any loop works the same way: add your own
 * descriptors to the same poll set.
 *
 *   example-poll [PATTERN]    prints the topic of each message, publishes a
 *                             tick every second on example.tick
 */
#include <poll.h>
#include <stdio.h>
#include <time.h>
#include "sockbus.h"

static void on_message(sockbus *bus, const sockbus_message *message, void *user_data) {
    printf("%s (%zu bytes of data)\n", message->topic, message->data_len);
    fflush(stdout);
}

static void on_status(sockbus *bus, sockbus_state state, const sockbus_error *error, void *user_data) {
    static const char *const names[] = {"connecting", "connected", "reconnecting", "closing", "closed"};
    fprintf(stderr, "example-poll: %s%s%s\n", names[state], error ? ": " : "", error ? error->message : "");
}

int main(int argc, char **argv) {
    sockbus_options options;
    sockbus_error error;
    sockbus_options_init(&options);
    options.name = "example-poll";
    options.wait_for_broker = 1;
    options.callbacks.status = on_status;
    sockbus *bus = sockbus_new(&options, &error);
    if (!bus) {
        fprintf(stderr, "example-poll: %s\n", error.message);
        return 1;
    }
    if (!sockbus_subscribe(bus, argc > 1 ? argv[1] : "example.>", NULL, on_message, NULL, &error)) {
        fprintf(stderr, "example-poll: %s\n", error.message);
        return 1;
    }
    time_t last_tick = time(NULL);
    int64_t ticks = 0;
    while (sockbus_get_state(bus) != SOCKBUS_CLOSED) {
        struct pollfd watched = {.fd = sockbus_fd(bus), .events = sockbus_events(bus)};
        int timeout = sockbus_timeout_ms(bus);
        if (timeout < 0 || timeout > 1000) timeout = 1000; /* our own timer: the tick */
        int ready = poll(&watched, watched.fd >= 0 ? 1 : 0, timeout);
        sockbus_process(bus, ready > 0 ? watched.revents : 0);
        if (time(NULL) != last_tick) {
            last_tick = time(NULL);
            sockbus_publish_int(bus, "example.tick", ++ticks, NULL, NULL);
        }
    }
    sockbus_free(bus);
    return 0;
}
