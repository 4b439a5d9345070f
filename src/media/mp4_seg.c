/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mp4: media segments (moof + mdat): sample timing, byte ranges and CENC parameters.
 *
 * Offsets are computed in uint64_t/int64_t from values that are each checked against
 * the buffer (at most MP4_MAX_SEGMENT_SIZE), so no sum can wrap. Every sample of every
 * traf must lie inside an mdat of the buffer: a wrong data base then fails loudly
 * instead of handing out the wrong bytes (docs/media.md §3).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "media/mp4_int.h"

LOG_TOPIC("mp4");

#define FOURCC MP4_FOURCC

#define MAX_TRUNS 256  /* trun boxes in one traf */
#define MAX_MDATS 4096 /* mdat boxes in one segment */

/* tfhd flags */
#define TFHD_BASE_DATA_OFFSET 0x000001u
#define TFHD_SDI 0x000002u
#define TFHD_DURATION 0x000008u
#define TFHD_SIZE 0x000010u
#define TFHD_FLAGS 0x000020u
#define TFHD_BASE_IS_MOOF 0x020000u
/* trun flags */
#define TRUN_DATA_OFFSET 0x000001u
#define TRUN_FIRST_FLAGS 0x000004u
#define TRUN_DURATION 0x000100u
#define TRUN_SIZE 0x000200u
#define TRUN_FLAGS 0x000400u
#define TRUN_CTO 0x000800u
/* senc flags */
#define SENC_SUBSAMPLES 0x000002u
#define PIFF_OVERRIDE 0x000001u

static const uint8_t piff_senc_uuid[16] = {0xa2, 0x39, 0x4f, 0x52, 0x5a, 0x9b, 0x4f, 0x14,
                                           0xa2, 0x44, 0x6c, 0x42, 0x7c, 0x64, 0x8d, 0xf4};

struct seg_sample {
  struct mp4_sample s; /* subsamples is set on the way out */
  uint32_t sub_first;  /* index into mp4_segment.subs */
};

struct mp4_segment {
  struct seg_sample *samples;
  size_t count, cap;
  struct mp4_subsample *subs;
  size_t sub_count, sub_cap;
  struct mp4_pssh pssh[MP4_MAX_PSSH];
  size_t pssh_count;
};

struct range {
  size_t start, end;
};

struct ctx {
  const struct mp4_init *in;
  const uint8_t *buf;
  size_t len;
  uint64_t file_offset;
  struct mp4_segment *seg;
  size_t trun_samples; /* all tracks, for the loop bound */
  bool have_time;      /* next_dt is known (a tfdt was seen for our track) */
  uint64_t next_dt;
  struct range mdat[MAX_MDATS];
  size_t mdat_count;
  size_t mdat_hint; /* where the last sample was found */
};

/* What one traf holds, gathered before anything is interpreted. */
struct traf {
  struct mp4_box tfhd, tfdt, senc, saiz, saio, sbgp;
  bool has_tfhd, has_tfdt, has_senc, senc_piff, has_saiz, has_saio, has_sbgp;
  struct mp4_box trun[MAX_TRUNS];
  size_t trun_count;
  struct mp4_crypt seig[MP4_MAX_SEIG];
  uint32_t seig_count;
  size_t trun_first[MAX_TRUNS]; /* index of each trun's first sample, within the traf */
};

static struct mp4_rd box_rd(const uint8_t *buf, const struct mp4_box *b) {
  return mp4_rd_make(mp4_box_body(buf, b), mp4_box_body_len(b));
}

static int grow(void **p, size_t *cap, size_t need, size_t elem, size_t max) {
  if (need <= *cap)
    return 0;
  if (need > max)
    return -AMP_ETOOBIG;
  size_t n = *cap ? *cap : 64;
  while (n < need)
    n *= 2;
  if (n > max)
    n = max;
  void *q = realloc(*p, n * elem);
  if (!q)
    return -ENOMEM;
  *p = q;
  *cap = n;
  return 0;
}

static const struct mp4_trex *find_trex(const struct mp4_init *in, uint32_t track_id) {
  for (uint32_t i = 0; i < in->trex_count; i++)
    if (in->trex[i].track_id == track_id)
      return &in->trex[i];
  return NULL;
}

