/* Reconnect timing (PROTOCOL.md §8) and the clock. */
#include <time.h>
#include "internal.h"

/* xorshift64*: per client, seeded from the clock and the client's address, so clients differ. */
static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545f4914f6cdd1dull;
}

uint32_t sb_random_below(uint32_t bound, uint64_t *random_state) {
    if (bound == 0) return 0;
    return (uint32_t)((next_random(random_state) >> 11) % bound);
}

uint32_t sb_backoff_delay(uint32_t attempt, uint32_t cap_ms, uint64_t *random_state) {
    uint64_t bound = 20ull << (attempt > 30 ? 30 : attempt);
    if (bound > cap_ms) bound = cap_ms;
    if (bound < 2) return (uint32_t)bound;
    uint32_t half = (uint32_t)(bound / 2);
    return half + sb_random_below((uint32_t)bound - half, random_state);
}

int64_t sb_now_ms(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
