/* SPDX-License-Identifier: Apache-2.0 */
#include "mp4w.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "box.h"
#include "cenc.h"
#include "core/err.h"

static const uint8_t WIDEVINE_ID[16] = {0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                                        0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed};
static const uint8_t COMMON_ID[16] = {0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02,
                                      0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b};

#define SUBS_PER_SAMPLE 2 /* hostile subsample map: two clear+protected pairs */
#define MAX_CONTENT_ID 64

static const uint32_t UNITY_MATRIX[9] = {0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000};

static void put_matrix(struct box_w *w) {
  for (int i = 0; i < 9; i++)
    box_u32(w, UNITY_MATRIX[i]);
}

/* Widevine PSSH data: a WidevinePsshData protobuf (fields 1 algorithm=AESCTR, 2 key_id,
 * 3 provider, 4 content_id, 9 protection_scheme), as shaka-packager writes it. */
int mp4w_pssh_widevine(const uint8_t kid[16], const char *content_id, uint8_t *out, size_t max) {
  size_t cid = strlen(content_id);
  if (cid > MAX_CONTENT_ID)
    return -EINVAL;
  uint8_t pb[128];
  size_t n = 0;
  pb[n++] = 0x08; /* 1: algorithm, varint 1 = AESCTR */
  pb[n++] = 0x01;
  pb[n++] = 0x12; /* 2: key_id */
  pb[n++] = 16;
  memcpy(pb + n, kid, 16);
  n += 16;
  pb[n++] = 0x1a; /* 3: provider */
  pb[n++] = 6;
  memcpy(pb + n, "ampack", 6);
  n += 6;
  pb[n++] = 0x22; /* 4: content_id */
  pb[n++] = (uint8_t)cid;
  memcpy(pb + n, content_id, cid);
  n += cid;
  pb[n++] = 0x48; /* 9: protection_scheme, varint of 'cenc' = 0x63656e63 */
  uint32_t v = 0x63656e63;
  while (v >= 0x80) {
    pb[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  pb[n++] = (uint8_t)v;

  struct box_w w;
  box_w_init(&w, max);
  box_open_full(&w, "pssh", 0, 0);
  box_bytes(&w, WIDEVINE_ID, 16);
  box_u32(&w, (uint32_t)n);
  box_bytes(&w, pb, n);
  box_close(&w);
  int r = box_w_finish(&w);
  if (r == 0) {
    memcpy(out, w.out.data, w.out.len);
    r = (int)w.out.len;
  }
  box_w_free(&w);
  return r;
}

int mp4w_pssh_common(const uint8_t kid[16], uint8_t *out, size_t max) {
  struct box_w w;
  box_w_init(&w, max);
  box_open_full(&w, "pssh", 1, 0);
  box_bytes(&w, COMMON_ID, 16);
  box_u32(&w, 1);
  box_bytes(&w, kid, 16);
  box_u32(&w, 0);
  box_close(&w);
  int r = box_w_finish(&w);
  if (r == 0) {
    memcpy(out, w.out.data, w.out.len);
    r = (int)w.out.len;
  }
  box_w_free(&w);
  return r;
}

static const char *codec_fourcc(const struct es *es) {
  return es->codec == ES_FLAC ? "fLaC" : "Opus";
}

static size_t iv_size(const struct mp4w_opts *o) {
  return (o->hostile & MP4W_H_IV16) ? 16 : 8;
}

static void put_sample_entry(struct box_w *w, const struct es *es, const struct mp4w_opts *o,
                             int protected_) {
  box_open(w, protected_ ? "enca" : codec_fourcc(es));
  box_zeros(w, 6);
  box_u16(w, 1); /* data_reference_index */
  box_zeros(w, 8);
  box_u16(w, (uint16_t)es->channels);
  box_u16(w, (uint16_t)es->bits);
  box_u16(w, 0);
  box_u16(w, 0);
  /* 16.16 rate; above 65535 Hz a divisor of the rate (the true rate is in STREAMINFO) */
  box_u32(w, (es->rate <= 65535 ? es->rate : 48000u) << 16);
  if (es->codec == ES_FLAC) {
    box_open_full(w, "dfLa", 0, 0);
    box_bytes(w, es->cfg, es->cfg_len);
    box_close(w);
  } else {
    box_open(w, "dOps");
    box_bytes(w, es->cfg, es->cfg_len);
    box_close(w);
  }
  if (protected_) {
    box_open(w, "sinf");
    box_open(w, "frma");
    box_fourcc(w, codec_fourcc(es));
    box_close(w);
    box_open_full(w, "schm", 0, 0);
    box_fourcc(w, "cenc");
    box_u32(w, 0x00010000);
    box_close(w);
    box_open(w, "schi");
    box_open_full(w, "tenc", 0, 0);
    box_u8(w, 0);
    box_u8(w, 0);
    box_u8(w, 1); /* default_isProtected */
    box_u8(w, (uint8_t)iv_size(o));
    box_bytes(w, o->kid, 16);
    box_close(w);
    box_close(w);
    box_close(w);
  }
  box_close(w);
}

static void put_empty_table(struct box_w *w, const char *fourcc, int extra_u32) {
  box_open_full(w, fourcc, 0, 0);
  if (extra_u32)
    box_u32(w, 0); /* stsz sample_size */
  box_u32(w, 0);   /* entry/sample count */
  box_close(w);
}

static int put_init(struct box_w *w, const struct es *es, const struct mp4w_opts *o) {
  uint32_t ts = es->rate;
  box_open(w, "ftyp");
  box_fourcc(w, "iso6");
  box_u32(w, 0);
  box_fourcc(w, "iso6");
  box_fourcc(w, "dash");
  box_fourcc(w, "mp41");
  box_close(w);

  box_open(w, "moov");
  box_open_full(w, "mvhd", 0, 0);
  box_u32(w, 0); /* creation, modification: none, for deterministic output */
  box_u32(w, 0);
  box_u32(w, ts);
  box_u32(w, 0); /* duration: fragmented */
  box_u32(w, 0x00010000);
  box_u16(w, 0x0100);
  box_zeros(w, 10);
  put_matrix(w);
  box_zeros(w, 24);
  box_u32(w, 2); /* next_track_ID */
  box_close(w);

  box_open(w, "trak");
  box_open_full(w, "tkhd", 0, 3); /* enabled, in movie */
  box_u32(w, 0);
  box_u32(w, 0);
  box_u32(w, 1); /* track_ID */
  box_u32(w, 0);
  box_u32(w, 0); /* duration */
  box_zeros(w, 8);
  box_u16(w, 0); /* layer */
  box_u16(w, 0); /* alternate_group */
  box_u16(w, 0x0100);
  box_u16(w, 0);
  put_matrix(w);
  box_u32(w, 0);
  box_u32(w, 0);
  box_close(w);
  if (es->priming) {
    /* Opus priming: the presentation starts priming samples into the media. */
    box_open(w, "edts");
    box_open_full(w, "elst", 1, 0);
    box_u32(w, 1);
    box_u64(w, es->valid); /* movie timescale == media timescale */
    box_u64(w, es->priming);
    box_u16(w, 1);
    box_u16(w, 0);
    box_close(w);
    box_close(w);
  }
  box_open(w, "mdia");
  box_open_full(w, "mdhd", 0, 0);
  box_u32(w, 0);
  box_u32(w, 0);
  box_u32(w, ts);
  box_u32(w, 0);
  box_u16(w, 0x55c4); /* 'und' */
  box_u16(w, 0);
  box_close(w);
  box_open_full(w, "hdlr", 0, 0);
  box_u32(w, 0);
  box_fourcc(w, "soun");
  box_zeros(w, 12);
  box_bytes(w, "SoundHandler", 13);
  box_close(w);
  box_open(w, "minf");
  box_open_full(w, "smhd", 0, 0);
  box_u32(w, 0);
  box_close(w);
  box_open(w, "dinf");
  box_open_full(w, "dref", 0, 0);
  box_u32(w, 1);
  box_open_full(w, "url ", 0, 1); /* self-contained */
  box_close(w);
  box_close(w);
  box_close(w);
  box_open(w, "stbl");
  box_open_full(w, "stsd", 0, 0);
  int form_a = o->encrypt && !(o->hostile & MP4W_H_SEIG);
  box_u32(w, form_a ? 2 : 1);
  put_sample_entry(w, es, o, o->encrypt);
  if (form_a)
    put_sample_entry(w, es, o, 0); /* the clear copy, index 2, for the clear lead */
  box_close(w);
  put_empty_table(w, "stts", 0);
  put_empty_table(w, "stsc", 0);
  put_empty_table(w, "stsz", 1);
  put_empty_table(w, "stco", 0);
  box_close(w); /* stbl */
  box_close(w); /* minf */
  box_close(w); /* mdia */
  box_close(w); /* trak */

  box_open(w, "mvex");
  box_open_full(w, "trex", 0, 0);
  box_u32(w, 1);
  box_u32(w, 1);
  box_u32(w, 0);
  box_u32(w, 0);
  box_u32(w, 0); /* every sample is a sync sample */
  box_close(w);
  box_close(w);

  if (o->encrypt) {
    uint8_t p[MP4W_MAX_PSSH];
    for (int s = 0; s < 2; s++) {
      int n;
      if (o->pssh[s]) { /* the key provider's box, as it gave it */
        if (o->pssh_len[s] == 0 || o->pssh_len[s] > MP4W_MAX_PSSH)
          return -EINVAL;
        memcpy(p, o->pssh[s], o->pssh_len[s]);
        n = (int)o->pssh_len[s];
      } else {
        n = s == 0 ? mp4w_pssh_widevine(o->kid, o->content_id, p, sizeof(p))
                   : mp4w_pssh_common(o->kid, p, sizeof(p));
      }
      if (n < 0)
        return n;
      box_bytes(w, p, (size_t)n);
    }
  }
  box_close(w); /* moov */
  return box_w_finish(w);
}

/* The IV of global sample index i. */
static void sample_iv(const struct mp4w_opts *o, uint64_t i, uint8_t iv[16]) {
  memcpy(iv, o->iv, 8);
  cenc_iv_add(iv, i);
  if (iv_size(o) == 16) {
    /* a nonzero block counter half that cannot wrap inside a sample */
    uint64_t lo = i << 20;
    for (int b = 0; b < 8; b++)
      iv[8 + b] = (uint8_t)(lo >> (56 - 8 * b));
  }
}

static void subsample_map(uint32_t size, struct cenc_subsample sub[SUBS_PER_SAMPLE]) {
  uint32_t c1 = size < 5 ? size : 5, rest = size - c1;
  uint32_t p1 = rest / 3;
  uint32_t c2 = rest - p1 < 2 ? rest - p1 : 2;
  sub[0] = (struct cenc_subsample){(uint16_t)c1, p1};
  sub[1] = (struct cenc_subsample){(uint16_t)c2, rest - p1 - c2};
}

/* One moof + mdat for samples [a, b). */
static int put_fragment(struct box_w *w, const struct es *es, const struct mp4w_opts *o,
                        struct cenc_key *key, size_t a, size_t b, uint64_t tfdt, uint32_t seq,
                        int encrypted) {
  int clear_lead = o->encrypt && !encrypted;
  int seig = clear_lead && (o->hostile & MP4W_H_SEIG);
  int subs = encrypted && (o->hostile & MP4W_H_SUBSAMPLE);
  size_t ivs = iv_size(o), count = b - a;
  size_t moof = box_w_pos(w);
  box_open(w, "moof");
  box_open_full(w, "mfhd", 0, 0);
  box_u32(w, seq);
  box_close(w);
  box_open(w, "traf");
  box_open_full(w, "tfhd", 0, 0x020000 | 0x000002); /* default-base-is-moof, sdi present */
  box_u32(w, 1);
  box_u32(w, clear_lead && !seig ? 2 : 1);
  box_close(w);
  if (o->hostile & MP4W_H_TFDT0) {
    if (tfdt > UINT32_MAX)
      return -AMP_ETOOBIG;
    box_open_full(w, "tfdt", 0, 0);
    box_u32(w, (uint32_t)tfdt);
  } else {
    box_open_full(w, "tfdt", 1, 0);
    box_u64(w, tfdt);
  }
  box_close(w);
  box_open_full(w, "trun", 0, 0x000001 | 0x000100 | 0x000200);
  box_u32(w, (uint32_t)count);
  size_t data_offset_at = box_w_pos(w);
  box_u32(w, 0);
  for (size_t i = a; i < b; i++) {
    box_u32(w, es->s[i].dur);
    box_u32(w, es->s[i].size);
  }
  box_close(w);
  size_t senc_at = 0, saio_at = 0;
  if (encrypted) {
    box_open_full(w, "senc", 0, subs ? 2 : 0);
    senc_at = box_w_pos(w) - 12;
    box_u32(w, (uint32_t)count);
    for (size_t i = a; i < b; i++) {
      uint8_t iv[16];
      sample_iv(o, i, iv);
      box_bytes(w, iv, ivs);
      if (subs) {
        struct cenc_subsample sub[SUBS_PER_SAMPLE];
        subsample_map(es->s[i].size, sub);
        box_u16(w, SUBS_PER_SAMPLE);
        for (int k = 0; k < SUBS_PER_SAMPLE; k++) {
          box_u16(w, sub[k].clear);
          box_u32(w, sub[k].protected_);
        }
      }
    }
    box_close(w);
    box_open_full(w, "saiz", 0, 0);
    box_u8(w, (uint8_t)(ivs + (subs ? 2 + 6 * SUBS_PER_SAMPLE : 0)));
    box_u32(w, (uint32_t)count);
    box_close(w);
    box_open_full(w, "saio", 0, 0);
    box_u32(w, 1);
    saio_at = box_w_pos(w);
    box_u32(w, 0);
    box_close(w);
  }
  if (seig) {
    box_open_full(w, "sbgp", 0, 0);
    box_fourcc(w, "seig");
    box_u32(w, 1);
    box_u32(w, (uint32_t)count);
    box_u32(w, 0x10001); /* first entry of this traf's sgpd */
    box_close(w);
    box_open_full(w, "sgpd", 1, 0);
    box_fourcc(w, "seig");
    box_u32(w, 20); /* default_length */
    box_u32(w, 1);
    box_u8(w, 0);
    box_u8(w, 0);
    box_u8(w, 0);     /* isProtected = 0 */
    box_u8(w, 0);     /* Per_Sample_IV_Size */
    box_zeros(w, 16); /* KID */
    box_close(w);
  }
  box_close(w); /* traf */
  box_close(w); /* moof */
  size_t moof_size = box_w_pos(w) - moof;
  box_patch_u32(w, data_offset_at, (uint32_t)(moof_size + 8));
  if (encrypted)
    box_patch_u32(w, saio_at, (uint32_t)(senc_at + 16 - moof));

  box_open(w, "mdat");
  size_t data_at = box_w_pos(w);
  for (size_t i = a; i < b; i++)
    box_bytes(w, es->data.data + es->s[i].off, es->s[i].size);
  box_close(w);
  int r = box_w_finish(w);
  if (r < 0 || !encrypted)
    return r;
  uint8_t *p = w->out.data + data_at;
  for (size_t i = a; i < b; i++) {
    uint8_t iv[16];
    struct cenc_subsample sub[SUBS_PER_SAMPLE];
    sample_iv(o, i, iv);
    if (subs)
      subsample_map(es->s[i].size, sub);
    r = cenc_crypt_sample(key, iv, ivs, sub, subs ? SUBS_PER_SAMPLE : 0, p, es->s[i].size);
    if (r < 0)
      return r;
    p += es->s[i].size;
  }
  return 0;
}

static void put_sidx(struct box_w *w, const struct es *es, size_t n_seg) {
  box_open_full(w, "sidx", 1, 0);
  box_u32(w, 1);
  box_u32(w, es->rate);
  box_u64(w, 0); /* earliest_presentation_time */
  box_u64(w, 0); /* first_offset: segments follow the sidx */
  box_u16(w, 0);
  box_u16(w, (uint16_t)n_seg);
  for (size_t i = 0; i < n_seg; i++) {
    box_u32(w, 0);           /* referenced_size, patched */
    box_u32(w, 0);           /* subsegment_duration, patched */
    box_u32(w, 0x90000000u); /* starts_with_SAP, SAP type 1 */
  }
  box_close(w);
}

int mp4w_write(const struct es *es, const struct mp4w_opts *o, struct mp4w_out *out) {
  if (es->n == 0 || es->rate == 0 || (o->content_id && strlen(o->content_id) > MAX_CONTENT_ID))
    return -EINVAL;
  /* Segment k holds the samples whose decode time falls in [k, k+1) * 10 s. */
  uint64_t seg_len = (uint64_t)es->rate * MP4W_SEGMENT_S;
  size_t n_seg = (size_t)((es_total_dur(es) - es->s[es->n - 1].dur) / seg_len) + 1;
  if (n_seg > MP4W_MAX_SEGMENTS)
    return -AMP_ETOOBIG;
  struct mp4w_opts opts = *o;
  if (!opts.content_id)
    opts.content_id = "";
  struct cenc_key key;
  int r = cenc_key_init(&key, o->key);
  if (r < 0)
    return r;
  struct box_w w;
  box_w_init(&w, MP4W_MAX_FILE);
  r = put_init(&w, es, &opts);
  if (r < 0)
    goto out;
  out->init_size = box_w_pos(&w);
  out->sidx_off = out->init_size;
  put_sidx(&w, es, n_seg);
  out->sidx_size = box_w_pos(&w) - out->sidx_off;
  size_t sidx_refs = out->sidx_off + 8 + 4 + 4 + 4 + 8 + 8 + 4;

  size_t i = 0;
  uint64_t t = 0;
  uint32_t seq = 1;
  out->max_bps = 0;
  for (size_t k = 0; k < n_seg; k++) {
    struct mp4w_seg *sg = &out->seg[k];
    sg->off = box_w_pos(&w);
    sg->start = t;
    sg->encrypted = o->encrypt && t >= (uint64_t)o->clear_lead_s * es->rate;
    size_t a = i;
    uint64_t end = (k + 1) * seg_len;
    while (i < es->n && (t < end || k == n_seg - 1)) {
      t += es->s[i].dur;
      i++;
    }
    size_t parts = (o->hostile & MP4W_H_MULTIMOOF) && i - a >= 2 ? 2 : 1;
    size_t mid = a + (i - a) / 2;
    uint64_t tmid = sg->start;
    for (size_t j = a; j < mid; j++)
      tmid += es->s[j].dur;
    if (parts == 1)
      r = put_fragment(&w, es, &opts, &key, a, i, sg->start, seq++, sg->encrypted);
    else {
      r = put_fragment(&w, es, &opts, &key, a, mid, sg->start, seq++, sg->encrypted);
      if (r == 0)
        r = put_fragment(&w, es, &opts, &key, mid, i, tmid, seq++, sg->encrypted);
    }
    if (r < 0)
      goto out;
    sg->size = box_w_pos(&w) - sg->off;
    sg->dur = t - sg->start;
    if (sg->size > 0x7fffffff || sg->dur > UINT32_MAX) {
      r = -AMP_ETOOBIG;
      goto out;
    }
    box_patch_u32(&w, sidx_refs + k * 12, (uint32_t)sg->size);
    box_patch_u32(&w, sidx_refs + k * 12 + 4, (uint32_t)sg->dur);
    uint64_t bps = sg->dur ? (sg->size * 8 * es->rate + sg->dur - 1) / sg->dur : 0;
    if (bps > out->max_bps)
      out->max_bps = bps > UINT32_MAX ? UINT32_MAX : (uint32_t)bps;
  }
  out->n_seg = n_seg;
  r = box_w_finish(&w);
  if (r < 0 || i != es->n) {
    r = r < 0 ? r : -EINVAL;
    goto out;
  }
  buf_done(&out->file);
  out->file = w.out;
  w.out = (struct buf)BUF_INIT(0);
out:
  box_w_free(&w);
  cenc_key_done(&key);
  return r;
}

void mp4w_out_done(struct mp4w_out *out) {
  if (out)
    buf_done(&out->file);
}