static int collect_traf(const struct ctx *c, const struct mp4_box *tb, struct traf *t) {
  size_t pos = tb->start + tb->hdr, end = tb->start + tb->size;
  struct mp4_box b;
  int rc;
  while ((rc = mp4_box_next(c->buf, &pos, end, &b)) > 0) {
    switch (b.type) {
    case FOURCC('t', 'f', 'h', 'd'):
      if (t->has_tfhd)
        return -AMP_EMP4;
      t->tfhd = b;
      t->has_tfhd = true;
      break;
    case FOURCC('t', 'f', 'd', 't'):
      if (t->has_tfdt)
        return -AMP_EMP4;
      t->tfdt = b;
      t->has_tfdt = true;
      break;
    case FOURCC('t', 'r', 'u', 'n'):
      if (t->trun_count >= MAX_TRUNS)
        return -AMP_ETOOBIG;
      t->trun[t->trun_count++] = b;
      break;
    case FOURCC('s', 'e', 'n', 'c'):
    case FOURCC('u', 'u', 'i', 'd'): {
      bool piff = b.type != FOURCC('s', 'e', 'n', 'c');
      if (piff && memcmp(b.usertype, piff_senc_uuid, 16) != 0)
        break;
      if (t->has_senc)
        return -AMP_EMP4; /* two sources of IVs: refuse rather than pick one */
      t->senc = b;
      t->has_senc = true;
      t->senc_piff = piff;
      break;
    }
    case FOURCC('s', 'a', 'i', 'z'):
    case FOURCC('s', 'a', 'i', 'o'): {
      struct mp4_rd r = box_rd(c->buf, &b);
      uint8_t v;
      uint32_t f;
      if (mp4_rd_fullbox(&r, &v, &f) < 0)
        return -AMP_EMP4;
      if (f & 1) {
        uint32_t type = mp4_rd_u32(&r);
        if (r.bad)
          return -AMP_EMP4;
        /* aux info of another kind than CENC sample auxiliary information */
        if (type != FOURCC('c', 'e', 'n', 'c') && type != FOURCC('c', 'e', 'n', 's') &&
            type != FOURCC('c', 'b', 'c', '1') && type != FOURCC('c', 'b', 'c', 's'))
          break;
      }
      bool *has = b.type == FOURCC('s', 'a', 'i', 'z') ? &t->has_saiz : &t->has_saio;
      if (*has)
        return -AMP_EMP4;
      *has = true;
      if (b.type == FOURCC('s', 'a', 'i', 'z'))
        t->saiz = b;
      else
        t->saio = b;
      break;
    }
    case FOURCC('s', 'b', 'g', 'p'): {
      struct mp4_rd r = box_rd(c->buf, &b);
      uint8_t v;
      uint32_t f;
      if (mp4_rd_fullbox(&r, &v, &f) < 0)
        return -AMP_EMP4;
      if (mp4_rd_u32(&r) != FOURCC('s', 'e', 'i', 'g'))
        break;
      if (t->has_sbgp)
        return -AMP_EMP4;
      t->sbgp = b;
      t->has_sbgp = true;
      break;
    }
    case FOURCC('s', 'g', 'p', 'd'): {
      struct mp4_rd r = box_rd(c->buf, &b);
      uint8_t v;
      uint32_t f, type;
      if (mp4_rd_fullbox(&r, &v, &f) < 0)
        return -AMP_EMP4;
      rc = mp4_sgpd_parse(&r, v, &type, t->seig, &t->seig_count, NULL);
      if (rc < 0)
        return rc;
      break;
    }
    default:
      break;
    }
  }
  if (rc < 0)
    return rc;
  return t->has_tfhd ? 0 : -AMP_EMP4;
}

/* Does [off, off+size) lie inside one mdat body? Samples mostly follow each other, so
 * the mdat of the previous hit is tried first. */
static bool in_mdat(struct ctx *c, uint64_t off, uint64_t size) {
  for (size_t k = 0; k < c->mdat_count; k++) {
    size_t i = (c->mdat_hint + k) % c->mdat_count;
    if (off >= c->mdat[i].start && off <= c->mdat[i].end && size <= c->mdat[i].end - off) {
      c->mdat_hint = i;
      return true;
    }
  }
  return false;
}

