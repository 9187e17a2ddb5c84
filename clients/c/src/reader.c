/*
 * A MessagePack reader over one buffer: every read is bounds-checked, nothing
 * is allocated, and skipping a value is iterative. Why not msgpack-c's
 * unpacker for the broker's frames: it allocates a container's elements from
 * the count in its header before it has seen them, so a 5-byte array header
 * claiming 2^32 elements would make it ask for gigabytes. This reader
 * refuses a count larger than the bytes left, so what follows is bounded by
 * the frame's size.
 */
#include <string.h>
#include "internal.h"

void sb_reader_init(sb_reader *reader, const uint8_t *data, size_t length) {
    reader->data = data;
    reader->length = length;
    reader->offset = 0;
}

static int take(sb_reader *reader, size_t count, const uint8_t **bytes) {
    if (reader->length - reader->offset < count) return -1;
    *bytes = reader->data + reader->offset;
    reader->offset += count;
    return 0;
}

static uint64_t big_endian(const uint8_t *bytes, int count) {
    uint64_t value = 0;
    for (int index = 0; index < count; index++) value = (value << 8) | bytes[index];
    return value;
}

static int take_number(sb_reader *reader, int count, uint64_t *value) {
    const uint8_t *bytes;
    if (take(reader, (size_t)count, &bytes) < 0) return -1;
    *value = big_endian(bytes, count);
    return 0;
}

static int take_payload(sb_reader *reader, sb_mp_item *item, int length_bytes) {
    uint64_t length;
    if (take_number(reader, length_bytes, &length) < 0) return -1;
    item->length = (uint32_t)length;
    return take(reader, item->length, &item->bytes);
}

static void set_signed(sb_mp_item *item, int64_t value) {
    if (value >= 0) {
        item->type = SB_MP_UINT;
        item->uint = (uint64_t)value;
    } else {
        item->type = SB_MP_INT;
        item->sint = value;
    }
}

int sb_read_item(sb_reader *reader, sb_mp_item *item) {
    const uint8_t *byte;
    uint64_t number;
    memset(item, 0, sizeof *item);
    if (take(reader, 1, &byte) < 0) return -1;
    uint8_t first = *byte;
    if (first <= 0x7f) { item->type = SB_MP_UINT; item->uint = first; return 0; }
    if (first >= 0xe0) { item->type = SB_MP_INT; item->sint = (int8_t)first; return 0; }
    if ((first & 0xf0) == 0x80) { item->type = SB_MP_MAP; item->length = first & 0x0f; return 0; }
    if ((first & 0xf0) == 0x90) { item->type = SB_MP_ARRAY; item->length = first & 0x0f; return 0; }
    if ((first & 0xe0) == 0xa0) { item->type = SB_MP_STR; item->length = first & 0x1f; return take(reader, item->length, &item->bytes); }
    switch (first) {
    case 0xc0: item->type = SB_MP_NIL; return 0;
    case 0xc2: case 0xc3: item->type = SB_MP_BOOL; item->boolean = first == 0xc3; return 0;
    case 0xc4: item->type = SB_MP_BIN; return take_payload(reader, item, 1);
    case 0xc5: item->type = SB_MP_BIN; return take_payload(reader, item, 2);
    case 0xc6: item->type = SB_MP_BIN; return take_payload(reader, item, 4);
    case 0xc7: case 0xc8: case 0xc9: {
        item->type = SB_MP_EXT;
        if (take_number(reader, first == 0xc7 ? 1 : first == 0xc8 ? 2 : 4, &number) < 0) return -1;
        if (take(reader, 1, &byte) < 0) return -1;
        item->ext_type = (int8_t)*byte;
        item->length = (uint32_t)number;
        return take(reader, item->length, &item->bytes);
    }
    case 0xca: {
        uint32_t bits; float value;
        if (take_number(reader, 4, &number) < 0) return -1;
        bits = (uint32_t)number;
        memcpy(&value, &bits, sizeof value);
        item->type = SB_MP_FLOAT; item->real = value; return 0;
    }
    case 0xcb: {
        double value;
        if (take_number(reader, 8, &number) < 0) return -1;
        memcpy(&value, &number, sizeof value);
        item->type = SB_MP_FLOAT; item->real = value; return 0;
    }
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        if (take_number(reader, 1 << (first - 0xcc), &number) < 0) return -1;
        item->type = SB_MP_UINT; item->uint = number; return 0;
    case 0xd0: if (take_number(reader, 1, &number) < 0) return -1; set_signed(item, (int8_t)number); return 0;
    case 0xd1: if (take_number(reader, 2, &number) < 0) return -1; set_signed(item, (int16_t)number); return 0;
    case 0xd2: if (take_number(reader, 4, &number) < 0) return -1; set_signed(item, (int32_t)number); return 0;
    case 0xd3: if (take_number(reader, 8, &number) < 0) return -1; set_signed(item, (int64_t)number); return 0;
    case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
        if (take(reader, 1, &byte) < 0) return -1;
        item->type = SB_MP_EXT; item->ext_type = (int8_t)*byte; item->length = 1u << (first - 0xd4);
        return take(reader, item->length, &item->bytes);
    case 0xd9: item->type = SB_MP_STR; return take_payload(reader, item, 1);
    case 0xda: item->type = SB_MP_STR; return take_payload(reader, item, 2);
    case 0xdb: item->type = SB_MP_STR; return take_payload(reader, item, 4);
    case 0xdc: case 0xdd:
        if (take_number(reader, first == 0xdc ? 2 : 4, &number) < 0) return -1;
        item->type = SB_MP_ARRAY; item->length = (uint32_t)number; return 0;
    case 0xde: case 0xdf:
        if (take_number(reader, first == 0xde ? 2 : 4, &number) < 0) return -1;
        item->type = SB_MP_MAP; item->length = (uint32_t)number; return 0;
    default: return -1; /* 0xc1 is never used */
    }
}

