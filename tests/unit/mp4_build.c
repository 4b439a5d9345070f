/* SPDX-License-Identifier: Apache-2.0 */
/* The mp4 test box writer (see mp4_build.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "media/mp4.h"
#include "mp4_build.h"

/* ---- a box writer ---- */

void bb_init(struct bb *b) {
  memset(b, 0, sizeof(*b));
  b->cap = 1 << 16;
  b->d = calloc(1, b->cap);
  assert_non_null(b->d);
}

void bb_free(struct bb *b) {
  free(b->d);
  b->d = NULL;
}

void bb_put(struct bb *b, const void *p, size_t n) {
  while (b->len + n > b->cap) {
    b->cap *= 2;
    b->d = realloc(b->d, b->cap);
    assert_non_null(b->d);
  }
  if (p)
    memcpy(b->d + b->len, p, n);
  else
    memset(b->d + b->len, 0, n);
  b->len += n;
}

void bb_be(struct bb *b, uint64_t v, int n) {
  uint8_t t[8];
  for (int i = 0; i < n; i++)
    t[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  bb_put(b, t, (size_t)n);
}
void bb_u8(struct bb *b, uint64_t v) {
  bb_be(b, v, 1);
}
void bb_u16(struct bb *b, uint64_t v) {
  bb_be(b, v, 2);
}
void bb_u24(struct bb *b, uint64_t v) {
  bb_be(b, v, 3);
}
void bb_u32(struct bb *b, uint64_t v) {
  bb_be(b, v, 4);
}
void bb_u64(struct bb *b, uint64_t v) {
  bb_be(b, v, 8);
}
void bb_zeros(struct bb *b, size_t n) {
  bb_put(b, NULL, n);
}
void bb_patch32(struct bb *b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++)
    b->d[at + (size_t)i] = (uint8_t)(v >> (8 * (3 - i)));
}
void bb_patch64(struct bb *b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; i++)
    b->d[at + (size_t)i] = (uint8_t)(v >> (8 * (7 - i)));
}

void bb_box(struct bb *b, const char *type) {
  assert_true(b->n < 32);
  b->open[b->n++] = b->len;
  bb_u32(b, 0);
  bb_put(b, type, 4);
}
void bb_fbox(struct bb *b, const char *type, unsigned v, uint32_t flags) {
  bb_box(b, type);
  bb_u8(b, v);
  bb_u24(b, flags);
}
size_t bb_end(struct bb *b) {
  size_t start = b->open[--b->n];
  bb_patch32(b, start, (uint32_t)(b->len - start));
  return start;
}

/* ---- init segments ---- */