/* One sample's aux info (IV + subsamples) from r, which must be consumed exactly. */
static int parse_aux(struct ctx *c, struct mp4_rd *r, bool subsamples, struct seg_sample *ss,
                     uint8_t iv_size) {
  struct mp4_sample *s = &ss->s;
  uint8_t iv[16] = {0};
  mp4_rd_bytes(r, iv, iv_size);
  uint16_t n = subsamples ? mp4_rd_u16(r) : 0;
  if (r->bad)
    return -AMP_EMP4;
  if (n > MP4_MAX_SUBSAMPLES)
    return -AMP_ETOOBIG;
  if (n > mp4_rd_left(r) / 6)
    return -AMP_EMP4;
  if (!s->encrypted) {
    mp4_rd_skip(r, (size_t)n * 6); /* a clear sample's record, if any, says nothing */
    return 0;
  }
  if (iv_size > 0) { /* else the constant IV set before stays */
    memcpy(s->iv, iv, sizeof(iv));
    s->iv_size = iv_size;
  }
  struct mp4_segment *g = c->seg;
  int rc = grow((void **)&g->subs, &g->sub_cap, g->sub_count + n, sizeof(*g->subs),
                MP4_MAX_SUBSAMPLES_TOTAL);
  if (rc < 0)
    return rc;
  uint64_t sum = 0;
  ss->sub_first = (uint32_t)g->sub_count;
  for (uint16_t i = 0; i < n; i++) {
    struct mp4_subsample *x = &g->subs[g->sub_count + i];
    x->clear_bytes = mp4_rd_u16(r);
    x->protected_bytes = mp4_rd_u32(r);
    sum += (uint64_t)x->clear_bytes + x->protected_bytes;
  }
  if (r->bad || (n > 0 && sum != s->size))
    return -AMP_EMP4;
  g->sub_count += n;
  s->subsample_count = n;
  return 0;
}

/* The crypt parameters of each sample, from its 'seig' group or tenc; sets the sample
 * fields and ivn[i], the size of the per-sample IV in its aux info (0 when clear or for a
 * constant IV). */
static int sample_groups(const struct ctx *c, const struct traf *t,
                         const struct mp4_sample_entry *e, struct seg_sample *smp, size_t n,
                         uint8_t *ivn) {
  struct mp4_rd g = mp4_rd_make(NULL, 0);
  uint32_t left = 0, index = 0, entries = 0;
  if (t->has_sbgp) {
    uint8_t v;
    uint32_t f;
    g = box_rd(c->buf, &t->sbgp);
    if (mp4_rd_fullbox(&g, &v, &f) < 0)
      return -AMP_EMP4;
    mp4_rd_skip(&g, v == 1 ? 8 : 4); /* grouping_type [, parameter] */
    entries = mp4_rd_u32(&g);
    if (g.bad || entries > mp4_rd_left(&g) / 8)
      return -AMP_EMP4;
  }
  for (size_t i = 0; i < n; i++) {
    while (left == 0 && entries > 0) {
      left = mp4_rd_u32(&g);
      index = mp4_rd_u32(&g);
      entries--;
    }
    if (left == 0)
      index = 0; /* past the end of the sbgp: no group */
    else
      left--;
    const struct mp4_crypt *cr = &e->tenc;
    if (index > 0x10000) {
      if (index - 0x10001 >= t->seig_count)
        return -AMP_EMP4;
      cr = &t->seig[index - 0x10001];
    } else if (index > 0) {
      if (index - 1 >= c->in->seig_count)
        return -AMP_EMP4;
      cr = &c->in->seig[index - 1];
    }
    struct mp4_sample *s = &smp[i].s;
    ivn[i] = cr->is_protected ? cr->iv_size : 0;
    if (!cr->is_protected)
      continue;
    s->encrypted = true;
    s->scheme = e->scheme_type;
    s->crypt_byte_block = cr->crypt_byte_block;
    s->skip_byte_block = cr->skip_byte_block;
    memcpy(s->kid, cr->kid, 16);
    if (cr->iv_size == 0) {
      memcpy(s->iv, cr->constant_iv, sizeof(s->iv));
      s->iv_size = cr->constant_iv_size;
    }
  }
  return g.bad ? -AMP_EMP4 : 0;
}

