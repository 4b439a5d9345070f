/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_EVQUEUE_H
#define AMPD_CLOUD_EVQUEUE_H

#include <stddef.h>
#include <stdint.h>

/*
 * evqueue: a durable, bounded, append-only queue in one file, the storage under the
 * playback-event reporter. Storage only: no HTTP, no JSON, no threads (one thread owns a
 * queue). Library-like: logs at debug only, the caller logs a failure once.
 *
 * File format. A sequence of records, every integer little-endian:
 *
 *   [u32 magic EVQUEUE_MAGIC][u32 len][u64 seq][u8 kind][len payload bytes][u32 crc]
 *
 * crc is the CRC-32 (IEEE 802.3, the zlib/PNG one) of every byte of the record before
 * it. A record is EVQUEUE_RECORD_OVERHEAD + len bytes, len <= EVQUEUE_RECORD_MAX.
 * Kinds 0..EVQUEUE_KIND_MAX are the caller's; three kinds above are reserved control
 * records with len 0 whose seq names their target:
 *   ACK  seq: every record up to and including seq has been sent;
 *   DROP seq: that one (droppable) record was dropped to make room;
 *   SEQ  seq: the highest sequence number handed out so far (keeps numbering monotonic
 *             across a compaction that leaves no record behind).
 * Data records carry strictly increasing seqs, starting at 1, at most EVQUEUE_SEQ_MAX;
 * no record names a seq above it.
 *
 * Reading (evqueue_open). Records are read in order until the first one that is not
 * whole and valid: a short header, a short body, a wrong magic, an impossible length
 * (over EVQUEUE_RECORD_MAX, or a control record with a payload), a bad CRC, a reserved
 * kind that is not one of the three, a seq out of order or above EVQUEUE_SEQ_MAX. That record and
 * EVERYTHING after it is dropped: the file is truncated back to the end of the last good record and
 * the drop counted in the stats (torn_tails, torn_bytes). A torn tail (a crash in the middle of an
 * append) is the expected case; corruption in the middle of the file also loses the good records
 * behind it. Nothing is ever misread: a record is only returned whole and CRC-checked.
 *
 * Durability. evqueue_append() writes the record with one write at the end of the
 * file and fdatasync()s before it returns 0: the record survives kill -9 and power
 * loss from then on. If the write or the sync fails (ENOSPC, EIO, EFBIG past
 * RLIMIT_FSIZE) the file is truncated back to its previous end and the error returned:
 * no torn record is left behind and nothing already queued is lost. evqueue_ack()
 * appends an ACK record the same way, so an acknowledged record is not handed out
 * again after a restart; if that write fails the ack still takes effect in memory and
 * is written with the next append or compaction, and in between a restart may resend
 * those records (the event's eventId makes that harmless).
 *
 * Compaction. Acknowledged and dropped records stay in the file as dead bytes until
 * the pending records are rewritten to "<path>.tmp" in the same directory, fsync()ed,
 * renamed over the queue and the directory fsync()ed. That happens when dead bytes
 * are more than half of the file, and at open whenever the file holds anything but the
 * pending records. A crash at any point leaves either the old or the new file. A
 * failed compaction fails no call; it is counted (compact_failures) and retried at the
 * next mutating call that finds it due.
 *
 * Bounds and memory. The pending records are held in memory (payload copies): at most
 * max_records records and max_bytes bytes counted as their on-disk size (overhead +
 * payload). The file is at most about twice that between compactions. When an append
 * would exceed a bound, the oldest pending records whose kind is in droppable_mask are
 * dropped (stats: dropped) until it fits; if it cannot fit even with every droppable
 * record gone, nothing is dropped and the append returns -AMP_ETOOBIG. A file written
 * with larger limits is read whole; its droppable records are then dropped down to the
 * current limits, durably (the open compacts; if that fails it appends a DROP record for
 * each; if that fails too, say on a full disk, the dropped records are still in the
 * file, and a later open drops them again only as far as its own limits need: after
 * acks, or under larger limits, some come back), precious ones beyond them are kept
 * (never lost) and only block appends until acked.
 *
 * Ownership: the queue owns its file descriptor and every payload; a payload pointer
 * from evqueue_peek() is valid until the next call that mutates the queue (append,
 * ack, close). Errors: 0 or negative -errno / -AMP_E* (core/err.h).
 */