const uint8_t KID1[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                          0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
const uint8_t KID2[16] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
                          0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
const uint8_t SYS_W3C[16] = {0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02,
                             0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b};
const uint8_t SYS_WV[16] = {0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                            0xa3, 0xc2, 0x7f, 0x27, 0xdc, 0xd5, 0x1d, 0x21};
const uint8_t DOPS[11] = {0x00, 0x02, 0x01, 0x38, 0x00, 0x00, 0xbb, 0x80, 0x00, 0x00, 0x00};

static void write_entry(struct bb *b, const struct init_opt *o, bool enc) {
  bb_box(b, enc ? "enca" : o->format);
  bb_zeros(b, 6);
  bb_u16(b, 1);
  bb_u16(b, o->qt_version);
  bb_zeros(b, 6);
  bb_u16(b, 2);
  bb_u16(b, 16);
  bb_zeros(b, 4);
  bb_u32(b, (uint64_t)o->entry_rate << 16);
  if (o->qt_version == 1) {
    bb_zeros(b, 16);
  } else if (o->qt_version == 2) {
    double rate = 44100.0;
    uint64_t bits;
    memcpy(&bits, &rate, 8);
    bb_u32(b, 72);
    bb_u64(b, bits);
    bb_u32(b, 6); /* channels */
    bb_u32(b, 0x7f000000);
    bb_zeros(b, 16);
  }
  if (strcmp(o->format, "Opus") == 0) {
    bb_box(b, "dOps");
    bb_put(b, DOPS, sizeof(DOPS));
    bb_end(b);
  } else {
    bb_fbox(b, "dfLa", 0, 0);
    bb_u8(b, 0x00); /* STREAMINFO, not last: a PADDING block follows */
    bb_u24(b, 34);
    bb_u16(b, 4608);
    bb_u16(b, 4608);
    bb_u24(b, 0);
    bb_u24(b, 0);
    bb_u64(b, ((uint64_t)o->flac_rate << 44) | (1ull << 41) | (23ull << 36));
    bb_zeros(b, 16);
    bb_u8(b, 0x81); /* PADDING, last */
    bb_u24(b, 4);
    bb_zeros(b, 4);
    bb_end(b);
  }
  bb_box(b, "btrt");
  bb_zeros(b, 12);
  bb_end(b);
  if (enc) {
    bb_box(b, "sinf");
    bb_box(b, "frma");
    bb_put(b, o->format, 4);
    bb_end(b);
    bb_fbox(b, "schm", 0, 0);
    bb_put(b, o->scheme ? o->scheme : "cenc", 4);
    bb_u32(b, 0x10000);
    bb_end(b);
    bb_box(b, "schi");
    bb_fbox(b, "tenc", o->tenc_version, 0);
    bb_u8(b, 0);
    bb_u8(b, o->tenc_version ? 0x19 : 0);
    bb_u8(b, o->tenc_protected);
    bb_u8(b, o->tenc_iv_size);
    bb_put(b, KID1, 16);
    if (o->tenc_protected && o->tenc_iv_size == 0) {
      bb_u8(b, o->const_iv_size);
      for (unsigned i = 0; i < o->const_iv_size; i++)
        bb_u8(b, 0xc0 + i);
    }
    bb_end(b);
    bb_end(b);
    bb_end(b);
  }
  bb_end(b);
}

static void write_trak(struct bb *b, const struct init_opt *o, uint32_t track_id,
                       const char *handler) {
  bb_box(b, "trak");
  bb_fbox(b, "tkhd", 0, 3);
  bb_u32(b, 0);
  bb_u32(b, 0);
  bb_u32(b, track_id);
  bb_zeros(b, 68);
  bb_end(b);
  if (o->elst_version >= 0) {
    bb_box(b, "edts");
    bb_fbox(b, "elst", (unsigned)o->elst_version, 0);
    bb_u32(b, o->elst_empty_first ? 2 : 1);
    if (o->elst_empty_first) {
      bb_be(b, 500, o->elst_version ? 8 : 4);
      bb_be(b, (uint64_t)-1, o->elst_version ? 8 : 4);
      bb_u32(b, 0x10000);
    }
    bb_be(b, o->elst_duration, o->elst_version ? 8 : 4);
    bb_be(b, (uint64_t)o->elst_media_time, o->elst_version ? 8 : 4);
    bb_u32(b, 0x10000);
    bb_end(b);
    bb_end(b);
  }
  bb_box(b, "mdia");
  bb_fbox(b, "mdhd", o->mdhd_version, 0);
  if (o->mdhd_version) {
    bb_u64(b, 1);
    bb_u64(b, 2);
    bb_u32(b, o->timescale);
    bb_u64(b, 0x123456789ull);
  } else {
    bb_u32(b, 1);
    bb_u32(b, 2);
    bb_u32(b, o->timescale);
    bb_u32(b, 777);
  }
  bb_u16(b, 0x55c4);
  bb_u16(b, 0);
  bb_end(b);
  bb_fbox(b, "hdlr", 0, 0);
  bb_u32(b, 0);
  bb_put(b, handler, 4);
  bb_zeros(b, 12);
  bb_put(b, "x", 2);
  bb_end(b);
  bb_box(b, "minf");
  bb_fbox(b, "smhd", 0, 0);
  bb_u32(b, 0);
  bb_end(b);
  bb_box(b, "stbl");
  bb_fbox(b, "stsd", 0, 0);
  if (strcmp(handler, "soun") == 0) {
    bb_u32(b, o->clear_copy ? 2 : 1);
    write_entry(b, o, o->enca);
    if (o->clear_copy)
      write_entry(b, o, false);
  } else {
    bb_u32(b, 1);
    bb_box(b, "avc1");
    bb_zeros(b, 78); /* a video entry: parsed as audio it would be nonsense */
    bb_end(b);
  }
  bb_end(b);
  bb_fbox(b, "stts", 0, 0);
  bb_u32(b, 0);
  bb_end(b);
  bb_fbox(b, "sgpd", 1, 0);
  bb_put(b, "roll", 4);
  bb_u32(b, 2);
  bb_u32(b, 1);
  bb_u16(b, 0xfffc);
  bb_end(b);
  if (o->stbl_seig) {
    bb_fbox(b, "sgpd", 1, 0);
    bb_put(b, "seig", 4);
    bb_u32(b, 0); /* lengths per entry */
    bb_u32(b, 2);
    bb_u32(b, 20);
    bb_zeros(b, 20); /* clear */
    bb_u32(b, 20);
    bb_u8(b, 0);
    bb_u8(b, 0);
    bb_u8(b, 1);
    bb_u8(b, 16);
    bb_put(b, KID2, 16);
    bb_end(b);
  }
  bb_end(b);
  bb_end(b);
  bb_end(b);
  bb_end(b);
}

void build_init(struct bb *b, const struct init_opt *o) {
  bb_init(b);
  bb_box(b, "ftyp");
  bb_put(b, "iso6", 4);
  bb_u32(b, 0);
  bb_put(b, "iso6dash", 8);
  bb_end(b);
  bb_box(b, "moov");
  bb_fbox(b, "mvhd", 0, 0);
  bb_u32(b, 0);
  bb_u32(b, 0);
  bb_u32(b, 1000);
  bb_zeros(b, 80);
  bb_end(b);
  if (o->video_first)
    write_trak(b, o, 7, "vide");
  write_trak(b, o, 1, "soun");
  if (!o->no_mvex) {
    bb_box(b, "mvex");
    if (o->mehd_duration) {
      bb_fbox(b, "mehd", 1, 0);
      bb_u64(b, o->mehd_duration);
      bb_end(b);
    }
    bb_fbox(b, "trex", 0, 0);
    bb_u32(b, 1);
    bb_u32(b, o->trex_sdi);
    bb_u32(b, 960);
    bb_u32(b, 0);
    bb_u32(b, 0);
    bb_end(b);
    bb_fbox(b, "trex", 0, 0);
    bb_u32(b, 2);
    bb_u32(b, 1);
    bb_u32(b, 1000);
    bb_u32(b, 5);
    bb_u32(b, 0);
    bb_end(b);
    bb_end(b);
  }
  if (o->pssh) {
    bb_fbox(b, "pssh", 1, 0);
    bb_put(b, SYS_W3C, 16);
    bb_u32(b, 2);
    bb_put(b, KID1, 16);
    bb_put(b, KID2, 16);
    bb_u32(b, 0);
    bb_end(b);
    bb_fbox(b, "pssh", 0, 0);
    bb_put(b, SYS_WV, 16);
    bb_u32(b, 3);
    bb_put(b, "\x12\x01\x02", 3);
    bb_end(b);
  }
  bb_end(b);
}

struct init_opt opus_opt(void) {
  return (struct init_opt){.format = "Opus",
                           .elst_version = 0,
                           .elst_media_time = 312,
                           .timescale = 48000,
                           .entry_rate = 48000,
                           .flac_rate = 48000,
                           .tenc_protected = 1,
                           .tenc_iv_size = 8,
                           .trex_sdi = 1};
}

struct mp4_init *parse_init(const struct init_opt *o) {
  struct bb b;
  struct mp4_init *in = NULL;
  build_init(&b, o);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), 0);
  bb_free(&b); /* the init keeps its own copy */
  return in;
}