/* senc or the PIFF senc: one record per sample; remembers where each record is. */
static int read_senc(struct ctx *c, const struct traf *t, struct seg_sample *smp, size_t n,
                     uint8_t *ivn, size_t *rec_off, size_t *rec_len) {
  struct mp4_rd r = box_rd(c->buf, &t->senc);
  uint8_t v;
  uint32_t f;
  if (mp4_rd_fullbox(&r, &v, &f) < 0)
    return -AMP_EMP4;
  if (t->senc_piff && (f & PIFF_OVERRIDE)) {
    mp4_rd_skip(&r, 3); /* AlgorithmID */
    uint8_t iv_size = mp4_rd_u8(&r);
    uint8_t kid[16];
    mp4_rd_bytes(&r, kid, 16);
    if (r.bad || (iv_size != 8 && iv_size != 16))
      return -AMP_EMP4;
    for (size_t i = 0; i < n; i++) {
      if (smp[i].s.encrypted) {
        ivn[i] = iv_size;
        memcpy(smp[i].s.kid, kid, 16);
      }
    }
  }
  uint32_t count = mp4_rd_u32(&r);
  if (r.bad || count != n)
    return -AMP_EMP4;
  size_t body = t->senc.start + t->senc.hdr;
  for (size_t i = 0; i < n; i++) {
    size_t at = r.pos;
    int rc = parse_aux(c, &r, f & SENC_SUBSAMPLES, &smp[i], ivn[i]);
    if (rc < 0)
      return rc;
    rec_off[i] = body + at;
    rec_len[i] = r.pos - at;
  }
  /* bytes after the last record: the IV size we derived is not the writer's */
  return mp4_rd_left(&r) == 0 ? 0 : -AMP_EMP4;
}

/* saiz/saio: read the aux info when there is no senc, else check that it is the same. */
static int read_saio(struct ctx *c, const struct traf *t, struct seg_sample *smp, size_t n,
                     const uint8_t *ivn, uint64_t base, const size_t *rec_off,
                     const size_t *rec_len) {
  const uint8_t *buf = c->buf;
  struct mp4_rd z = box_rd(buf, &t->saiz), o = box_rd(buf, &t->saio);
  uint8_t zv, ov;
  uint32_t zf, of;
  if (mp4_rd_fullbox(&z, &zv, &zf) < 0 || mp4_rd_fullbox(&o, &ov, &of) < 0)
    return -AMP_EMP4;
  if (zf & 1)
    mp4_rd_skip(&z, 8); /* aux_info_type, parameter */
  if (of & 1)
    mp4_rd_skip(&o, 8);
  uint8_t def = mp4_rd_u8(&z);
  uint32_t zcount = mp4_rd_u32(&z);
  uint32_t ocount = mp4_rd_u32(&o);
  if (z.bad || o.bad || zcount != n || (def == 0 && mp4_rd_left(&z) < n))
    return -AMP_EMP4;
  /* one offset for all samples, or one per trun */
  if (n > 0 && ocount != 1 && ocount != t->trun_count)
    return -AMP_EMP4;
  const uint8_t *sizes = z.p + z.pos;
  uint64_t pos = 0;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    while ((ocount == 1 && i == 0) || (ocount > 1 && k < t->trun_count && t->trun_first[k] <= i)) {
      uint64_t off = ov == 1 ? mp4_rd_u64(&o) : mp4_rd_u32(&o);
      if (o.bad || off > c->len || base > c->len - off)
        return -AMP_EMP4;
      pos = base + off;
      k++;
      if (ocount == 1)
        break;
    }
    size_t sz = def ? def : sizes[i];
    if (sz > c->len - pos || sz < ivn[i])
      return -AMP_EMP4;
    if (rec_off) {
      if (sz != rec_len[i] || memcmp(buf + pos, buf + rec_off[i], sz) != 0) {
        log_debug("senc and saiz/saio disagree at sample %zu", i);
        return -AMP_EMP4;
      }
    } else {
      struct mp4_rd a = mp4_rd_make(buf + pos, sz);
      int rc = parse_aux(c, &a, sz > ivn[i], &smp[i], ivn[i]);
      if (rc < 0)
        return rc;
      if (mp4_rd_left(&a) != 0)
        return -AMP_EMP4;
    }
    pos += sz;
  }
  return 0;
}

