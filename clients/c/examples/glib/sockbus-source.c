/*
 * The event-loop recipe in GLib terms: prepare() asks the client for its
 * descriptor, events and deadline (the descriptor changes on every
 * reconnect, so it is re-added when it does), check() says whether
 * something happened, dispatch() hands it to sockbus_process().
 */
#include <poll.h>
#include "sockbus-source.h"

typedef struct {
    GSource source;
    sockbus *bus;
    gpointer tag;
    int fd;
} SockbusSource;

static GIOCondition to_condition(short events) {
    return (GIOCondition)((events & POLLIN ? G_IO_IN : 0) | (events & POLLOUT ? G_IO_OUT : 0));
}

static short to_events(GIOCondition condition) {
    return (short)((condition & G_IO_IN ? POLLIN : 0) | (condition & G_IO_OUT ? POLLOUT : 0) | (condition & G_IO_HUP ? POLLHUP : 0) |
                   (condition & G_IO_ERR ? POLLERR : 0));
}

static gboolean prepare(GSource *source, gint *timeout) {
    SockbusSource *self = (SockbusSource *)source;
    int fd = sockbus_fd(self->bus);
    if (fd != self->fd) {
        if (self->tag) g_source_remove_unix_fd(source, self->tag);
        self->tag = fd >= 0 ? g_source_add_unix_fd(source, fd, to_condition(sockbus_events(self->bus))) : NULL;
        self->fd = fd;
    } else if (self->tag) {
        g_source_modify_unix_fd(source, self->tag, to_condition(sockbus_events(self->bus)));
    }
    *timeout = sockbus_timeout_ms(self->bus);
    return *timeout == 0;
}

static gboolean check(GSource *source) {
    SockbusSource *self = (SockbusSource *)source;
    return (self->tag && g_source_query_unix_fd(source, self->tag) != 0) || sockbus_timeout_ms(self->bus) == 0;
}

static gboolean dispatch(GSource *source, GSourceFunc callback, gpointer user_data) {
    SockbusSource *self = (SockbusSource *)source;
    sockbus_process(self->bus, self->tag ? to_events(g_source_query_unix_fd(source, self->tag)) : 0);
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs functions = {prepare, check, dispatch, NULL, NULL, NULL};

GSource *sockbus_glib_source_new(sockbus *bus) {
    SockbusSource *self = (SockbusSource *)g_source_new(&functions, sizeof(SockbusSource));
    self->bus = bus;
    self->fd = -1;
    self->tag = NULL;
    g_source_set_name(&self->source, "sockbus");
    return &self->source;
}
