/* Subscriptions: an array sorted by id (ids only grow), restored on every reconnect. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

/* ---- subscriptions: an array sorted by id (ids only grow) ---- */

sb_subscription *sb_find_subscription(sockbus *bus, uint32_t id) {
    size_t low = 0, high = bus->subscription_count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (bus->subscriptions[middle].id < id) low = middle + 1;
        else high = middle;
    }
    if (low < bus->subscription_count && bus->subscriptions[low].id == id && !bus->subscriptions[low].removed) return &bus->subscriptions[low];
    return NULL;
}

void sb_compact_subscriptions(sockbus *bus) {
    size_t kept = 0;
    for (size_t index = 0; index < bus->subscription_count; index++) {
        sb_subscription *subscription = &bus->subscriptions[index];
        if (subscription->removed) {
            free(subscription->pattern);
            free(subscription->queue);
            continue;
        }
        bus->subscriptions[kept++] = *subscription;
    }
    bus->subscription_count = kept;
}

void sb_forget_subscription(sockbus *bus, uint32_t id) {
    sb_subscription *subscription = sb_find_subscription(bus, id);
    if (!subscription) return;
    subscription->removed = 1;
    if (!bus->dispatching) sb_compact_subscriptions(bus);
}

static size_t live_subscriptions(const sockbus *bus) {
    size_t count = 0;
    for (size_t index = 0; index < bus->subscription_count; index++) count += !bus->subscriptions[index].removed;
    return count;
}

uint32_t sockbus_subscribe(sockbus *bus, const char *pattern, const char *queue, sockbus_message_fn handler, void *user_data,
                           sockbus_error *err) {
    sb_name_limits limits = sb_limits_of(bus);
    if (sb_closed_error(bus, err) < 0) return 0;
    if (!pattern) return sb_fail(err, "INVALID_PATTERN", "the pattern is NULL"), 0;
    if (sb_pattern_problem(pattern, strlen(pattern), &limits, err) < 0) return 0;
    if (queue && sb_queue_problem(queue, err) < 0) return 0;
    if (live_subscriptions(bus) >= bus->limits.max_subscriptions)
        return sb_fail(err, "TOO_MANY_SUBSCRIPTIONS", "this client holds %u subscriptions, the most the broker allows", bus->limits.max_subscriptions), 0;
    if (bus->next_subscription_id == 0) return sb_fail(err, "TOO_MANY_SUBSCRIPTIONS", "subscription ids ran out"), 0;
    if (bus->subscription_count == bus->subscription_capacity) {
        size_t capacity = bus->subscription_capacity ? bus->subscription_capacity * 2 : 8;
        sb_subscription *grown = realloc(bus->subscriptions, capacity * sizeof *grown);
        if (!grown) return sb_fail(err, "OUT_OF_MEMORY", "out of memory"), 0;
        bus->subscriptions = grown;
        bus->subscription_capacity = capacity;
    }
    sb_subscription subscription = {
        .id = bus->next_subscription_id, .pattern = strdup(pattern), .pattern_length = strlen(pattern),
        .queue = queue ? strdup(queue) : NULL, .handler = handler, .user_data = user_data,
    };
    if (!subscription.pattern || (queue && !subscription.queue)) {
        free(subscription.pattern);
        free(subscription.queue);
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory"), 0;
    }
    /* Sent now when connected; otherwise every subscription goes out after the next welcome. */
    if (bus->phase == SB_PHASE_OPEN && sb_encode_subscribe(&bus->out, subscription.id, pattern, queue) < 0) {
        free(subscription.pattern);
        free(subscription.queue);
        return sb_fail(err, "OUT_OF_MEMORY", "out of memory"), 0;
    }
    bus->next_subscription_id++;
    bus->subscriptions[bus->subscription_count++] = subscription;
    sb_notify_watch(bus);
    return subscription.id;
}

void sockbus_unsubscribe(sockbus *bus, uint32_t id) {
    if (!sb_find_subscription(bus, id)) return;
    sb_forget_subscription(bus, id);
    if (bus->phase == SB_PHASE_OPEN) {
        sb_encode_unsubscribe(&bus->out, id);
        sb_notify_watch(bus);
    }
}