/* ---- media segments ---- */

/* the IV byte k of sample i of traf (m, j) */
uint8_t iv_byte(int m, int j, uint32_t i, int k) {
  return (uint8_t)(0x40 * m + 0x10 * j + 3 * i + (uint32_t)k);
}
/* the marker byte of sample data */
uint8_t marker(int m, int j, uint32_t i) {
  return (uint8_t)(1 + 0x30 * m + 0x10 * j + i);
}

static void write_aux(struct bb *b, const struct traf_opt *t, int m, int j, uint32_t i) {
  for (int k = 0; k < (t->piff_override ? 16 : t->iv_size); k++)
    bb_u8(b, iv_byte(m, j, i, k));
  if (t->subs) {
    bb_u16(b, 2);
    bb_u16(b, 3);
    bb_u32(b, 4);
    bb_u16(b, 1);
    bb_u32(b, t->size[i] - 8 + (uint32_t)(i == 0 ? t->bad_subsum : 0));
  }
}

static uint32_t aux_size(const struct traf_opt *t) {
  return t->iv_size + (t->subs ? 2u + 12u : 0u);
}

void build_segment(struct bb *b, const struct seg_opt *o) {
  bb_init(b);
  if (o->prefix) {
    bb_box(b, "styp");
    bb_put(b, "msdh", 4);
    bb_u32(b, 0);
    bb_end(b);
    bb_fbox(b, "sidx", 1, 0);
    bb_zeros(b, 40);
    bb_end(b);
    bb_fbox(b, "emsg", 0, 0);
    bb_zeros(b, 20);
    bb_end(b);
    bb_box(b, "free");
    bb_end(b);
  }
  for (int m = 0; m < o->moofs; m++) {
    size_t doff_at[3] = {0}, saio_at[3][2] = {{0}}, bdo_at[3] = {0}, senc_iv[3] = {0};
    size_t moof = b->len;
    bb_box(b, "moof");
    bb_fbox(b, "mfhd", 0, 0);
    bb_u32(b, (uint32_t)m + 1);
    bb_end(b);
    if (o->moof_pssh && m == 0) {
      bb_fbox(b, "pssh", 0, 0);
      bb_put(b, SYS_WV, 16);
      bb_u32(b, 2);
      bb_put(b, "\x08\x01", 2);
      bb_end(b);
    }
    for (uint32_t j = 0; j < o->trafs[m]; j++) {
      const struct traf_opt *t = &o->t[m][j];
      bb_box(b, "traf");
      bb_fbox(b, "tfhd", 0, t->tfhd_flags);
      bb_u32(b, t->track_id ? t->track_id : 1);
      if (t->tfhd_flags & TFHD_BDO) {
        bdo_at[j] = b->len;
        bb_u64(b, 0);
      }
      if (t->tfhd_flags & TFHD_SDI)
        bb_u32(b, t->sdi);
      if (t->tfhd_flags & TFHD_DUR)
        bb_u32(b, t->def_dur);
      if (t->tfhd_flags & TFHD_SIZE)
        bb_u32(b, t->def_size);
      if (t->tfhd_flags & TFHD_FLAGS)
        bb_u32(b, t->def_flags);
      bb_end(b);
      if (t->tfdt_version >= 0) {
        bb_fbox(b, "tfdt", (unsigned)t->tfdt_version, 0);
        bb_be(b, t->tfdt, t->tfdt_version ? 8 : 4);
        bb_end(b);
      }
      uint32_t split = t->split ? t->split : t->n;
      for (int r = 0; r < (t->split ? 2 : 1); r++) {
        uint32_t from = r ? split : 0, to = r ? t->n : split;
        uint32_t fl = r ? t->trun_flags & ~(uint32_t)TRUN_DOFF : t->trun_flags;
        bb_fbox(b, "trun", t->trun_version, fl);
        bb_u32(b, to - from);
        if (fl & TRUN_DOFF) {
          doff_at[j] = b->len;
          bb_u32(b, 0);
        }
        if (fl & TRUN_FIRST)
          bb_u32(b, t->first_flags);
        for (uint32_t i = from; i < to; i++) {
          if (fl & TRUN_DUR)
            bb_u32(b, t->dur[i]);
          if (fl & TRUN_SIZE)
            bb_u32(b, t->size[i]);
          if (fl & TRUN_FLAGS)
            bb_u32(b, t->flags[i]);
          if (fl & TRUN_CTO)
            bb_u32(b, (uint32_t)t->cto[i]);
        }
        bb_end(b);
      }
      if (t->seig >= 0 || t->stbl_group > 0) {
        bb_fbox(b, "sbgp", 0, 0);
        bb_put(b, "seig", 4);
        bb_u32(b, 1);
        bb_u32(b, t->n);
        bb_u32(b, t->stbl_group > 0 ? (uint32_t)t->stbl_group : 0x10001);
        bb_end(b);
      }
      if (t->seig >= 0) {
        bb_fbox(b, "sgpd", 1, 0);
        bb_put(b, "seig", 4);
        bb_u32(b, 20);
        bb_u32(b, 1);
        bb_u8(b, 0);
        bb_u8(b, 0);
        bb_u8(b, (uint64_t)t->seig);
        bb_u8(b, t->seig ? t->iv_size : 0);
        if (t->seig)
          bb_put(b, KID2, 16);
        else
          bb_zeros(b, 16);
        bb_end(b);
      }
      if (t->enc == ENC_SENC || t->enc == ENC_SENC_SAIO || t->enc == ENC_PIFF) {
        if (t->enc == ENC_PIFF) {
          bb_box(b, "uuid");
          bb_put(b,
                 "\xa2\x39\x4f\x52\x5a\x9b\x4f\x14"
                 "\xa2\x44\x6c\x42\x7c\x64\x8d\xf4",
                 16);
          bb_u8(b, 0);
          bb_u24(b, (t->subs ? 2u : 0u) | (t->piff_override ? 1u : 0u));
          if (t->piff_override) {
            bb_u24(b, 1);
            bb_u8(b, 16);
            bb_put(b, KID2, 16);
          }
        } else {
          bb_fbox(b, "senc", 0, t->subs ? 2 : 0);
        }
        bb_u32(b, t->n);
        senc_iv[j] = b->len;
        for (uint32_t i = 0; i < t->n; i++)
          write_aux(b, t, m, (int)j, i);
        bb_end(b);
      }
      if (t->enc == ENC_SENC_SAIO || t->enc == ENC_SAIO) {
        bb_fbox(b, "saiz", 0, 0);
        bb_u8(b, aux_size(t));
        bb_u32(b, t->n);
        bb_end(b);
        int entries = t->saio_per_trun && t->split ? 2 : 1;
        bb_fbox(b, "saio", 0, 0);
        bb_u32(b, (uint64_t)entries);
        for (int e = 0; e < entries; e++) {
          saio_at[j][e] = b->len;
          bb_u32(b, 0);
        }
        bb_end(b);
      }
      bb_end(b);
    }
    bb_end(b);
    /* mdat: each traf's samples in order, then the aux info of ENC_SAIO trafs */
    bb_box(b, "mdat");
    size_t data_start[3], aux_start[3] = {0};
    for (uint32_t j = 0; j < o->trafs[m]; j++) {
      const struct traf_opt *t = &o->t[m][j];
      data_start[j] = b->len;
      for (uint32_t i = 0; i < t->n; i++) {
        uint32_t sz = t->size[i];
        for (uint32_t k = 0; k < sz; k++)
          bb_u8(b, t->track_id > 1 ? 0xee : t->fill ? t->fill : marker(m, (int)j, i));
      }
    }
    for (uint32_t j = 0; j < o->trafs[m]; j++) {
      const struct traf_opt *t = &o->t[m][j];
      if (t->enc != ENC_SAIO && !t->saio_copy)
        continue;
      aux_start[j] = b->len;
      for (uint32_t i = 0; i < t->n; i++)
        write_aux(b, t, m, (int)j, i);
      if (t->bad_saio)
        b->d[aux_start[j]] ^= 0xff;
    }
    bb_end(b);
    /* patch the data base, data offsets and saio offsets */
    for (uint32_t j = 0; j < o->trafs[m]; j++) {
      const struct traf_opt *t = &o->t[m][j];
      size_t base;
      if (t->tfhd_flags & TFHD_BDO) {
        base = data_start[j];
        bb_patch64(b, bdo_at[j], o->file_offset + base);
      } else if ((t->tfhd_flags & TFHD_MOOF) || j == 0) {
        base = moof;
      } else {
        base = data_start[j]; /* the previous traf's data ends here */
      }
      if (t->trun_flags & TRUN_DOFF)
        bb_patch32(b, doff_at[j], (uint32_t)(data_start[j] - base));
      size_t aux = t->enc == ENC_SAIO || t->saio_copy ? aux_start[j] : senc_iv[j];
      if (saio_at[j][0])
        bb_patch32(b, saio_at[j][0], (uint32_t)(aux - base));
      if (saio_at[j][1])
        bb_patch32(b, saio_at[j][1], (uint32_t)(aux + t->split * aux_size(t) - base));
    }
  }
}

/* a traf of n samples: sizes 10+i, durations 960 */
struct traf_opt traf_basic(uint32_t n, uint64_t tfdt) {
  struct traf_opt t = {.tfhd_flags = TFHD_MOOF,
                       .tfdt_version = 1,
                       .tfdt = tfdt,
                       .trun_flags = TRUN_DOFF | TRUN_DUR | TRUN_SIZE,
                       .n = n,
                       .seig = -1,
                       .iv_size = 8};
  for (uint32_t i = 0; i < n; i++) {
    t.dur[i] = 960;
    t.size[i] = 10 + i;
  }
  return t;
}

uint32_t bb_rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Find the first box of this type by scanning (test data only). */
size_t bb_find(const struct bb *b, const char *type) {
  for (size_t p = 4; p + 4 <= b->len; p++)
    if (memcmp(b->d + p, type, 4) == 0)
      return p - 4;
  fail_msg("no %s", type);
  return 0;
}
