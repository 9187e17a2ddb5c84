/* A GLib main-loop source for a sockbus client: g_source_attach(sockbus_glib_source_new(bus), NULL) and the client runs in the loop. */
#ifndef SOCKBUS_GLIB_SOURCE_H
#define SOCKBUS_GLIB_SOURCE_H

#include <glib.h>
#include "sockbus.h"

/** A source that polls the client's descriptor with the events and deadline it asks for. The client stays the caller's to free, after the source is destroyed. */
GSource *sockbus_glib_source_new(sockbus *bus);

#endif
