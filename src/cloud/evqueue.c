/* SPDX-License-Identifier: Apache-2.0 */
/*
 * evqueue: the durable event queue file. The format and the guarantees are in
 * evqueue.h; the reasons are here.
 */
#include "cloud/evqueue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

LOG_TOPIC("evqueue");

#define HDR_LEN 17u /* magic + len + seq + kind */

struct rec {
  uint64_t seq;
  uint8_t *payload; /* NULL when len is 0 */
  uint32_t len;
  uint8_t kind;
};

struct evqueue {
  int fd;
  char *path;
  char *tmp_path;
  char *dir;
  size_t max_bytes;
  size_t max_records;
  uint64_t droppable;
  struct rec *recs; /* pending records, oldest first: at most max_records after open */
  size_t n;
  size_t cap;
  size_t live_bytes; /* on-disk size of the pending records */
  uint64_t end;      /* file size: every byte below is a whole, valid record */
  uint64_t next_seq;
  uint64_t acked;   /* highest seq acknowledged */
  bool ack_unsaved; /* the last ack is in memory only: written with the next append */
  struct evqueue_stats st;
};

/*
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, initial and final XOR ~0), the
 * one zlib computes. ampd does not link zlib (cmake/AmpdDeps.cmake), and a library for
 * one checksum is not worth it: a 16-entry table, two lookups per byte, is fast enough
 * for records of at most 64 KiB. Checked against the standard "123456789" vector in
 * tests/unit/test_evqueue.c.
 */
