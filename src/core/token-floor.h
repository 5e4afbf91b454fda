/* Fencing tokens that keep increasing across restarts: a ceiling persisted in the state directory. */
#pragma once

#include <stdint.h>

/* The first token to count from: the larger of the ceiling the last instance persisted (tokens it
 * may have handed out) and the realtime clock in microseconds. state_dir may be NULL. */
uint64_t token_floor_load(const char *state_dir);

/* Persists last_token + TOKEN_FLOOR_BLOCK as the new ceiling and returns it; on failure warns and
 * returns it all the same (the clock floor still holds while the clock does not go back). */
uint64_t token_floor_reserve(const char *state_dir, uint64_t last_token);

#define TOKEN_FLOOR_BLOCK (UINT64_C(1) << 20)