/* Encryption of the traf's samples seg->samples[first, first+n) of entry e. base is the
 * traf's data base, which saio offsets count from too. */
static int traf_crypt(struct ctx *c, const struct traf *t, const struct mp4_sample_entry *e,
                      size_t first, size_t n, uint64_t base) {
  /* samples is NULL for a traf with no samples so far: no arithmetic on it then */
  struct seg_sample *smp = n ? c->seg->samples + first : NULL;
  size_t m = n ? n : 1;
  uint8_t *ivn = malloc(m);
  size_t *rec_off = malloc(m * sizeof(*rec_off));
  size_t *rec_len = malloc(m * sizeof(*rec_len));
  int rc = -ENOMEM;
  if (!ivn || !rec_off || !rec_len)
    goto out;
  rc = sample_groups(c, t, e, smp, n, ivn);
  if (rc < 0)
    goto out;
  if (t->has_senc && (rc = read_senc(c, t, smp, n, ivn, rec_off, rec_len)) < 0)
    goto out;
  rc = -AMP_EMP4;
  if (t->has_saiz != t->has_saio)
    goto out;
  if (t->has_saiz) {
    rc = read_saio(c, t, smp, n, ivn, base, t->has_senc ? rec_off : NULL,
                   t->has_senc ? rec_len : NULL);
    if (rc < 0)
      goto out;
  } else if (!t->has_senc) {
    for (size_t i = 0; i < n; i++)
      if (ivn[i])
        goto out; /* encrypted samples whose IVs are nowhere */
  }
  rc = 0;
out:
  free(ivn);
  free(rec_off);
  free(rec_len);
  return rc;
}

static int read_tfdt(const struct ctx *c, const struct traf *t, uint64_t *ret) {
  struct mp4_rd r = box_rd(c->buf, &t->tfdt);
  uint8_t v;
  uint32_t f;
  if (mp4_rd_fullbox(&r, &v, &f) < 0 || v > 1)
    return -AMP_EMP4;
  *ret = v == 1 ? mp4_rd_u64(&r) : mp4_rd_u32(&r);
  return r.bad ? -AMP_EMP4 : 0;
}

/* A traf of any track: walks its truns (so that the next traf's implicit data base is
 * known) and, for our track, appends the samples. *data_end: in, the end of the previous
 * traf's data; out, the end of this one's. */
