/*
 * example-glib [--socket PATH] PATTERN [COUNT]: a GLib main loop that prints
 * each message on PATTERN as "TOPIC DATA-BYTES", publishes glib.tick every
 * second, and quits after COUNT messages. The sockbus part is the ten lines
 * between "sockbus:" comments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sockbus-source.h"

typedef struct {
    GMainLoop *loop;
    long wanted, received;
    sockbus *bus;
} app;

static void on_message(sockbus *bus, const sockbus_message *message, void *user_data) {
    app *self = user_data;
    printf("%s %zu\n", message->topic, message->data_len);
    fflush(stdout);
    if (self->wanted && ++self->received >= self->wanted) g_main_loop_quit(self->loop);
}

static void on_subscribed(sockbus *bus, const sockbus_error *error, void *user_data) {
    fprintf(stderr, error ? "example-glib: %s\n" : "example-glib: subscribed\n", error ? error->message : "");
}

static gboolean tick(gpointer user_data) {
    app *self = user_data;
    sockbus_publish_string(self->bus, "glib.tick", "tick", NULL, NULL);
    return G_SOURCE_CONTINUE;
}

int main(int argc, char **argv) {
    app self = {0};
    sockbus_options options;
    sockbus_error error;
    int first = 1;
    sockbus_options_init(&options);
    if (argc > 2 && strcmp(argv[1], "--socket") == 0) {
        options.path = argv[2];
        first = 3;
    }
    if (argc <= first) {
        fprintf(stderr, "usage: example-glib [--socket PATH] PATTERN [COUNT]\n");
        return 2;
    }
    self.wanted = argc > first + 1 ? atol(argv[first + 1]) : 0;
    self.loop = g_main_loop_new(NULL, FALSE);

    /* sockbus: a client, a subscription, and a source that runs it in the loop. */
    options.name = "example-glib";
    options.wait_for_broker = 1;
    self.bus = sockbus_new(&options, &error);
    if (!self.bus || !sockbus_subscribe(self.bus, argv[first], NULL, on_message, &self, &error)) {
        fprintf(stderr, "example-glib: %s\n", error.message);
        return 1;
    }
    sockbus_flush(self.bus, on_subscribed, &self, NULL);
    GSource *source = sockbus_glib_source_new(self.bus);
    g_source_attach(source, NULL);
    /* sockbus: that is all. */

    g_timeout_add_seconds(1, tick, &self);
    g_main_loop_run(self.loop);
    g_source_destroy(source);
    g_source_unref(source);
    sockbus_close_sync(self.bus, 2000);
    sockbus_free(self.bus);
    g_main_loop_unref(self.loop);
    return 0;
}
