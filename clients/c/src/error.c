#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

int sb_fail(sockbus_error *err, const char *code, const char *format, ...) {
    if (err) {
        va_list arguments;
        snprintf(err->code, sizeof err->code, "%s", code);
        va_start(arguments, format);
        vsnprintf(err->message, sizeof err->message, format, arguments);
        va_end(arguments);
    }
    return -1;
}

int sockbus_error_is(const sockbus_error *err, const char *code) {
    return err && code && strcmp(err->code, code) == 0;
}