static int parse_traf(struct ctx *c, size_t moof_start, const struct mp4_box *tb, bool first_traf,
                      uint64_t *data_end) {
  const struct mp4_init *in = c->in;
  struct mp4_segment *seg = c->seg;
  struct traf *t = calloc(1, sizeof(*t));
  if (!t)
    return -ENOMEM;
  int rc = collect_traf(c, tb, t);
  if (rc < 0)
    goto out;

  struct mp4_rd r = box_rd(c->buf, &t->tfhd);
  uint8_t v;
  uint32_t f;
  rc = -AMP_EMP4;
  if (mp4_rd_fullbox(&r, &v, &f) < 0)
    goto out;
  uint32_t track_id = mp4_rd_u32(&r);
  const struct mp4_trex *x = find_trex(in, track_id);
  uint64_t base;
  if (f & TFHD_BASE_DATA_OFFSET) {
    /* a file position: only meaningful with the buffer's own position in the file */
    uint64_t bdo = mp4_rd_u64(&r);
    if (bdo < c->file_offset || bdo - c->file_offset > c->len)
      goto out;
    base = bdo - c->file_offset;
  } else if ((f & TFHD_BASE_IS_MOOF) || first_traf) {
    base = moof_start;
  } else {
    base = *data_end;
  }
  uint32_t sdi = (f & TFHD_SDI) ? mp4_rd_u32(&r) : x ? x->sample_description_index : 0;
  uint32_t def_dur = (f & TFHD_DURATION) ? mp4_rd_u32(&r) : x ? x->sample_duration : 0;
  uint32_t def_size = (f & TFHD_SIZE) ? mp4_rd_u32(&r) : x ? x->sample_size : 0;
  uint32_t def_flags = (f & TFHD_FLAGS) ? mp4_rd_u32(&r) : x ? x->sample_flags : 0;
  if (r.bad)
    goto out;

  bool ours = track_id == in->track.track_id;
  const struct mp4_sample_entry *e = NULL;
  uint64_t dt = 0;
  if (ours) {
    if (sdi == 0 || sdi > in->entry_count)
      goto out;
    e = &in->entries[sdi - 1];
    if (t->has_tfdt) {
      if ((rc = read_tfdt(c, t, &dt)) < 0)
        goto out;
    } else if (c->have_time) {
      dt = c->next_dt;
    } else {
      rc = -AMP_EUNSUPPORTED; /* no tfdt: the time of the segment is unknown */
      goto out;
    }
  }

  size_t first = seg->count, idx = 0;
  uint64_t pos = base;
  for (size_t k = 0; k < t->trun_count; k++) {
    struct mp4_rd tr = box_rd(c->buf, &t->trun[k]);
    uint8_t tv;
    uint32_t tf;
    rc = -AMP_EMP4;
    if (mp4_rd_fullbox(&tr, &tv, &tf) < 0)
      goto out;
    uint32_t count = mp4_rd_u32(&tr);
    t->trun_first[k] = idx;
    if (tf & TRUN_DATA_OFFSET) {
      int64_t p = (int64_t)base + (int32_t)mp4_rd_u32(&tr);
      if (p < 0 || (uint64_t)p > c->len)
        goto out;
      pos = (uint64_t)p;
    } /* else: after the previous trun's data, or at the base for the first */
    uint32_t first_flags = (tf & TRUN_FIRST_FLAGS) ? mp4_rd_u32(&tr) : def_flags;
    size_t fs = 4 * (size_t)(!!(tf & TRUN_DURATION) + !!(tf & TRUN_SIZE) + !!(tf & TRUN_FLAGS) +
                             !!(tf & TRUN_CTO));
    if (tr.bad || (fs && count > mp4_rd_left(&tr) / fs))
      goto out;
    rc = -AMP_ETOOBIG;
    if (count > MP4_MAX_SAMPLES - c->trun_samples)
      goto out;
    c->trun_samples += count;
    if (ours && (rc = grow((void **)&seg->samples, &seg->cap, seg->count + count,
                           sizeof(*seg->samples), MP4_MAX_SAMPLES)) < 0)
      goto out;
    rc = -AMP_EMP4;
    for (uint32_t i = 0; i < count; i++) {
      uint32_t dur = (tf & TRUN_DURATION) ? mp4_rd_u32(&tr) : def_dur;
      uint32_t size = (tf & TRUN_SIZE) ? mp4_rd_u32(&tr) : def_size;
      uint32_t flags = (tf & TRUN_FLAGS) ? mp4_rd_u32(&tr) : i == 0 ? first_flags : def_flags;
      uint32_t cto_raw = (tf & TRUN_CTO) ? mp4_rd_u32(&tr) : 0;
      int64_t cto = tv == 0 ? (int64_t)cto_raw : (int64_t)(int32_t)cto_raw;
      if (tr.bad || cto > INT32_MAX || size > c->len - pos)
        goto out;
      if (size > 0 && !in_mdat(c, pos, size)) {
        log_debug("sample %zu of track %u at %llu+%u is outside every mdat", idx, track_id,
                  (unsigned long long)pos, size);
        goto out;
      }
      if (ours) {
        struct seg_sample *ss = &seg->samples[seg->count++];
        int64_t pts;
        memset(ss, 0, sizeof(*ss));
        if (dt > INT64_MAX || __builtin_add_overflow((int64_t)dt, cto, &pts) ||
            __builtin_sub_overflow(pts, in->track.edit_media_time, &pts))
          goto out;
        ss->s.decode_time = dt;
        ss->s.pts = pts;
        ss->s.duration = dur;
        ss->s.composition_offset = (int32_t)cto;
        ss->s.offset = (size_t)pos;
        ss->s.size = size;
        ss->s.sample_description_index = sdi;
        ss->s.flags = flags;
        if (__builtin_add_overflow(dt, dur, &dt))
          goto out;
      }
      pos += size;
      idx++;
    }
  }
  *data_end = pos;
  rc = 0;
  if (ours) {
    c->have_time = true;
    c->next_dt = dt;
    if (e->has_sinf)
      rc = traf_crypt(c, t, e, first, seg->count - first, base);
  }
out:
  free(t);
  return rc;
}

