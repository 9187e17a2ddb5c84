/* JSON for the command line: data given as JSON becomes MessagePack, and messages are printed as JSON lines like `sockbus sub`. */
#ifndef SOCKBUS_TOOLS_JSON_H
#define SOCKBUS_TOOLS_JSON_H

#include <stddef.h>
#include <stdio.h>
#include <msgpack.h>
#include "sockbus.h"

/** Packs text as JSON if it is one JSON value, else as a string (what `sockbus pub` does with DATA). */
void json_pack_data(msgpack_packer *packer, const char *text);
/** 0 and packs when text is exactly one JSON value; -1 (nothing packed) otherwise. */
int json_pack(msgpack_packer *packer, const char *text);

/** A growable text buffer. */
typedef struct {
    char *text;
    size_t length, capacity;
    int hex_binary; /* bin as {"$bin": hex} and ext as {"$ext": [type, hex]}, as the conformance vectors write them */
} json_text;

void json_text_free(json_text *out);
void json_append(json_text *out, const char *text, size_t length);
void json_append_string(json_text *out, const char *text, size_t length);
/** MessagePack bytes as JSON: bin as {"$base64": ...}, maps as objects, numbers as JavaScript prints them. */
int json_append_value(json_text *out, const uint8_t *data, size_t length);
void json_append_headers(json_text *out, const sockbus_header *headers, size_t count);

#endif