#define EVQUEUE_MAGIC 0x51505645u /* "EVPQ" in the file's little-endian bytes */
/* Largest payload of one record. */
#define EVQUEUE_RECORD_MAX (64u * 1024u)
/* magic + len + seq + kind + crc */
#define EVQUEUE_RECORD_OVERHEAD 21u
/* The highest seq a record may carry. Far beyond what appends reach (2^63 of them); a
 * file naming more is corrupt (a queue that took it would have no seq left to hand out,
 * or would hand out one that its next open refuses). */
#define EVQUEUE_SEQ_MAX (UINT64_MAX >> 1)
/* Caller kinds are 0..EVQUEUE_KIND_MAX, so that droppable_mask can name each by a bit. */
#define EVQUEUE_KIND_MAX 63u
/* Reserved control kinds (never returned by evqueue_peek). */
#define EVQUEUE_KIND_SEQ 0xfdu
#define EVQUEUE_KIND_DROP 0xfeu
#define EVQUEUE_KIND_ACK 0xffu

#define EVQUEUE_DEFAULT_MAX_BYTES (4u * 1024u * 1024u)
#define EVQUEUE_DEFAULT_MAX_RECORDS 10000u

struct evqueue;

struct evqueue_limits {
  size_t max_bytes;        /* 0: EVQUEUE_DEFAULT_MAX_BYTES */
  size_t max_records;      /* 0: EVQUEUE_DEFAULT_MAX_RECORDS */
  uint64_t droppable_mask; /* bit k set: records of kind k may be dropped to make room */
};

struct evqueue_record {
  uint64_t seq;
  uint8_t kind;
  const uint8_t *payload; /* owned by the queue; NULL when len is 0 */
  size_t len;
};

struct evqueue_stats {
  size_t pending;            /* records not yet acknowledged */
  size_t pending_bytes;      /* their on-disk size */
  uint64_t file_bytes;       /* current size of the queue file */
  uint64_t torn_tails;       /* times a torn or corrupt tail was cut at open (0 or 1) */
  uint64_t torn_bytes;       /* bytes cut with it */
  uint64_t dropped;          /* droppable records dropped to make room (this open) */
  uint64_t compactions;      /* compactions done (this open, including the one at open) */
  uint64_t compact_failures; /* compactions that failed (old file kept) */
  uint64_t next_seq;         /* the seq the next append will get */
};

/* Opens or creates (mode 0600) the queue file at path and reads it (see above). lim may
 * be NULL for the defaults. The file must be a regular file (-EINVAL for a FIFO or
 * device, -EISDIR for a directory, -ELOOP for a symlink) owned by the effective uid
 * (-EPERM); the mode of an existing file is left as it is. -EBUSY when another open queue holds the
 * file (flock). -ENOMEM, or the -errno of a failed read, truncate or sync. *ret is set only on
 * success. */
int evqueue_open(const char *path, const struct evqueue_limits *lim, struct evqueue **ret);

/* Appends one record of kind (0..EVQUEUE_KIND_MAX, -EINVAL otherwise) with len payload
 * bytes (payload may be NULL when len is 0), durable when this returns 0; *ret_seq (may
 * be NULL) gets its seq. -AMP_ETOOBIG when len > EVQUEUE_RECORD_MAX or the bounds cannot
 * make room (see above); -EOVERFLOW when the last seq handed out was EVQUEUE_SEQ_MAX;
 * -errno of the write or sync, with the file as before. */
int evqueue_append(struct evqueue *q, uint8_t kind, const void *payload, size_t len,
                   uint64_t *ret_seq);

/* Number of pending records. */
size_t evqueue_count(const struct evqueue *q);

/* The i-th pending record, oldest first: 0, or -ENOENT when i >= evqueue_count(). */
int evqueue_peek(const struct evqueue *q, size_t i, struct evqueue_record *ret);

/* Marks every record with a seq <= seq as sent: they leave the queue at once. -EINVAL
 * for a seq never handed out. 0 when the ack is durable; a -errno of the write or sync
 * means the ack took effect in memory but may be lost on a restart (see above). Acking
 * a seq at or below an earlier ack is a no-op, unless the write of an earlier ack failed
 * and no append has written it since: then it is written again (the retry), with the
 * same return values. */
int evqueue_ack(struct evqueue *q, uint64_t seq);

void evqueue_stats(const struct evqueue *q, struct evqueue_stats *ret);

/* Closes the file and frees everything; accepts NULL. Nothing is written. */
void evqueue_close(struct evqueue *q);

#endif