static const uint32_t crc_nibble[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u,
    0x4db26158u, 0x5005713cu, 0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu,
    0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

static uint32_t crc_update(uint32_t crc, const uint8_t *p, size_t len) {
  crc = ~crc;
  for (size_t i = 0; i < len; i++) {
    crc ^= p[i];
    crc = (crc >> 4) ^ crc_nibble[crc & 15u];
    crc = (crc >> 4) ^ crc_nibble[crc & 15u];
  }
  return ~crc;
}

static void put32(uint8_t *p, uint32_t v) {
  for (unsigned i = 0; i < 4; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v) {
  for (unsigned i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p) {
  uint32_t v = 0;
  for (unsigned i = 0; i < 4; i++)
    v |= (uint32_t)p[i] << (8 * i);
  return v;
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v = 0;
  for (unsigned i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Encodes one record into out (room for EVQUEUE_RECORD_OVERHEAD + len); its size. */
static size_t encode(uint8_t *out, uint64_t seq, uint8_t kind, const uint8_t *payload, size_t len) {
  put32(out, EVQUEUE_MAGIC);
  put32(out + 4, (uint32_t)len);
  put64(out + 8, seq);
  out[16] = kind;
  if (len > 0)
    memcpy(out + HDR_LEN, payload, len);
  put32(out + HDR_LEN + len, crc_update(0, out, HDR_LEN + len));
  return EVQUEUE_RECORD_OVERHEAD + len;
}

static size_t rec_size(const struct rec *r) {
  return EVQUEUE_RECORD_OVERHEAD + r->len;
}

static bool is_control(uint8_t kind) {
  return kind == EVQUEUE_KIND_ACK || kind == EVQUEUE_KIND_DROP || kind == EVQUEUE_KIND_SEQ;
}

static bool is_droppable(const struct evqueue *q, uint8_t kind) {
  return kind <= EVQUEUE_KIND_MAX && (q->droppable >> kind) & 1u;
}

/* Reads up to len bytes at off; the count read (short only at end of file) or -errno. */
static ssize_t pread_full(int fd, uint8_t *buf, size_t len, uint64_t off) {
  size_t got = 0;
  while (got < len) {
    ssize_t r = pread(fd, buf + got, len - got, (off_t)(off + got));
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (r == 0)
      break;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

static int pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off) {
  size_t put = 0;
  while (put < len) {
    ssize_t w = pwrite(fd, buf + put, len - put, (off_t)(off + put));
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (w == 0)
      return -EIO;
    put += (size_t)w;
  }
  return 0;
}

static int reserve(struct evqueue *q, size_t want) {
  if (want <= q->cap)
    return 0;
  size_t cap = q->cap ? q->cap * 2 : 64;
  while (cap < want)
    cap *= 2;
  struct rec *r = realloc(q->recs, cap * sizeof(*r));
  if (!r)
    return -ENOMEM;
  q->recs = r;
  q->cap = cap;
  return 0;
}

/* Removes pending record i (memory only). */
static void remove_at(struct evqueue *q, size_t i) {
  q->live_bytes -= rec_size(&q->recs[i]);
  free(q->recs[i].payload);
  memmove(&q->recs[i], &q->recs[i + 1], (q->n - i - 1) * sizeof(q->recs[0]));
  q->n--;
}

/* Removes every pending record with seq <= seq (memory only); how many. */
static size_t remove_upto(struct evqueue *q, uint64_t seq) {
  size_t k = 0;
  while (k < q->n && q->recs[k].seq <= seq) {
    q->live_bytes -= rec_size(&q->recs[k]);
    free(q->recs[k].payload);
    k++;
  }
  /* Nothing to move when nothing went: recs may be NULL (no record held yet), and even a
   * zero-length memmove from NULL is undefined. */
  if (k == 0)
    return 0;
  memmove(q->recs, q->recs + k, (q->n - k) * sizeof(q->recs[0]));
  q->n -= k;
  return k;
}

static void remove_seq(struct evqueue *q, uint64_t seq) {
  size_t lo = 0, hi = q->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (q->recs[mid].seq < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo < q->n && q->recs[lo].seq == seq)
    remove_at(q, lo);
}

/* Whether a compacted file needs a SEQ record at its end: the highest seq handed out is
 * not the last pending record's (it was acked or dropped), and numbering must not
 * restart below it after a reopen. */
static bool need_seq_record(const struct evqueue *q) {
  if (q->next_seq <= 1)
    return false;
  return q->n == 0 || q->recs[q->n - 1].seq != q->next_seq - 1;
}

static uint64_t compact_size(const struct evqueue *q) {
  return q->live_bytes + (need_seq_record(q) ? EVQUEUE_RECORD_OVERHEAD : 0);
}

static int fsync_dir(const char *dir) {
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return -errno;
  int rc = fsync(dfd) < 0 ? -errno : 0;
  close(dfd);
  return rc;
}

/* Rewrites the pending records to tmp_path, syncs, renames over path, syncs the
 * directory, and continues on the new file. The old file stays in place until the
 * rename, so a crash or a failure before it changes nothing. */
static int compact(struct evqueue *q) {
  int rc = 0;
  uint8_t *buf = malloc(EVQUEUE_RECORD_OVERHEAD + EVQUEUE_RECORD_MAX);
  if (!buf)
    return -ENOMEM;
  int tfd = open(q->tmp_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (tfd < 0) {
    rc = -errno;
    goto out_buf;
  }
  /* Lock before the rename, so that the new file is never visible unlocked. */
  if (flock(tfd, LOCK_EX | LOCK_NB) < 0) {
    rc = -errno;
    goto out_tmp;
  }
  uint64_t off = 0;
  for (size_t i = 0; i < q->n; i++) {
    const struct rec *r = &q->recs[i];
    size_t sz = encode(buf, r->seq, r->kind, r->payload, r->len);
    rc = pwrite_full(tfd, buf, sz, off);
    if (rc < 0)
      goto out_tmp;
    off += sz;
  }
  if (need_seq_record(q)) {
    size_t sz = encode(buf, q->next_seq - 1, EVQUEUE_KIND_SEQ, NULL, 0);
    rc = pwrite_full(tfd, buf, sz, off);
    if (rc < 0)
      goto out_tmp;
    off += sz;
  }
  if (fsync(tfd) < 0) {
    rc = -errno;
    goto out_tmp;
  }
  if (rename(q->tmp_path, q->path) < 0) {
    rc = -errno;
    goto out_tmp;
  }
  /* From here the new file is the queue, whether or not the directory sync works. */
  close(q->fd);
  q->fd = tfd;
  q->end = off;
  q->ack_unsaved = false;
  q->st.compactions++;
  rc = fsync_dir(q->dir);
  if (rc < 0)
    log_debug("compaction: directory sync failed: %s", amp_strerror(rc));
  goto out_buf;

out_tmp:
  close(tfd);
  unlink(q->tmp_path);
out_buf:
  free(buf);
  if (rc < 0)
    q->st.compact_failures++;
  return rc;
}

/* Compacts when the dead bytes are more than half of the file. Failures are counted
 * and retried at the next call that finds it due; they fail no call. */
static void maybe_compact(struct evqueue *q) {
  uint64_t target = compact_size(q);
  if (q->end > target && (q->end - target) * 2 > q->end) {
    int rc = compact(q);
    if (rc < 0)
      log_debug("compaction failed: %s", amp_strerror(rc));
  }
}

/* Checks one record that passed magic, length and CRC against the queue's state and
 * applies it; false when it cannot belong to a file this module wrote. */
static bool apply_record(struct evqueue *q, uint64_t seq, uint8_t kind, const uint8_t *payload,
                         uint32_t len, int *err) {
  switch (kind) {
  case EVQUEUE_KIND_ACK:
    if (seq >= q->next_seq)
      return false;
    if (seq > q->acked) {
      q->acked = seq;
      remove_upto(q, seq);
    }
    return true;
  case EVQUEUE_KIND_DROP:
    if (seq >= q->next_seq || seq <= q->acked)
      return false;
    remove_seq(q, seq);
    return true;
  case EVQUEUE_KIND_SEQ:
    if (seq > EVQUEUE_SEQ_MAX || seq + 1 < q->next_seq)
      return false;
    q->next_seq = seq + 1;
    return true;
  default:
    break;
  }
  /* next_seq stays at most EVQUEUE_SEQ_MAX + 1, so an append can never hand out a seq that
   * this check refuses at the next open (nor wrap next_seq around to 0). */
  if (kind > EVQUEUE_KIND_MAX || seq == 0 || seq > EVQUEUE_SEQ_MAX || seq < q->next_seq)
    return false;
  *err = reserve(q, q->n + 1);
  if (*err < 0)
    return false;
  uint8_t *copy = NULL;
  if (len > 0) {
    copy = malloc(len);
    if (!copy) {
      *err = -ENOMEM;
      return false;
    }
    memcpy(copy, payload, len);
  }
  q->recs[q->n++] = (struct rec){.seq = seq, .payload = copy, .len = len, .kind = kind};
  q->live_bytes += EVQUEUE_RECORD_OVERHEAD + len;
  q->next_seq = seq + 1;
  return true;
}

/* Reads every record of a file of size bytes; cuts the file at the first bad one. */
static int load(struct evqueue *q, uint64_t size) {
  int rc = 0;
  uint8_t *buf = malloc(EVQUEUE_RECORD_OVERHEAD + EVQUEUE_RECORD_MAX);
  if (!buf)
    return -ENOMEM;
  uint64_t off = 0;
  while (off < size) {
    if (size - off < EVQUEUE_RECORD_OVERHEAD)
      break;
    ssize_t r = pread_full(q->fd, buf, HDR_LEN, off);
    if (r < 0) {
      rc = (int)r;
      goto out;
    }
    if ((size_t)r < HDR_LEN)
      break;
    uint32_t magic = get32(buf), len = get32(buf + 4);
    uint64_t seq = get64(buf + 8);
    uint8_t kind = buf[16];
    if (magic != EVQUEUE_MAGIC || len > EVQUEUE_RECORD_MAX)
      break;
    if (kind > EVQUEUE_KIND_MAX && !is_control(kind))
      break;
    if (is_control(kind) && len != 0)
      break;
    if (size - off < (uint64_t)EVQUEUE_RECORD_OVERHEAD + len)
      break;
    r = pread_full(q->fd, buf + HDR_LEN, (size_t)len + 4, off + HDR_LEN);
    if (r < 0) {
      rc = (int)r;
      goto out;
    }
    if ((size_t)r < (size_t)len + 4)
      break;
    if (crc_update(0, buf, HDR_LEN + len) != get32(buf + HDR_LEN + len))
      break;
    if (!apply_record(q, seq, kind, buf + HDR_LEN, len, &rc)) {
      if (rc < 0)
        goto out;
      break;
    }
    off += EVQUEUE_RECORD_OVERHEAD + len;
  }
  q->end = off;
  if (off < size) {
    /* Everything from the first bad record on goes: a torn append, or corruption that
     * leaves nothing after it trustworthy. */
    q->st.torn_tails++;
    q->st.torn_bytes += size - off;
    log_debug("cut %llu bytes at offset %llu", (unsigned long long)(size - off),
              (unsigned long long)off);
    if (ftruncate(q->fd, (off_t)off) < 0 || fdatasync(q->fd) < 0) {
      rc = -errno;
      goto out;
    }
  }
out:
  free(buf);
  return rc;
}

static int dup_paths(struct evqueue *q, const char *path) {
  size_t len = strlen(path);
  q->path = strdup(path);
  q->tmp_path = malloc(len + 5);
  q->dir = malloc(len + 2);
  if (!q->path || !q->tmp_path || !q->dir)
    return -ENOMEM;
  snprintf(q->tmp_path, len + 5, "%s.tmp", path);
  const char *slash = strrchr(path, '/');
  if (!slash) {
    snprintf(q->dir, len + 2, ".");
  } else if (slash == path) {
    snprintf(q->dir, len + 2, "/");
  } else {
    memcpy(q->dir, path, (size_t)(slash - path));
    q->dir[slash - path] = '\0';
  }
  return 0;
}

/* Opens the file, creating it (and syncing its directory entry) if it does not exist.
 * O_NONBLOCK so that a FIFO in its place cannot block the open; it is refused below. */
static int open_file(struct evqueue *q) {
  const int flags = O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK;
  q->fd = open(q->path, flags);
  if (q->fd >= 0)
    return 0;
  if (errno != ENOENT)
    return -errno;
  q->fd = open(q->path, flags | O_CREAT | O_EXCL, 0600);
  if (q->fd < 0)
    return -errno;
  return fsync_dir(q->dir);
}

/* Writes buf at the end of the file and syncs; on failure cuts the file back to where
 * it ended, so that no part of buf stays behind. */
static int write_tail(struct evqueue *q, const uint8_t *buf, size_t len) {
  int rc = pwrite_full(q->fd, buf, len, q->end);
  if (rc == 0 && fdatasync(q->fd) < 0)
    rc = -errno;
  if (rc < 0) {
    /* If even this fails, the next write at q->end overwrites the torn bytes, and a
     * reopen cuts whatever is left past the last whole record. */
    if (ftruncate(q->fd, (off_t)q->end) == 0)
      (void)fdatasync(q->fd);
    return rc;
  }
  q->end += len;
  return 0;
}

/*
 * Drops are planned before anything is written: the oldest droppable records, until
 * extra_records more records of extra_bytes in all fit the limits. Their DROP records
 * are encoded (drop_records) while the records are still held, then the records go from
 * memory (forget_drops): an append writes the DROP records with its new record and
 * forgets only once that write is durable; an open forgets first and then rewrites the
 * file without them, appending the DROP records when that rewrite fails. An append plans
 * room for its new record; an open of a file written under larger limits plans none.
 * How many to drop; *fits (when not NULL) whether the limits then hold.
 */
static size_t plan_drops(const struct evqueue *q, size_t extra_records, size_t extra_bytes,
                         bool *fits) {
  size_t ndrop = 0, count = q->n, bytes = q->live_bytes;
  for (size_t i = 0;
       i < q->n && (count + extra_records > q->max_records || bytes + extra_bytes > q->max_bytes);
       i++) {
    if (is_droppable(q, q->recs[i].kind)) {
      ndrop++;
      count--;
      bytes -= rec_size(&q->recs[i]);
    }
  }
  if (fits)
    *fits = count + extra_records <= q->max_records && bytes + extra_bytes <= q->max_bytes;
  return ndrop;
}

/* Encodes the DROP records of the first ndrop droppable records into out (room for
 * ndrop * EVQUEUE_RECORD_OVERHEAD bytes); the bytes written. */
static size_t drop_records(const struct evqueue *q, size_t ndrop, uint8_t *out) {
  size_t off = 0;
  for (size_t i = 0, k = 0; k < ndrop; i++) {
    if (is_droppable(q, q->recs[i].kind)) {
      off += encode(out + off, q->recs[i].seq, EVQUEUE_KIND_DROP, NULL, 0);
      k++;
    }
  }
  return off;
}

/* Removes the first ndrop droppable records from memory and counts them. */
static void forget_drops(struct evqueue *q, size_t ndrop) {
  for (size_t i = 0, k = 0; k < ndrop;) {
    if (is_droppable(q, q->recs[i].kind)) {
      remove_at(q, i);
      k++;
    } else {
      i++;
    }
  }
  q->st.dropped += ndrop;
}

int evqueue_open(const char *path, const struct evqueue_limits *lim, struct evqueue **ret) {
  if (!path || !*path || !ret)
    return -EINVAL;
  int rc;
  struct evqueue *q = calloc(1, sizeof(*q));
  if (!q)
    return -ENOMEM;
  q->fd = -1;
  q->next_seq = 1;
  q->max_bytes = lim && lim->max_bytes ? lim->max_bytes : EVQUEUE_DEFAULT_MAX_BYTES;
  q->max_records = lim && lim->max_records ? lim->max_records : EVQUEUE_DEFAULT_MAX_RECORDS;
  q->droppable = lim ? lim->droppable_mask : 0;
  rc = dup_paths(q, path);
  if (rc < 0)
    goto fail;
  rc = open_file(q);
  if (rc < 0)
    goto fail;
  struct stat st;
  if (fstat(q->fd, &st) < 0) {
    rc = -errno;
    goto fail;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = -EINVAL;
    goto fail;
  }
  if (st.st_uid != geteuid()) {
    rc = -EPERM;
    goto fail;
  }
  if (flock(q->fd, LOCK_EX | LOCK_NB) < 0) {
    rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
    goto fail;
  }
  rc = load(q, (uint64_t)st.st_size);
  if (rc < 0)
    goto fail;
  /* A file written under larger limits: shed droppable records down to these, the oldest
   * first, their DROP records made before they go. */
  const size_t shed = plan_drops(q, 0, 0, NULL);
  uint8_t *drops = NULL;
  if (shed > 0) {
    drops = malloc(shed * EVQUEUE_RECORD_OVERHEAD);
    if (!drops) {
      rc = -ENOMEM;
      goto fail;
    }
    drop_records(q, shed, drops);
    forget_drops(q, shed);
  }
  /* Compact when the file holds anything but the pending records. Without a shed, the
   * sizes tell: every record that is not pending is at least EVQUEUE_RECORD_OVERHEAD
   * bytes and the compacted file has at most one (its SEQ record, when the highest seq
   * is not pending); a file with just one is the compacted file, since a dead data record
   * comes with the ACK or DROP that killed it, and a lone ACK, DROP or lower SEQ leaves
   * the highest seq pending. A shed writes nothing to the file, so it must compact
   * whatever the sizes say: a shed record with no payload that had the highest seq is
   * exactly as big as the SEQ record that takes its place (found by
   * tests/fuzz/fuzz_evqueue.c), and skipping the compaction then brought it back at the
   * next open. */
  if (shed > 0 || q->end != compact_size(q)) {
    int crc = compact(q);
    if (crc < 0) {
      log_debug("compaction at open failed: %s", amp_strerror(crc));
      /* Unless only the directory sync failed (the new file is in place), the shed
       * records are still in the file: their DROP records keep them dropped (one small
       * append, which may fit where a whole new file does not). */
      if (shed > 0 && q->st.compactions == 0 &&
          (crc = write_tail(q, drops, shed * EVQUEUE_RECORD_OVERHEAD)) < 0)
        log_debug("writing the drops at open failed: %s", amp_strerror(crc));
    }
  }
  free(drops);
  *ret = q;
  return 0;
fail:
  evqueue_close(q);
  return rc;
}

int evqueue_append(struct evqueue *q, uint8_t kind, const void *payload, size_t len,
                   uint64_t *ret_seq) {
  if (!q || kind > EVQUEUE_KIND_MAX || (len > 0 && !payload))
    return -EINVAL;
  if (len > EVQUEUE_RECORD_MAX)
    return -AMP_ETOOBIG;
  if (q->next_seq > EVQUEUE_SEQ_MAX)
    return -EOVERFLOW;
  int rc;
  const size_t need = EVQUEUE_RECORD_OVERHEAD + len;
  /* Plan the drops: the oldest droppable records, until the new one fits. */
  bool fits;
  const size_t ndrop = plan_drops(q, 1, need, &fits);
  if (!fits)
    return -AMP_ETOOBIG;

  rc = reserve(q, q->n + 1);
  if (rc < 0)
    return rc;
  uint8_t *copy = NULL;
  if (len > 0) {
    copy = malloc(len);
    if (!copy)
      return -ENOMEM;
    memcpy(copy, payload, len);
  }
  /* One buffer, one write: an ACK that failed to save earlier, the DROP records, the new
   * record. A crash part-way leaves a prefix of whole records (fine: drops and an ack
   * are safe on their own) and a torn tail that the next open cuts. */
  size_t total =
      (q->ack_unsaved ? EVQUEUE_RECORD_OVERHEAD : 0) + ndrop * EVQUEUE_RECORD_OVERHEAD + need;
  uint8_t *buf = malloc(total);
  if (!buf) {
    rc = -ENOMEM;
    goto out_copy;
  }
  size_t off = 0;
  if (q->ack_unsaved)
    off += encode(buf + off, q->acked, EVQUEUE_KIND_ACK, NULL, 0);
  off += drop_records(q, ndrop, buf + off);
  const uint64_t seq = q->next_seq;
  off += encode(buf + off, seq, kind, payload, len);
  rc = write_tail(q, buf, off);
  free(buf);
  if (rc < 0)
    goto out_copy;

  q->ack_unsaved = false;
  forget_drops(q, ndrop);
  q->recs[q->n++] = (struct rec){.seq = seq, .payload = copy, .len = (uint32_t)len, .kind = kind};
  q->live_bytes += need;
  q->next_seq++;
  maybe_compact(q);
  if (ret_seq)
    *ret_seq = seq;
  return 0;

out_copy:
  free(copy);
  return rc;
}

size_t evqueue_count(const struct evqueue *q) {
  return q ? q->n : 0;
}

int evqueue_peek(const struct evqueue *q, size_t i, struct evqueue_record *ret) {
  if (!q || !ret)
    return -EINVAL;
  if (i >= q->n)
    return -ENOENT;
  const struct rec *r = &q->recs[i];
  *ret =
      (struct evqueue_record){.seq = r->seq, .kind = r->kind, .payload = r->payload, .len = r->len};
  return 0;
}

int evqueue_ack(struct evqueue *q, uint64_t seq) {
  if (!q || seq >= q->next_seq)
    return -EINVAL;
  /* An ack at or below an earlier one changes nothing, but when that one's write failed
   * it is the caller's retry: write it again, so that 0 still means durable. */
  if (seq <= q->acked && !q->ack_unsaved)
    return 0;
  if (seq > q->acked) {
    q->acked = seq;
    if (remove_upto(q, seq) == 0 && !q->ack_unsaved)
      return 0; /* nothing pending at or below seq: nothing a restart could resend */
  }
  uint8_t rec[EVQUEUE_RECORD_OVERHEAD];
  size_t sz = encode(rec, q->acked, EVQUEUE_KIND_ACK, NULL, 0);
  int rc = write_tail(q, rec, sz);
  q->ack_unsaved = rc < 0;
  maybe_compact(q);
  /* A compaction drops the acknowledged records from the file: durable after all. */
  return q->ack_unsaved ? rc : 0;
}

void evqueue_stats(const struct evqueue *q, struct evqueue_stats *ret) {
  if (!ret)
    return;
  *ret = (struct evqueue_stats){0};
  if (!q)
    return;
  *ret = q->st;
  ret->pending = q->n;
  ret->pending_bytes = q->live_bytes;
  ret->file_bytes = q->end;
  ret->next_seq = q->next_seq;
}

void evqueue_close(struct evqueue *q) {
  if (!q)
    return;
  if (q->fd >= 0)
    close(q->fd);
  for (size_t i = 0; i < q->n; i++)
    free(q->recs[i].payload);
  free(q->recs);
  free(q->path);
  free(q->tmp_path);
  free(q->dir);
  free(q);
}
