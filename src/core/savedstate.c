/* SPDX-License-Identifier: Apache-2.0 */
#include "core/savedstate.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/log.h"
#include "core/loop.h"
#include "core/statefile.h"

LOG_TOPIC("state");

#define HEADER "ampd-state 1\n"
#define FILE_MAX (SAVEDSTATE_REF_MAX + 256u) /* the longest file this module writes */

struct savedstate {
  struct loop *loop;
  char *dir;
  uint32_t debounce_ms;
  struct loop_source *timer;
  bool pending;
  struct savedstate_data want, written;
};

/* CRC-32 (IEEE, reflected 0xEDB88320), bit by bit: a few hundred bytes a write. */
static uint32_t crc32_of(const char *p, size_t len) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < len; i++) {
    c ^= (uint8_t)p[i];
    for (int k = 0; k < 8; k++)
      c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
  }
  return ~c;
}

/* A reference that can sit on one line of the file: printable ASCII, no spaces. */
static bool ref_ok(const char *s) {
  size_t n = 0;
  for (; s[n]; n++)
    if ((unsigned char)s[n] <= 0x20 || (unsigned char)s[n] >= 0x7f)
      return false;
  return n < SAVEDSTATE_REF_MAX;
}

static bool same(const struct savedstate_data *a, const struct savedstate_data *b) {
  return a->volume == b->volume && a->repeat == b->repeat && a->track == b->track &&
         a->position_ms == b->position_ms && strcmp(a->container, b->container) == 0;
}

/* The file's text into out (FILE_MAX bytes); its length, or 0 when it does not fit. */
static size_t format(const struct savedstate_data *d, char *out) {
  int n = snprintf(out, FILE_MAX, HEADER "volume %u\nrepeat %u\n", d->volume, d->repeat);
  if (n < 0 || (size_t)n >= FILE_MAX)
    return 0;
  if (d->container[0] && ref_ok(d->container)) {
    int m = snprintf(out + n, FILE_MAX - (size_t)n,
                     "container %s\ntrack %" PRIu32 "\nposition_ms %" PRIu64 "\n", d->container,
                     d->track, d->position_ms);
    if (m < 0 || (size_t)m >= FILE_MAX - (size_t)n)
      return 0;
    n += m;
  }
  uint32_t crc = crc32_of(out, (size_t)n);
  int m = snprintf(out + n, FILE_MAX - (size_t)n, "crc %08" PRIx32 "\n", crc);
  if (m < 0 || (size_t)m >= FILE_MAX - (size_t)n)
    return 0;
  return (size_t)n + (size_t)m;
}

static int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *ret) {
  if (len == 0 || len > 20)
    return -EBADMSG;
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -EBADMSG;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -EBADMSG;
    v = v * 10 + d;
  }
  if (v > max)
    return -EBADMSG;
  *ret = v;
  return 0;
}

/* Parse the whole text (len bytes, not NUL-terminated). */
static int parse(const char *t, size_t len, struct savedstate_data *ret) {
  size_t hl = sizeof(HEADER) - 1;
  if (len < hl || memcmp(t, HEADER, hl) != 0)
    return -EBADMSG;
  struct savedstate_data d;
  memset(&d, 0, sizeof(d));
  bool have_vol = false, have_rep = false, have_cont = false, have_track = false, have_pos = false,
       have_crc = false;
  size_t pos = hl;
  while (pos < len) {
    const char *line = t + pos;
    const char *nl = memchr(line, '\n', len - pos);
    if (!nl || have_crc)
      return -EBADMSG; /* a cut last line, or anything after the crc */
    size_t l = (size_t)(nl - line);
    const char *sp = memchr(line, ' ', l);
    if (!sp)
      return -EBADMSG;
    size_t kl = (size_t)(sp - line), vl = l - kl - 1;
    const char *v = sp + 1;
    uint64_t u = 0;
#define KEY(name) (kl == sizeof(name) - 1 && memcmp(line, name, kl) == 0)
    if (KEY("crc")) {
      char want[9];
      snprintf(want, sizeof(want), "%08" PRIx32, crc32_of(t, pos));
      if (vl != 8 || memcmp(v, want, 8) != 0)
        return -EBADMSG;
      have_crc = true;
    } else if (KEY("volume") && !have_vol && parse_u64(v, vl, 100, &u) == 0) {
      d.volume = (unsigned)u;
      have_vol = true;
    } else if (KEY("repeat") && !have_rep && parse_u64(v, vl, 2, &u) == 0) {
      d.repeat = (unsigned)u;
      have_rep = true;
    } else if (KEY("container") && !have_cont && vl > 0 && vl < SAVEDSTATE_REF_MAX) {
      memcpy(d.container, v, vl);
      d.container[vl] = '\0';
      if (!ref_ok(d.container))
        return -EBADMSG;
      have_cont = true;
    } else if (KEY("track") && !have_track && parse_u64(v, vl, UINT32_MAX, &u) == 0) {
      d.track = (uint32_t)u;
      have_track = true;
    } else if (KEY("position_ms") && !have_pos && parse_u64(v, vl, UINT64_MAX / 2, &u) == 0) {
      d.position_ms = u;
      have_pos = true;
    } else {
      return -EBADMSG;
    }
#undef KEY
    pos += l + 1;
  }
  if (!have_crc || !have_vol || !have_rep || have_cont != have_track || have_cont != have_pos)
    return -EBADMSG;
  *ret = d;
  return 0;
}

