/* SPDX-License-Identifier: Apache-2.0 */
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

#define LOG_SPEC_MAX 512
#define LOG_LINE_MAX 2048

_Atomic unsigned log_generation_ = 1;

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_spec[LOG_SPEC_MAX] = "info";
static int log_fd = 2;
static int log_journal = -1; /* -1: not yet detected */

static const struct {
  const char *name;
  int level;
} level_names[] = {
    {"err", LOG_LEVEL_ERR},      {"error", LOG_LEVEL_ERR},     {"warning", LOG_LEVEL_WARNING},
    {"warn", LOG_LEVEL_WARNING}, {"notice", LOG_LEVEL_NOTICE}, {"info", LOG_LEVEL_INFO},
    {"debug", LOG_LEVEL_DEBUG},
};

static int level_from(const char *s, size_t n, int *ret_level) {
  for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
    if (strlen(level_names[i].name) == n && memcmp(level_names[i].name, s, n) == 0) {
      *ret_level = level_names[i].level;
      return 0;
    }
  }
  return -EINVAL;
}

int log_level_from_name(const char *name, int *ret_level) {
  return level_from(name, strlen(name), ret_level);
}

/* Walk "default,topic=level,..."; with topic == NULL only validate. Returns the level for
 * topic (or the default), or -EINVAL. */
static int spec_lookup(const char *spec, const char *topic) {
  int def = LOG_LEVEL_INFO, found = -1;
  const char *p = spec;
  while (*p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    const char *eq = memchr(p, '=', n);
    int lvl;
    if (eq) {
      if (eq == p || level_from(eq + 1, n - (size_t)(eq - p) - 1, &lvl) < 0)
        return -EINVAL;
      if (topic && strlen(topic) == (size_t)(eq - p) && memcmp(topic, p, (size_t)(eq - p)) == 0)
        found = lvl;
    } else if (n > 0) {
      if (level_from(p, n, &lvl) < 0)
        return -EINVAL;
      def = lvl;
    }
    p += n;
    if (*p == ',')
      p++;
  }
  return found >= 0 ? found : def;
}

int log_check_levels(const char *spec) {
  if (!spec || strlen(spec) >= LOG_SPEC_MAX || spec_lookup(spec, NULL) < 0)
    return -EINVAL;
  return 0;
}

int log_set_levels(const char *spec) {
  if (log_check_levels(spec) < 0)
    return -EINVAL;
  pthread_mutex_lock(&log_lock);
  memcpy(log_spec, spec, strlen(spec) + 1);
  unsigned g = atomic_load(&log_generation_) + 1;
  if (g >= (1u << 27))
    g = 1;
  atomic_store(&log_generation_, g);
  pthread_mutex_unlock(&log_lock);
  return 0;
}

void log_topic_resolve_(struct log_topic *t) {
  pthread_mutex_lock(&log_lock);
  unsigned g = atomic_load(&log_generation_);
  int lvl = spec_lookup(log_spec, t->name);
  if (lvl < 0)
    lvl = LOG_LEVEL_INFO;
  atomic_store_explicit(&t->cached, (g << 4) | (unsigned)lvl, memory_order_relaxed);
  pthread_mutex_unlock(&log_lock);
}

void log_set_journal(bool on) {
  pthread_mutex_lock(&log_lock);
  log_journal = on;
  pthread_mutex_unlock(&log_lock);
}

void log_set_fd(int fd) {
  pthread_mutex_lock(&log_lock);
  log_fd = fd;
  pthread_mutex_unlock(&log_lock);
}

/* systemd sets JOURNAL_STREAM=dev:ino of the stream it connected to stderr. */
static int detect_journal(int fd) {
  const char *e = getenv("JOURNAL_STREAM");
  struct stat st;
  unsigned long long dev, ino;
  if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(fd, &st) < 0)
    return 0;
  return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static const char *level_tag(int level) {
  switch (level) {
  case LOG_LEVEL_ERR:
    return "error";
  case LOG_LEVEL_WARNING:
    return "warning";
  case LOG_LEVEL_NOTICE:
    return "notice";
  case LOG_LEVEL_INFO:
    return "info";
  default:
    return "debug";
  }
}

void log_emit_(struct log_topic *t, int level, const char *fmt, ...) {
  char line[LOG_LINE_MAX];
  size_t n = 0;
  int saved_errno = errno;

  pthread_mutex_lock(&log_lock);
  if (log_journal < 0)
    log_journal = detect_journal(log_fd);
  int journal = log_journal, fd = log_fd;
  pthread_mutex_unlock(&log_lock);

  int p;
  if (journal) {
    p = snprintf(line, sizeof(line), "<%d>%s: ", level, t->name);
  } else {
    struct tm tm;
    int64_t us = clock_wall_usec();
    time_t secs = (time_t)(us / 1000000);
    gmtime_r(&secs, &tm);
    p = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %-7s %s: ", tm.tm_hour, tm.tm_min,
                 tm.tm_sec, (long)((us % 1000000) / 1000), level_tag(level), t->name);
  }
  n = p > 0 ? (size_t)p : 0; /* a negative return would leave line unset: emit no prefix */
  if (n < sizeof(line)) {
    va_list ap;
    va_start(ap, fmt);
    errno = saved_errno; /* so that %m works */
    int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (m > 0)
      n += (size_t)m;
  }
  if (n >= sizeof(line) - 1)
    n = sizeof(line) - 2; /* truncated: the line still ends in a newline */
  line[n++] = '\n';
  /* One write(2) per line, so that lines from threads do not interleave. */
  ssize_t w = write(fd, line, n);
  (void)w;
  errno = saved_errno;
}
