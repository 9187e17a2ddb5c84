/* Pings and stats requests, answered in order: flush(), the publish confirmations, stats(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

/* ---- questions: pings and stats requests, answered in order ---- */

void sb_send_questions(sockbus *bus) {
    if (bus->phase != SB_PHASE_OPEN && bus->phase != SB_PHASE_ENDING) return;
    for (sb_question *question = bus->questions; question; question = question->next) {
        if (question->sent) continue;
        question->token = bus->next_token++;
        if (bus->next_token == 0) bus->next_token = 1; /* 0 is the heartbeat's */
        question->sent = 1;
        question->asked_at = sb_now_ms();
        if (question->kind == SB_ASK_CONFIRM) question->confirms = bus->publishes_sent;
        sb_encode_token(&bus->out, question->kind == SB_ASK_STATS ? 12 : 7, question->token);
    }
    sb_notify_watch(bus);
}

static void answer(sockbus *bus, sb_question *question, const sb_frame *frame, const sockbus_error *error) {
    if (question->kind == SB_ASK_STATS) {
        if (question->stats)
            question->stats(bus, frame ? frame->counters.bytes : NULL, frame ? frame->counters.length : 0, error, question->user_data);
    } else if (question->kind == SB_ASK_FLUSH) {
        if (question->done) question->done(bus, error, question->user_data);
    }
}

void sb_question_answered(sockbus *bus, uint32_t token, const sb_frame *frame) {
    sb_question **link = &bus->questions;
    while (*link && !((*link)->sent && (*link)->token == token)) link = &(*link)->next;
    sb_question *question = *link;
    if (!question || token == 0) return;
    if ((question->kind == SB_ASK_STATS) != (frame->kind == 13)) return;
    *link = question->next;
    if (question->kind == SB_ASK_CONFIRM) {
        if (question->confirms > bus->publishes_confirmed) bus->publishes_confirmed = question->confirms;
        /* Publishes made while this ping was out need a ping of their own. */
        if (bus->publishes_sent > bus->publishes_confirmed) bus->confirm_at = sb_now_ms() + 20;
        else bus->confirming = 0;
    }
    answer(bus, question, frame, NULL);
    free(question);
}

void sb_fail_questions(sockbus *bus, int sent_only, const char *code, const char *why) {
    sb_question **link = &bus->questions;
    while (*link) {
        sb_question *question = *link;
        if (sent_only && !question->sent) {
            link = &question->next;
            continue;
        }
        *link = question->next;
        sockbus_error error;
        sb_fail(&error, code, "%s", why);
        answer(bus, question, NULL, &error);
        free(question);
    }
}

static int ask(sockbus *bus, sb_ask_kind kind, sockbus_done_fn done, sockbus_stats_fn stats, void *user_data, sockbus_error *err) {
    if (sb_closed_error(bus, err) < 0) return -1;
    sb_question *question = calloc(1, sizeof *question);
    if (!question) return sb_fail(err, "OUT_OF_MEMORY", "out of memory");
    question->kind = kind;
    question->done = done;
    question->stats = stats;
    question->user_data = user_data;
    sb_question **last = &bus->questions;
    while (*last) last = &(*last)->next;
    *last = question;
    sb_send_questions(bus);
    return 0;
}

int sockbus_flush(sockbus *bus, sockbus_done_fn done, void *user_data, sockbus_error *err) {
    return ask(bus, SB_ASK_FLUSH, done, NULL, user_data, err);
}

int sockbus_stats(sockbus *bus, sockbus_stats_fn on_stats, void *user_data, sockbus_error *err) {
    return ask(bus, SB_ASK_STATS, NULL, on_stats, user_data, err);
}