static int parse_moof(struct ctx *c, const struct mp4_box *mb) {
  size_t pos = mb->start + mb->hdr, end = mb->start + mb->size;
  struct mp4_box b;
  bool first_traf = true;
  uint64_t data_end = mb->start;
  int rc;
  while ((rc = mp4_box_next(c->buf, &pos, end, &b)) > 0) {
    if (b.type == FOURCC('t', 'r', 'a', 'f')) {
      rc = parse_traf(c, mb->start, &b, first_traf, &data_end);
      first_traf = false;
    } else if (b.type == FOURCC('p', 's', 's', 'h')) {
      struct mp4_segment *seg = c->seg;
      if (seg->pssh_count >= MP4_MAX_PSSH || b.size > MP4_MAX_PSSH_SIZE)
        rc = -AMP_ETOOBIG;
      else if ((rc = mp4_pssh_parse(c->buf, &b, &seg->pssh[seg->pssh_count])) == 0)
        seg->pssh_count++;
    }
    if (rc < 0)
      return rc;
  }
  return rc;
}

int mp4_segment_parse(const struct mp4_init *init, const uint8_t *buf, size_t len,
                      uint64_t file_offset, struct mp4_segment **ret) {
  if (!init || (!buf && len))
    return -EINVAL;
  if (len > MP4_MAX_SEGMENT_SIZE)
    return -AMP_ETOOBIG;
  struct ctx *c = calloc(1, sizeof(*c));
  struct mp4_segment *seg = calloc(1, sizeof(*seg));
  int rc = -ENOMEM;
  if (!c || !seg)
    goto fail;
  *c = (struct ctx){.in = init, .buf = buf, .len = len, .file_offset = file_offset, .seg = seg};

  /* pass 1: the mdat bodies, which sample data must lie in */
  size_t pos = 0;
  struct mp4_box b;
  while ((rc = mp4_box_next(buf, &pos, len, &b)) > 0) {
    if (b.type != FOURCC('m', 'd', 'a', 't'))
      continue;
    if (c->mdat_count >= MAX_MDATS) {
      rc = -AMP_ETOOBIG;
      goto fail;
    }
    c->mdat[c->mdat_count++] = (struct range){b.start + b.hdr, b.start + b.size};
  }
  if (rc < 0)
    goto fail;

  /* pass 2: the fragments */
  size_t moofs = 0;
  pos = 0;
  while ((rc = mp4_box_next(buf, &pos, len, &b)) > 0) {
    if (b.type != FOURCC('m', 'o', 'o', 'f'))
      continue;
    moofs++;
    if ((rc = parse_moof(c, &b)) < 0)
      goto fail;
  }
  if (rc < 0)
    goto fail;
  rc = -AMP_EMP4;
  if (moofs == 0)
    goto fail;
  log_debug("segment: %zu bytes, %zu moof, %zu samples", len, moofs, seg->count);
  free(c);
  *ret = seg;
  return 0;
fail:
  free(c);
  mp4_segment_free(seg);
  return rc;
}

void mp4_segment_free(struct mp4_segment *seg) {
  if (!seg)
    return;
  free(seg->samples);
  free(seg->subs);
  free(seg);
}

size_t mp4_segment_sample_count(const struct mp4_segment *seg) {
  return seg->count;
}

int mp4_segment_sample(const struct mp4_segment *seg, size_t i, struct mp4_sample *ret) {
  if (i >= seg->count)
    return -EINVAL;
  *ret = seg->samples[i].s;
  ret->subsamples = ret->subsample_count ? &seg->subs[seg->samples[i].sub_first] : NULL;
  return 0;
}

uint64_t mp4_segment_end_time(const struct mp4_segment *seg) {
  if (seg->count == 0)
    return 0;
  const struct mp4_sample *s = &seg->samples[seg->count - 1].s;
  return s->decode_time + s->duration;
}

size_t mp4_segment_pssh_count(const struct mp4_segment *seg) {
  return seg->pssh_count;
}

const struct mp4_pssh *mp4_segment_pssh(const struct mp4_segment *seg, size_t i) {
  return i < seg->pssh_count ? &seg->pssh[i] : NULL;
}