int sb_skip_value(sb_reader *reader, int check_utf8) {
    /* Values still to read; each takes at least one byte, so more than the bytes left is a lie. */
    uint64_t remaining = 1;
    while (remaining > 0) {
        sb_mp_item item;
        if (sb_read_item(reader, &item) < 0) return -1;
        remaining--;
        if (item.type == SB_MP_ARRAY) remaining += item.length;
        else if (item.type == SB_MP_MAP) remaining += 2ull * item.length;
        else if (item.type == SB_MP_STR && check_utf8 && !sb_valid_utf8(item.bytes, item.length)) return -1;
        if (remaining > reader->length - reader->offset) return -1;
    }
    return 0;
}

int sb_read_u32(sb_reader *reader, uint32_t *value) {
    sb_mp_item item;
    if (sb_read_item(reader, &item) < 0 || item.type != SB_MP_UINT || item.uint > UINT32_MAX) return -1;
    *value = (uint32_t)item.uint;
    return 0;
}

int sb_read_str(sb_reader *reader, const uint8_t **bytes, uint32_t *length) {
    sb_mp_item item;
    if (sb_read_item(reader, &item) < 0 || item.type != SB_MP_STR) return -1;
    *bytes = item.bytes;
    *length = item.length;
    return 0;
}

int sb_read_nil(sb_reader *reader) {
    if (reader->offset < reader->length && reader->data[reader->offset] == 0xc0) {
        reader->offset++;
        return 1;
    }
    return 0;
}

int sb_valid_value(const uint8_t *data, size_t length, int check_utf8) {
    sb_reader reader;
    sb_reader_init(&reader, data, length);
    return length > 0 && sb_skip_value(&reader, check_utf8) == 0 && reader.offset == length;
}

int sockbus_map_find(const uint8_t *map, size_t length, const char *key, const uint8_t **value, size_t *value_len) {
    sb_reader reader;
    sb_mp_item item;
    size_t key_length = strlen(key);
    sb_reader_init(&reader, map, length);
    if (sb_read_item(&reader, &item) < 0 || item.type != SB_MP_MAP) return -1;
    for (uint32_t index = 0; index < item.length; index++) {
        sb_mp_item name;
        size_t start;
        if (sb_read_item(&reader, &name) < 0) return -1;
        int found = name.type == SB_MP_STR && name.length == key_length && memcmp(name.bytes, key, key_length) == 0;
        if (name.type == SB_MP_ARRAY || name.type == SB_MP_MAP) return -1; /* keys of stats maps are strings */
        start = reader.offset;
        if (sb_skip_value(&reader, 0) < 0) return -1;
        if (found) {
            *value = map + start;
            *value_len = reader.offset - start;
            return 0;
        }
    }
    return -1;
}

int sockbus_unpack(const uint8_t *data, size_t length, msgpack_zone *zone, msgpack_object *object) {
    size_t offset = 0;
    /* Checked first, so msgpack-c's allocation follows real elements, not claimed counts. */
    if (!sb_valid_value(data, length, 0)) return -1;
    return msgpack_unpack((const char *)data, length, &offset, zone, object) == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
}