int savedstate_load(const char *dir, struct savedstate_data *ret) {
  if (!dir || !ret)
    return -EINVAL;
  struct buf b;
  buf_init(&b, FILE_MAX);
  int r = statefile_read(dir, SAVEDSTATE_NAME, &b);
  if (r == -AMP_ETOOBIG)
    r = -EBADMSG;
  if (r == 0)
    r = parse((const char *)b.data, b.len, ret);
  buf_done(&b);
  return r;
}

static int write_now(struct savedstate *s) {
  char *text = malloc(FILE_MAX);
  if (!text)
    return -ENOMEM;
  size_t n = format(&s->want, text);
  int r = n ? statefile_write(s->dir, SAVEDSTATE_NAME, text, n) : -EINVAL;
  free(text);
  if (r < 0) {
    log_warning("the player state in %s not saved: %s", s->dir, amp_strerror(r));
    return r;
  }
  log_debug("player state saved (volume %u, repeat %u%s)", s->want.volume, s->want.repeat,
            s->want.container[0] ? ", a container to resume" : "");
  s->written = s->want;
  s->pending = false;
  return 0;
}

static void on_timer(struct loop_source *t, uint64_t now, void *ud) {
  (void)t;
  (void)now;
  struct savedstate *s = ud;
  if (s->pending)
    write_now(s);
}

int savedstate_new(struct loop *l, const char *dir, uint32_t debounce_ms, struct savedstate **ret) {
  if (!l || !dir || !ret)
    return -EINVAL;
  struct savedstate *s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  int r = -ENOMEM;
  if (!(s->dir = strdup(dir)))
    goto fail;
  s->loop = l;
  s->debounce_ms = debounce_ms ? debounce_ms : SAVEDSTATE_DEBOUNCE_MS;
  s->written.volume = UINT32_MAX; /* nothing written yet: the first update writes */
  if ((r = loop_add_timer(l, UINT64_MAX, on_timer, s, &s->timer)) < 0)
    goto fail;
  loop_timer_disarm(s->timer);
  *ret = s;
  return 0;
fail:
  free(s->dir);
  free(s);
  return r;
}

void savedstate_seed(struct savedstate *s, const struct savedstate_data *d) {
  if (s && d)
    s->written = s->want = *d;
}

void savedstate_update(struct savedstate *s, const struct savedstate_data *d) {
  if (!s || !d)
    return;
  if (same(d, &s->want) && (s->pending || same(d, &s->written)))
    return;
  s->want = *d;
  if (same(&s->want, &s->written)) { /* changed back before the write: nothing to do */
    s->pending = false;
    loop_timer_disarm(s->timer);
    return;
  }
  if (!s->pending) {
    s->pending = true;
    loop_timer_set(s->timer, loop_now(s->loop) + (uint64_t)s->debounce_ms * 1000u);
  }
}

int savedstate_flush(struct savedstate *s) {
  if (!s || !s->pending)
    return 0;
  loop_timer_disarm(s->timer);
  return write_now(s);
}

void savedstate_free(struct savedstate *s) {
  if (!s)
    return;
  savedstate_flush(s);
  loop_source_free(s->timer);
  free(s->dir);
  free(s);
}
