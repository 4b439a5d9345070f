/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_LOG_H
#define AMPD_CORE_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

/*
 * Levelled logging with per-module topics.
 *
 * Each .c file that logs declares its topic once:
 *     LOG_TOPIC("http");
 * and then calls log_debug(...), log_info(...), log_warning(...), log_error(...).
 * The macros test the level before evaluating their arguments. Levels are syslog
 * priorities, so under systemd (stderr is the journal) a line starts with "<N>".
 *
 * Secrets (tokens, keys, license bodies) are never formatted into a message, at any
 * level. Modules that behave like libraries log at debug only; the caller logs a
 * failure once.
 */

enum log_level {
  LOG_LEVEL_ERR = 3,
  LOG_LEVEL_WARNING = 4,
  LOG_LEVEL_NOTICE = 5,
  LOG_LEVEL_INFO = 6,
  LOG_LEVEL_DEBUG = 7,
};

struct log_topic {
  const char *name;
  /* (generation << 4) | level, resolved lazily against the current level spec. */
  _Atomic unsigned cached;
};

extern _Atomic unsigned log_generation_;

void log_topic_resolve_(struct log_topic *t);
void log_emit_(struct log_topic *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline bool log_enabled_(struct log_topic *t, int level) {
  unsigned c = atomic_load_explicit(&t->cached, memory_order_relaxed);
  if ((c >> 4) != atomic_load_explicit(&log_generation_, memory_order_relaxed)) {
    log_topic_resolve_(t);
    c = atomic_load_explicit(&t->cached, memory_order_relaxed);
  }
  return level <= (int)(c & 0xf);
}

#define LOG_TOPIC(n) static struct log_topic log_topic_ = {.name = (n), .cached = 0}

#define log_at(level, ...)                                                                         \
  do {                                                                                             \
    if (log_enabled_(&log_topic_, (level)))                                                        \
      log_emit_(&log_topic_, (level), __VA_ARGS__);                                                \
  } while (0)

#define log_error(...) log_at(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warning(...) log_at(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...) log_at(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...) log_at(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, __VA_ARGS__)

/*
 * Set the levels from a spec such as "info" or "warning,http=debug,mp4=info".
 * Returns 0, or -EINVAL (the old spec stays) for an unknown level or a malformed spec.
 * Thread-safe; topics pick the change up on their next call.
 */
int log_set_levels(const char *spec);
/* 0 if log_set_levels(spec) would accept spec, else -EINVAL; changes nothing. */
int log_check_levels(const char *spec);

/* Parse a level name (err|error, warning|warn, notice, info, debug). -EINVAL if unknown. */
int log_level_from_name(const char *name, int *ret_level);

/* Journal mode: "<N>" prefixes and no timestamp. Detected from JOURNAL_STREAM at the first
 * message; tests may force it. */
void log_set_journal(bool on);

/* Redirect output to fd (default 2). For tests. */
void log_set_fd(int fd);

#endif
