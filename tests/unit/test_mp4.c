/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mp4 demuxer tests. Init and media segments are built here, box by box, with a small
 * writer, so that every field the parser hands out is known and asserted. Sample data
 * bytes carry a marker per sample, which proves the byte offsets (the data base).
 * Run with "dash <dir>" the binary instead parses the ffmpeg DASH files made by
 * tests/data/mp4/gen_dash.sh.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "media/mp4.h"

#define FCC(s) MP4_FOURCC((s)[0], (s)[1], (s)[2], (s)[3])

/* ---- a box writer ---- */

struct bb {
  uint8_t *d;
  size_t len, cap;
  size_t open[32];
  int n;
};

static void bb_init(struct bb *b) {
  memset(b, 0, sizeof(*b));
  b->cap = 1 << 16;
  b->d = calloc(1, b->cap);
  assert_non_null(b->d);
}

static void bb_free(struct bb *b) {
  free(b->d);
  b->d = NULL;
}

static void put(struct bb *b, const void *p, size_t n) {
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

static void be(struct bb *b, uint64_t v, int n) {
  uint8_t t[8];
  for (int i = 0; i < n; i++)
    t[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
  put(b, t, (size_t)n);
}
static void u8(struct bb *b, uint64_t v) {
  be(b, v, 1);
}
static void u16(struct bb *b, uint64_t v) {
  be(b, v, 2);
}
static void u24(struct bb *b, uint64_t v) {
  be(b, v, 3);
}
static void u32(struct bb *b, uint64_t v) {
  be(b, v, 4);
}
static void u64(struct bb *b, uint64_t v) {
  be(b, v, 8);
}
static void zeros(struct bb *b, size_t n) {
  put(b, NULL, n);
}
static void patch32(struct bb *b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; i++)
    b->d[at + (size_t)i] = (uint8_t)(v >> (8 * (3 - i)));
}
static void patch64(struct bb *b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; i++)
    b->d[at + (size_t)i] = (uint8_t)(v >> (8 * (7 - i)));
}

static void box(struct bb *b, const char *type) {
  assert_true(b->n < 32);
  b->open[b->n++] = b->len;
  u32(b, 0);
  put(b, type, 4);
}
static void fbox(struct bb *b, const char *type, unsigned v, uint32_t flags) {
  box(b, type);
  u8(b, v);
  u24(b, flags);
}
static size_t end(struct bb *b) {
  size_t start = b->open[--b->n];
  patch32(b, start, (uint32_t)(b->len - start));
  return start;
}

/* ---- init segments ---- */

static const uint8_t KID1[16] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
static const uint8_t KID2[16] = {0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
                                 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
static const uint8_t SYS_W3C[16] = {0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02,
                                    0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b};
static const uint8_t SYS_WV[16] = {0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce,
                                   0xa3, 0xc2, 0x7f, 0x27, 0xdc, 0xd5, 0x1d, 0x21};
static const uint8_t DOPS[11] = {0x00, 0x02, 0x01, 0x38, 0x00, 0x00, 0xbb, 0x80, 0x00, 0x00, 0x00};

struct init_opt {
  const char *format; /* "Opus" or "fLaC" */
  bool enca;          /* entry 1 protected */
  bool clear_copy;    /* form A: entry 2 = clear copy */
  const char *scheme; /* default "cenc" */
  unsigned tenc_version;
  uint8_t tenc_protected, tenc_iv_size, const_iv_size;
  int elst_version; /* -1: no edts */
  int64_t elst_media_time;
  uint64_t elst_duration;
  bool elst_empty_first;
  unsigned mdhd_version;
  uint32_t timescale;
  unsigned qt_version; /* 0, 1, 2 */
  uint32_t entry_rate; /* AudioSampleEntry samplerate integer */
  uint32_t flac_rate;  /* STREAMINFO */
  bool stbl_seig;      /* sgpd 'seig' in stbl: [clear, KID2 protected iv 16] */
  bool pssh;
  bool video_first; /* a 'vide' trak before the audio one */
  bool no_mvex;
  uint32_t trex_sdi;
};

static void write_entry(struct bb *b, const struct init_opt *o, bool enc) {
  box(b, enc ? "enca" : o->format);
  zeros(b, 6);
  u16(b, 1);
  u16(b, o->qt_version);
  zeros(b, 6);
  u16(b, 2);
  u16(b, 16);
  zeros(b, 4);
  u32(b, (uint64_t)o->entry_rate << 16);
  if (o->qt_version == 1) {
    zeros(b, 16);
  } else if (o->qt_version == 2) {
    double rate = 44100.0;
    uint64_t bits;
    memcpy(&bits, &rate, 8);
    u32(b, 72);
    u64(b, bits);
    u32(b, 6); /* channels */
    u32(b, 0x7f000000);
    zeros(b, 16);
  }
  if (strcmp(o->format, "Opus") == 0) {
    box(b, "dOps");
    put(b, DOPS, sizeof(DOPS));
    end(b);
  } else {
    fbox(b, "dfLa", 0, 0);
    u8(b, 0x00); /* STREAMINFO, not last: a PADDING block follows */
    u24(b, 34);
    u16(b, 4608);
    u16(b, 4608);
    u24(b, 0);
    u24(b, 0);
    u64(b, ((uint64_t)o->flac_rate << 44) | (1ull << 41) | (23ull << 36));
    zeros(b, 16);
    u8(b, 0x81); /* PADDING, last */
    u24(b, 4);
    zeros(b, 4);
    end(b);
  }
  box(b, "btrt");
  zeros(b, 12);
  end(b);
  if (enc) {
    box(b, "sinf");
    box(b, "frma");
    put(b, o->format, 4);
    end(b);
    fbox(b, "schm", 0, 0);
    put(b, o->scheme ? o->scheme : "cenc", 4);
    u32(b, 0x10000);
    end(b);
    box(b, "schi");
    fbox(b, "tenc", o->tenc_version, 0);
    u8(b, 0);
    u8(b, o->tenc_version ? 0x19 : 0);
    u8(b, o->tenc_protected);
    u8(b, o->tenc_iv_size);
    put(b, KID1, 16);
    if (o->tenc_protected && o->tenc_iv_size == 0) {
      u8(b, o->const_iv_size);
      for (unsigned i = 0; i < o->const_iv_size; i++)
        u8(b, 0xc0 + i);
    }
    end(b);
    end(b);
    end(b);
  }
  end(b);
}

static void write_trak(struct bb *b, const struct init_opt *o, uint32_t track_id,
                       const char *handler) {
  box(b, "trak");
  fbox(b, "tkhd", 0, 3);
  u32(b, 0);
  u32(b, 0);
  u32(b, track_id);
  zeros(b, 68);
  end(b);
  if (o->elst_version >= 0) {
    box(b, "edts");
    fbox(b, "elst", (unsigned)o->elst_version, 0);
    u32(b, o->elst_empty_first ? 2 : 1);
    if (o->elst_empty_first) {
      be(b, 500, o->elst_version ? 8 : 4);
      be(b, (uint64_t)-1, o->elst_version ? 8 : 4);
      u32(b, 0x10000);
    }
    be(b, o->elst_duration, o->elst_version ? 8 : 4);
    be(b, (uint64_t)o->elst_media_time, o->elst_version ? 8 : 4);
    u32(b, 0x10000);
    end(b);
    end(b);
  }
  box(b, "mdia");
  fbox(b, "mdhd", o->mdhd_version, 0);
  if (o->mdhd_version) {
    u64(b, 1);
    u64(b, 2);
    u32(b, o->timescale);
    u64(b, 0x123456789ull);
  } else {
    u32(b, 1);
    u32(b, 2);
    u32(b, o->timescale);
    u32(b, 777);
  }
  u16(b, 0x55c4);
  u16(b, 0);
  end(b);
  fbox(b, "hdlr", 0, 0);
  u32(b, 0);
  put(b, handler, 4);
  zeros(b, 12);
  put(b, "x", 2);
  end(b);
  box(b, "minf");
  fbox(b, "smhd", 0, 0);
  u32(b, 0);
  end(b);
  box(b, "stbl");
  fbox(b, "stsd", 0, 0);
  if (strcmp(handler, "soun") == 0) {
    u32(b, o->clear_copy ? 2 : 1);
    write_entry(b, o, o->enca);
    if (o->clear_copy)
      write_entry(b, o, false);
  } else {
    u32(b, 1);
    box(b, "avc1");
    zeros(b, 78); /* a video entry: parsed as audio it would be nonsense */
    end(b);
  }
  end(b);
  fbox(b, "stts", 0, 0);
  u32(b, 0);
  end(b);
  fbox(b, "sgpd", 1, 0);
  put(b, "roll", 4);
  u32(b, 2);
  u32(b, 1);
  u16(b, 0xfffc);
  end(b);
  if (o->stbl_seig) {
    fbox(b, "sgpd", 1, 0);
    put(b, "seig", 4);
    u32(b, 0); /* lengths per entry */
    u32(b, 2);
    u32(b, 20);
    zeros(b, 20); /* clear */
    u32(b, 20);
    u8(b, 0);
    u8(b, 0);
    u8(b, 1);
    u8(b, 16);
    put(b, KID2, 16);
    end(b);
  }
  end(b);
  end(b);
  end(b);
  end(b);
}

static void build_init(struct bb *b, const struct init_opt *o) {
  bb_init(b);
  box(b, "ftyp");
  put(b, "iso6", 4);
  u32(b, 0);
  put(b, "iso6dash", 8);
  end(b);
  box(b, "moov");
  fbox(b, "mvhd", 0, 0);
  u32(b, 0);
  u32(b, 0);
  u32(b, 1000);
  zeros(b, 80);
  end(b);
  if (o->video_first)
    write_trak(b, o, 7, "vide");
  write_trak(b, o, 1, "soun");
  if (!o->no_mvex) {
    box(b, "mvex");
    fbox(b, "trex", 0, 0);
    u32(b, 1);
    u32(b, o->trex_sdi);
    u32(b, 960);
    u32(b, 0);
    u32(b, 0);
    end(b);
    fbox(b, "trex", 0, 0);
    u32(b, 2);
    u32(b, 1);
    u32(b, 1000);
    u32(b, 5);
    u32(b, 0);
    end(b);
    end(b);
  }
  if (o->pssh) {
    fbox(b, "pssh", 1, 0);
    put(b, SYS_W3C, 16);
    u32(b, 2);
    put(b, KID1, 16);
    put(b, KID2, 16);
    u32(b, 0);
    end(b);
    fbox(b, "pssh", 0, 0);
    put(b, SYS_WV, 16);
    u32(b, 3);
    put(b, "\x12\x01\x02", 3);
    end(b);
  }
  end(b);
}

static struct init_opt opus_opt(void) {
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

static struct mp4_init *parse_init(const struct init_opt *o) {
  struct bb b;
  struct mp4_init *in = NULL;
  build_init(&b, o);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), 0);
  bb_free(&b); /* the init keeps its own copy */
  return in;
}

/* ---- media segments ---- */

enum enc { ENC_NONE, ENC_SENC, ENC_SENC_SAIO, ENC_SAIO, ENC_PIFF };

#define TFHD_BDO 0x1
#define TFHD_SDI 0x2
#define TFHD_DUR 0x8
#define TFHD_SIZE 0x10
#define TFHD_FLAGS 0x20
#define TFHD_MOOF 0x20000
#define TRUN_DOFF 0x1
#define TRUN_FIRST 0x4
#define TRUN_DUR 0x100
#define TRUN_SIZE 0x200
#define TRUN_FLAGS 0x400
#define TRUN_CTO 0x800

#define MAXS 16

struct traf_opt {
  uint32_t track_id; /* 0 = 1 */
  uint32_t tfhd_flags;
  uint32_t sdi, def_dur, def_size, def_flags;
  int tfdt_version; /* -1 = no tfdt */
  uint64_t tfdt;
  unsigned trun_version;
  uint32_t trun_flags;
  uint32_t first_flags;
  uint32_t n;
  uint32_t dur[MAXS], size[MAXS], flags[MAXS];
  int32_t cto[MAXS];
  uint32_t split;     /* >0: a second trun (without data_offset) from this sample */
  bool saio_per_trun; /* one saio offset per trun */
  enum enc enc;
  uint8_t iv_size;
  bool subs;          /* two subsamples per sample: 3 clear, rest protected */
  int seig;           /* -1: none; 0/1: traf sgpd 'seig' isProtected, sbgp -> 0x10001 */
  int stbl_group;     /* >0: sbgp -> this stbl seig index instead */
  bool saio_copy;     /* ENC_SENC_SAIO: saio points at a copy of the aux info in mdat */
  bool bad_saio;      /* ... whose first byte differs from senc */
  int bad_subsum;     /* add this to the protected bytes of sample 0 */
  bool piff_override; /* PIFF senc flags&1: IV size 16 and KID2 in the box */
};

struct seg_opt {
  int moofs;
  uint32_t trafs[4]; /* number of trafs per moof */
  struct traf_opt t[4][3];
  uint64_t file_offset;
  bool prefix;    /* styp + sidx + emsg + free before the first moof */
  bool moof_pssh; /* a pssh in the first moof */
};

/* the IV byte k of sample i of traf (m, j) */
static uint8_t iv_byte(int m, int j, uint32_t i, int k) {
  return (uint8_t)(0x40 * m + 0x10 * j + 3 * i + (uint32_t)k);
}
/* the marker byte of sample data */
static uint8_t marker(int m, int j, uint32_t i) {
  return (uint8_t)(1 + 0x30 * m + 0x10 * j + i);
}

static void write_aux(struct bb *b, const struct traf_opt *t, int m, int j, uint32_t i) {
  for (int k = 0; k < (t->piff_override ? 16 : t->iv_size); k++)
    u8(b, iv_byte(m, j, i, k));
  if (t->subs) {
    u16(b, 2);
    u16(b, 3);
    u32(b, 4);
    u16(b, 1);
    u32(b, t->size[i] - 8 + (uint32_t)(i == 0 ? t->bad_subsum : 0));
  }
}

static uint32_t aux_size(const struct traf_opt *t) {
  return t->iv_size + (t->subs ? 2u + 12u : 0u);
}

static void build_segment(struct bb *b, const struct seg_opt *o) {
  bb_init(b);
  if (o->prefix) {
    box(b, "styp");
    put(b, "msdh", 4);
    u32(b, 0);
    end(b);
    fbox(b, "sidx", 1, 0);
    zeros(b, 40);
    end(b);
    fbox(b, "emsg", 0, 0);
    zeros(b, 20);
    end(b);
    box(b, "free");
    end(b);
  }
  for (int m = 0; m < o->moofs; m++) {
    size_t doff_at[3] = {0}, saio_at[3][2] = {{0}}, bdo_at[3] = {0}, senc_iv[3] = {0};
    size_t moof = b->len;
    box(b, "moof");
    fbox(b, "mfhd", 0, 0);
    u32(b, (uint32_t)m + 1);
    end(b);
    if (o->moof_pssh && m == 0) {
      fbox(b, "pssh", 0, 0);
      put(b, SYS_WV, 16);
      u32(b, 2);
      put(b, "\x08\x01", 2);
      end(b);
    }
    for (uint32_t j = 0; j < o->trafs[m]; j++) {
      const struct traf_opt *t = &o->t[m][j];
      box(b, "traf");
      fbox(b, "tfhd", 0, t->tfhd_flags);
      u32(b, t->track_id ? t->track_id : 1);
      if (t->tfhd_flags & TFHD_BDO) {
        bdo_at[j] = b->len;
        u64(b, 0);
      }
      if (t->tfhd_flags & TFHD_SDI)
        u32(b, t->sdi);
      if (t->tfhd_flags & TFHD_DUR)
        u32(b, t->def_dur);
      if (t->tfhd_flags & TFHD_SIZE)
        u32(b, t->def_size);
      if (t->tfhd_flags & TFHD_FLAGS)
        u32(b, t->def_flags);
      end(b);
      if (t->tfdt_version >= 0) {
        fbox(b, "tfdt", (unsigned)t->tfdt_version, 0);
        be(b, t->tfdt, t->tfdt_version ? 8 : 4);
        end(b);
      }
      uint32_t split = t->split ? t->split : t->n;
      for (int r = 0; r < (t->split ? 2 : 1); r++) {
        uint32_t from = r ? split : 0, to = r ? t->n : split;
        uint32_t fl = r ? t->trun_flags & ~(uint32_t)TRUN_DOFF : t->trun_flags;
        fbox(b, "trun", t->trun_version, fl);
        u32(b, to - from);
        if (fl & TRUN_DOFF) {
          doff_at[j] = b->len;
          u32(b, 0);
        }
        if (fl & TRUN_FIRST)
          u32(b, t->first_flags);
        for (uint32_t i = from; i < to; i++) {
          if (fl & TRUN_DUR)
            u32(b, t->dur[i]);
          if (fl & TRUN_SIZE)
            u32(b, t->size[i]);
          if (fl & TRUN_FLAGS)
            u32(b, t->flags[i]);
          if (fl & TRUN_CTO)
            u32(b, (uint32_t)t->cto[i]);
        }
        end(b);
      }
      if (t->seig >= 0 || t->stbl_group > 0) {
        fbox(b, "sbgp", 0, 0);
        put(b, "seig", 4);
        u32(b, 1);
        u32(b, t->n);
        u32(b, t->stbl_group > 0 ? (uint32_t)t->stbl_group : 0x10001);
        end(b);
      }
      if (t->seig >= 0) {
        fbox(b, "sgpd", 1, 0);
        put(b, "seig", 4);
        u32(b, 20);
        u32(b, 1);
        u8(b, 0);
        u8(b, 0);
        u8(b, (uint64_t)t->seig);
        u8(b, t->seig ? t->iv_size : 0);
        if (t->seig)
          put(b, KID2, 16);
        else
          zeros(b, 16);
        end(b);
      }
      if (t->enc == ENC_SENC || t->enc == ENC_SENC_SAIO || t->enc == ENC_PIFF) {
        if (t->enc == ENC_PIFF) {
          box(b, "uuid");
          put(b,
              "\xa2\x39\x4f\x52\x5a\x9b\x4f\x14"
              "\xa2\x44\x6c\x42\x7c\x64\x8d\xf4",
              16);
          u8(b, 0);
          u24(b, (t->subs ? 2u : 0u) | (t->piff_override ? 1u : 0u));
          if (t->piff_override) {
            u24(b, 1);
            u8(b, 16);
            put(b, KID2, 16);
          }
        } else {
          fbox(b, "senc", 0, t->subs ? 2 : 0);
        }
        u32(b, t->n);
        senc_iv[j] = b->len;
        for (uint32_t i = 0; i < t->n; i++)
          write_aux(b, t, m, (int)j, i);
        end(b);
      }
      if (t->enc == ENC_SENC_SAIO || t->enc == ENC_SAIO) {
        fbox(b, "saiz", 0, 0);
        u8(b, aux_size(t));
        u32(b, t->n);
        end(b);
        int entries = t->saio_per_trun && t->split ? 2 : 1;
        fbox(b, "saio", 0, 0);
        u32(b, (uint64_t)entries);
        for (int e = 0; e < entries; e++) {
          saio_at[j][e] = b->len;
          u32(b, 0);
        }
        end(b);
      }
      end(b);
    }
    end(b);
    /* mdat: each traf's samples in order, then the aux info of ENC_SAIO trafs */
    box(b, "mdat");
    size_t data_start[3], aux_start[3] = {0};
    for (uint32_t j = 0; j < o->trafs[m]; j++) {
      const struct traf_opt *t = &o->t[m][j];
      data_start[j] = b->len;
      for (uint32_t i = 0; i < t->n; i++) {
        uint32_t sz = t->size[i];
        for (uint32_t k = 0; k < sz; k++)
          u8(b, t->track_id > 1 ? 0xee : marker(m, (int)j, i));
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
    end(b);
    /* patch the data base, data offsets and saio offsets */
    for (uint32_t j = 0; j < o->trafs[m]; j++) {
      const struct traf_opt *t = &o->t[m][j];
      size_t base;
      if (t->tfhd_flags & TFHD_BDO) {
        base = data_start[j];
        patch64(b, bdo_at[j], o->file_offset + base);
      } else if ((t->tfhd_flags & TFHD_MOOF) || j == 0) {
        base = moof;
      } else {
        base = data_start[j]; /* the previous traf's data ends here */
      }
      if (t->trun_flags & TRUN_DOFF)
        patch32(b, doff_at[j], (uint32_t)(data_start[j] - base));
      size_t aux = t->enc == ENC_SAIO || t->saio_copy ? aux_start[j] : senc_iv[j];
      if (saio_at[j][0])
        patch32(b, saio_at[j][0], (uint32_t)(aux - base));
      if (saio_at[j][1])
        patch32(b, saio_at[j][1], (uint32_t)(aux + t->split * aux_size(t) - base));
    }
  }
}

/* a traf of n samples: sizes 10+i, durations 960 */
static struct traf_opt traf_basic(uint32_t n, uint64_t tfdt) {
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

/* Parse and check every sample against the options: offsets (markers), sizes, times,
 * sdi, encryption. Returns the segment for more checks. */
static struct mp4_segment *check_segment(const struct mp4_init *in, const struct seg_opt *o,
                                         struct bb *b) {
  struct mp4_segment *seg = NULL;
  build_segment(b, o);
  assert_int_equal(mp4_segment_parse(in, b->d, b->len, o->file_offset, &seg), 0);
  const struct mp4_track *tr = mp4_init_track(in);
  size_t k = 0;
  uint64_t dt_next = 0;
  for (int m = 0; m < o->moofs; m++) {
    for (uint32_t j = 0; j < o->trafs[m]; j++) {
      const struct traf_opt *t = &o->t[m][j];
      if (t->track_id > 1)
        continue;
      uint64_t dt = t->tfdt_version >= 0 ? t->tfdt : dt_next;
      for (uint32_t i = 0; i < t->n; i++, k++) {
        struct mp4_sample s;
        assert_int_equal(mp4_segment_sample(seg, k, &s), 0);
        uint32_t size = (t->trun_flags & TRUN_SIZE) ? t->size[i] : t->def_size;
        uint32_t dur = (t->trun_flags & TRUN_DUR) ? t->dur[i] : t->def_dur;
        int32_t cto = (t->trun_flags & TRUN_CTO) ? t->cto[i] : 0;
        assert_int_equal(s.size, size);
        assert_int_equal(s.duration, dur);
        assert_true(s.offset + s.size <= b->len);
        for (size_t x = 0; x < s.size; x++)
          assert_int_equal(b->d[s.offset + x], marker(m, (int)j, i));
        assert_int_equal(s.decode_time, dt);
        assert_int_equal(s.composition_offset, cto);
        assert_int_equal(s.pts, (int64_t)dt + cto - tr->edit_media_time);
        uint32_t sdi = (t->tfhd_flags & TFHD_SDI) ? t->sdi : tr->trex_sample_description_index;
        assert_int_equal(s.sample_description_index, sdi);
        dt += dur;
        const struct mp4_sample_entry *e = mp4_init_entry(in, sdi);
        bool enc = e->has_sinf && (t->seig >= 0 ? t->seig == 1 : e->tenc.is_protected);
        assert_int_equal(s.encrypted, enc);
        if (!enc) {
          assert_int_equal(s.iv_size, 0);
          assert_int_equal(s.subsample_count, 0);
          assert_null(s.subsamples);
          continue;
        }
        assert_int_equal(s.scheme, e->scheme_type);
        assert_memory_equal(s.kid, t->seig == 1 ? KID2 : KID1, 16);
        if (t->iv_size == 0) {
          assert_int_equal(s.iv_size, e->tenc.constant_iv_size);
          assert_memory_equal(s.iv, e->tenc.constant_iv, s.iv_size);
        } else {
          assert_int_equal(s.iv_size, t->iv_size);
          for (int x = 0; x < t->iv_size; x++)
            assert_int_equal(s.iv[x], iv_byte(m, (int)j, i, x));
        }
        if (t->subs) {
          assert_int_equal(s.subsample_count, 2);
          assert_int_equal(s.subsamples[0].clear_bytes, 3);
          assert_int_equal(s.subsamples[0].protected_bytes, 4);
          assert_int_equal(s.subsamples[1].clear_bytes, 1);
          assert_int_equal(s.subsamples[1].protected_bytes, size - 8);
        } else {
          assert_int_equal(s.subsample_count, 0);
        }
      }
      dt_next = dt;
    }
  }
  assert_int_equal(mp4_segment_sample_count(seg), k);
  struct mp4_sample s;
  assert_int_equal(mp4_segment_sample(seg, k, &s), -EINVAL);
  if (k > 0)
    assert_int_equal(mp4_segment_end_time(seg), dt_next);
  return seg;
}

static void run_segment(const struct init_opt *io, const struct seg_opt *so) {
  struct mp4_init *in = parse_init(io);
  struct bb b;
  struct mp4_segment *seg = check_segment(in, so, &b);
  mp4_segment_free(seg);
  bb_free(&b);
  mp4_init_free(in);
}

static int parse_segment_rc(const struct init_opt *io, const struct seg_opt *so) {
  struct mp4_init *in = parse_init(io);
  struct bb b;
  struct mp4_segment *seg = NULL;
  build_segment(&b, so);
  int rc = mp4_segment_parse(in, b.d, b.len, so->file_offset, &seg);
  if (rc == 0)
    mp4_segment_free(seg);
  bb_free(&b);
  mp4_init_free(in);
  return rc;
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Find the first box of this type by scanning (test data only). */
static size_t find(const struct bb *b, const char *type) {
  for (size_t p = 4; p + 4 <= b->len; p++)
    if (memcmp(b->d + p, type, 4) == 0)
      return p - 4;
  fail_msg("no %s", type);
  return 0;
}

/* ---- init tests ---- */

static void test_init_opus_clear(void **state) {
  (void)state;
  struct init_opt o = opus_opt();
  struct mp4_init *in = parse_init(&o);
  const struct mp4_track *t = mp4_init_track(in);
  assert_int_equal(mp4_init_major_brand(in), FCC("iso6"));
  assert_int_equal(t->track_id, 1);
  assert_int_equal(t->timescale, 48000);
  assert_int_equal(t->duration, 777);
  assert_int_equal(t->movie_timescale, 1000);
  assert_true(t->has_edit);
  assert_int_equal(t->edit_media_time, 312);
  assert_int_equal(t->edit_duration, 0);
  assert_true(t->has_roll);
  assert_int_equal(t->roll_distance, -4);
  assert_int_equal(t->trex_sample_description_index, 1);
  assert_int_equal(t->trex_sample_duration, 960);
  assert_int_equal(mp4_init_entry_count(in), 1);
  assert_null(mp4_init_entry(in, 0));
  assert_null(mp4_init_entry(in, 2));
  const struct mp4_sample_entry *e = mp4_init_entry(in, 1);
  assert_int_equal(e->fourcc, MP4_FORMAT_OPUS);
  assert_int_equal(e->format, MP4_FORMAT_OPUS);
  assert_int_equal(e->channel_count, 2);
  assert_int_equal(e->sample_size, 16);
  assert_int_equal(e->sample_rate, 48000);
  assert_false(e->has_sinf);
  assert_int_equal(e->config_size, sizeof(DOPS));
  assert_memory_equal(e->config, DOPS, sizeof(DOPS));
  struct mp4_codec c;
  assert_int_equal(mp4_init_codec(in, 1, &c), 0);
  assert_int_equal(c.format, MP4_FORMAT_OPUS);
  assert_int_equal(c.sample_rate, 48000);
  assert_int_equal(c.channels, 2);
  assert_int_equal(c.bits_per_sample, 16);
  assert_ptr_equal(c.config, e->config);
  assert_int_equal(mp4_init_codec(in, 2, &c), -EINVAL);
  assert_null(mp4_init_default_kid(in));
  assert_int_equal(mp4_init_pssh_count(in), 0);
  assert_null(mp4_init_pssh(in, 0));
  mp4_init_free(in);
  mp4_init_free(NULL);
}

static void test_init_flac_v1(void **state) {
  (void)state;
  struct init_opt o = opus_opt();
  o.format = "fLaC";
  o.mdhd_version = 1;
  o.timescale = 96000;
  o.entry_rate = 48000; /* a divisor: the rate comes from STREAMINFO */
  o.flac_rate = 96000;
  o.elst_version = 1;
  o.elst_media_time = 0;
  o.elst_duration = 5000;
  o.elst_empty_first = true;
  struct mp4_init *in = parse_init(&o);
  const struct mp4_track *t = mp4_init_track(in);
  assert_int_equal(t->timescale, 96000);
  assert_int_equal(t->duration, 0x123456789ull);
  assert_true(t->has_edit);
  assert_int_equal(t->edit_media_time, 0);
  assert_int_equal(t->edit_duration, 5000);
  const struct mp4_sample_entry *e = mp4_init_entry(in, 1);
  assert_int_equal(e->format, MP4_FORMAT_FLAC);
  assert_int_equal(e->sample_rate, 48000);
  assert_int_equal(e->config_size, 4 + 34 + 4 + 4);
  assert_int_equal(e->config[0], 0x00);
  assert_int_equal(e->config[3], 34);
  struct mp4_codec c;
  assert_int_equal(mp4_init_codec(in, 1, &c), 0);
  assert_int_equal(c.format, MP4_FORMAT_FLAC);
  assert_int_equal(c.sample_rate, 96000);
  assert_int_equal(c.channels, 2);
  assert_int_equal(c.bits_per_sample, 24);
  mp4_init_free(in);
}

static void test_init_enca_form_a(void **state) {
  (void)state;
  struct init_opt o = opus_opt();
  o.enca = true;
  o.clear_copy = true;
  o.pssh = true;
  struct mp4_init *in = parse_init(&o);
  assert_int_equal(mp4_init_entry_count(in), 2);
  const struct mp4_sample_entry *e = mp4_init_entry(in, 1);
  assert_int_equal(e->fourcc, FCC("enca"));
  assert_int_equal(e->format, MP4_FORMAT_OPUS);
  assert_true(e->has_sinf);
  assert_int_equal(e->scheme_type, MP4_SCHEME_CENC);
  assert_int_equal(e->scheme_version, 0x10000);
  assert_int_equal(e->tenc_version, 0);
  assert_int_equal(e->tenc.is_protected, 1);
  assert_int_equal(e->tenc.iv_size, 8);
  assert_int_equal(e->tenc.constant_iv_size, 0);
  assert_memory_equal(e->tenc.kid, KID1, 16);
  assert_memory_equal(e->config, DOPS, sizeof(DOPS));
  const struct mp4_sample_entry *e2 = mp4_init_entry(in, 2);
  assert_int_equal(e2->fourcc, MP4_FORMAT_OPUS);
  assert_false(e2->has_sinf);
  struct mp4_codec c;
  assert_int_equal(mp4_init_codec(in, 1, &c), 0);
  assert_int_equal(c.format, MP4_FORMAT_OPUS);
  assert_memory_equal(mp4_init_default_kid(in), KID1, 16);
  assert_int_equal(mp4_init_pssh_count(in), 2);
  const struct mp4_pssh *p = mp4_init_pssh(in, 0);
  assert_int_equal(p->version, 1);
  assert_memory_equal(p->system_id, SYS_W3C, 16);
  assert_int_equal(p->kid_count, 2);
  assert_memory_equal(p->kids, KID1, 16);
  assert_memory_equal(p->kids + 16, KID2, 16);
  assert_int_equal(p->data_size, 0);
  assert_int_equal(p->box_size, 8 + 4 + 16 + 4 + 32 + 4);
  assert_memory_equal(p->box + 4, "pssh", 4);
  p = mp4_init_pssh(in, 1);
  assert_int_equal(p->version, 0);
  assert_memory_equal(p->system_id, SYS_WV, 16);
  assert_int_equal(p->kid_count, 0);
  assert_int_equal(p->data_size, 3);
  assert_memory_equal(p->data, "\x12\x01\x02", 3);
  assert_int_equal(p->box_size, 8 + 4 + 16 + 4 + 3);
  mp4_init_free(in);
}

static void test_init_cbcs_constant_iv(void **state) {
  (void)state;
  struct init_opt o = opus_opt();
  o.enca = true;
  o.scheme = "cbcs";
  o.tenc_version = 1;
  o.tenc_iv_size = 0;
  o.const_iv_size = 16;
  struct mp4_init *in = parse_init(&o);
  const struct mp4_sample_entry *e = mp4_init_entry(in, 1);
  assert_int_equal(e->scheme_type, MP4_SCHEME_CBCS);
  assert_int_equal(e->tenc_version, 1);
  assert_int_equal(e->tenc.crypt_byte_block, 1);
  assert_int_equal(e->tenc.skip_byte_block, 9);
  assert_int_equal(e->tenc.iv_size, 0);
  assert_int_equal(e->tenc.constant_iv_size, 16);
  assert_int_equal(e->tenc.constant_iv[0], 0xc0);
  assert_int_equal(e->tenc.constant_iv[15], 0xcf);
  mp4_init_free(in);
}

static void test_init_quicktime_sound(void **state) {
  (void)state;
  struct init_opt o = opus_opt();
  o.qt_version = 1;
  struct mp4_init *in = parse_init(&o);
  const struct mp4_sample_entry *e = mp4_init_entry(in, 1);
  assert_int_equal(e->channel_count, 2);
  assert_int_equal(e->sample_rate, 48000);
  assert_memory_equal(e->config, DOPS, sizeof(DOPS)); /* children found after +16 */
  mp4_init_free(in);
  o.qt_version = 2;
  in = parse_init(&o);
  e = mp4_init_entry(in, 1);
  assert_int_equal(e->channel_count, 6);
  assert_int_equal(e->sample_rate, 44100);
  assert_memory_equal(e->config, DOPS, sizeof(DOPS)); /* after +36 */
  mp4_init_free(in);
}

static void test_init_video_track_first(void **state) {
  (void)state;
  struct init_opt o = opus_opt();
  o.video_first = true;
  struct mp4_init *in = parse_init(&o);
  assert_int_equal(mp4_init_track(in)->track_id, 1);
  assert_int_equal(mp4_init_entry(in, 1)->format, MP4_FORMAT_OPUS);
  mp4_init_free(in);
}

static void test_init_refusals(void **state) {
  (void)state;
  struct mp4_init *in = NULL;
  struct init_opt o = opus_opt();
  struct bb b;
  o.no_mvex = true;
  build_init(&b, &o);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EUNSUPPORTED);
  assert_null(in);
  bb_free(&b);
  o = opus_opt();
  build_init(&b, &o);
  /* no moov */
  assert_int_equal(mp4_init_parse(b.d, 20, &in), -AMP_EMP4);
  assert_int_equal(mp4_init_parse(b.d, 0, &in), -AMP_EMP4);
  assert_int_equal(mp4_init_parse(b.d, MP4_MAX_INIT_SIZE + 1u, &in), -AMP_ETOOBIG);
  bb_free(&b);
}

/* ---- segment tests ---- */

static void test_seg_ffmpeg_style(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  struct seg_opt so = {.moofs = 2, .trafs = {1, 1}, .prefix = true};
  /* ffmpeg: tfhd 0x020038, trun 0x201 (sizes only), tfdt v0 */
  struct traf_opt t = traf_basic(5, 0);
  t.tfhd_flags = TFHD_MOOF | TFHD_DUR | TFHD_SIZE | TFHD_FLAGS;
  t.def_dur = 960;
  t.def_size = 99;
  t.def_flags = 0x02000000;
  t.trun_flags = TRUN_DOFF | TRUN_SIZE;
  t.tfdt_version = 0;
  so.t[0][0] = t;
  /* the last fragment: no per-sample fields, a short last... here all default */
  struct traf_opt u = t;
  u.tfdt = 5 * 960;
  u.trun_flags = TRUN_DOFF;
  u.n = 3;
  u.def_size = 7;
  u.def_dur = 312;
  for (uint32_t i = 0; i < 3; i++)
    u.size[i] = 7;
  so.t[1][0] = u;
  struct mp4_init *in = parse_init(&io);
  struct bb b;
  struct mp4_segment *seg = check_segment(in, &so, &b);
  struct mp4_sample s;
  assert_int_equal(mp4_segment_sample_count(seg), 8);
  assert_int_equal(mp4_segment_sample(seg, 0, &s), 0);
  assert_int_equal(s.pts, -312); /* priming: the caller drops this PCM */
  assert_int_equal(s.flags, 0x02000000);
  assert_int_equal(mp4_segment_sample(seg, 7, &s), 0);
  assert_int_equal(s.decode_time, 5 * 960 + 2 * 312);
  assert_int_equal(s.duration, 312);
  assert_int_equal(mp4_segment_end_time(seg), 5 * 960 + 3 * 312);
  assert_int_equal(mp4_segment_pssh_count(seg), 0);
  mp4_segment_free(seg);
  bb_free(&b);
  mp4_init_free(in);
}

static void test_seg_fields_tfdt_v1_cto(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.elst_version = 1;
  io.elst_media_time = 0x100000000ll; /* v1: 64-bit */
  struct seg_opt so = {.moofs = 1, .trafs = {1}};
  struct traf_opt t = traf_basic(4, 0x123456789abull);
  t.trun_version = 1;
  t.trun_flags = TRUN_DOFF | TRUN_DUR | TRUN_SIZE | TRUN_FLAGS | TRUN_CTO | TRUN_FIRST;
  for (uint32_t i = 0; i < 4; i++) {
    t.dur[i] = 1000 + i;
    t.flags[i] = 0x10000 + i;
    t.cto[i] = (int32_t)i - 2;
  }
  so.t[0][0] = t;
  run_segment(&io, &so);
}

static void test_seg_base_data_offset_and_implicit(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  /* base_data_offset (absolute in the file) with the buffer at file position 123456 */
  struct seg_opt so = {.moofs = 1, .trafs = {1}, .file_offset = 123456};
  struct traf_opt t = traf_basic(3, 10);
  t.tfhd_flags = TFHD_BDO;
  so.t[0][0] = t;
  run_segment(&io, &so);
  /* the same buffer at another position: base_data_offset no longer lands in it */
  struct init_opt io2 = opus_opt();
  so.file_offset = 999999;
  struct mp4_init *in = parse_init(&io2);
  struct bb b;
  struct mp4_segment *seg = NULL;
  build_segment(&b, &so);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  bb_free(&b);
  mp4_init_free(in);

  /* implicit base: a foreign traf first, ours second without flags: data follows the
   * foreign traf's data; the first traf without flags starts at the moof */
  struct seg_opt s2 = {.moofs = 1, .trafs = {2}};
  struct traf_opt f = traf_basic(4, 0);
  f.track_id = 2;
  f.tfhd_flags = 0;
  f.trun_flags = TRUN_DOFF; /* sizes from trex of track 2: 5 bytes */
  for (uint32_t i = 0; i < 4; i++)
    f.size[i] = 5;
  s2.t[0][0] = f;
  struct traf_opt o = traf_basic(3, 50);
  o.tfhd_flags = 0;
  o.trun_flags = TRUN_DUR | TRUN_SIZE; /* no data_offset: starts at the base */
  s2.t[0][1] = o;
  run_segment(&io, &s2);
}

static void test_seg_several_moofs_and_truns(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  struct seg_opt so = {.moofs = 3, .trafs = {1, 1, 1}};
  for (int m = 0; m < 3; m++) {
    struct traf_opt t = traf_basic(6, 6 * 960 * (uint64_t)m);
    t.enc = ENC_SENC_SAIO;
    t.split = 2; /* two truns */
    t.saio_per_trun = m == 1;
    t.tfdt_version = m == 2 ? -1 : 1; /* the third continues the second */
    so.t[m][0] = t;
  }
  run_segment(&io, &so);
}

static void test_seg_encryption_sources(void **state) {
  (void)state;
  const enum enc encs[] = {ENC_SENC, ENC_SENC_SAIO, ENC_SAIO, ENC_PIFF};
  for (size_t e = 0; e < 4; e++) {
    for (int iv = 8; iv <= 16; iv += 8) {
      for (int subs = 0; subs < 2; subs++) {
        struct init_opt io = opus_opt();
        io.enca = true;
        io.tenc_iv_size = (uint8_t)iv;
        struct seg_opt so = {.moofs = 1, .trafs = {1}};
        struct traf_opt t = traf_basic(5, 0);
        t.enc = encs[e];
        t.iv_size = (uint8_t)iv;
        t.subs = subs;
        so.t[0][0] = t;
        run_segment(&io, &so);
      }
    }
  }
}

static void test_seg_saio_copy(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  struct seg_opt so = {.moofs = 1, .trafs = {1}};
  struct traf_opt t = traf_basic(4, 0);
  t.enc = ENC_SENC_SAIO;
  t.subs = true;
  t.saio_copy = true; /* a second, identical copy in mdat: fine */
  so.t[0][0] = t;
  run_segment(&io, &so);
  so.t[0][0].bad_saio = true; /* the copy differs: refused, never guessed */
  assert_int_equal(parse_segment_rc(&io, &so), -AMP_EMP4);
}

static void test_seg_encryption_errors(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  struct seg_opt so = {.moofs = 1, .trafs = {1}};
  struct traf_opt t = traf_basic(4, 0);
  t.enc = ENC_SENC;
  t.subs = true;
  t.bad_subsum = 1; /* subsamples do not add up to the sample size */
  so.t[0][0] = t;
  assert_int_equal(parse_segment_rc(&io, &so), -AMP_EMP4);
  /* IVs nowhere */
  so.t[0][0] = traf_basic(4, 0);
  assert_int_equal(parse_segment_rc(&io, &so), -AMP_EMP4);
  /* senc written with 8-byte IVs, tenc says 16 */
  io.tenc_iv_size = 16;
  so.t[0][0].enc = ENC_SENC;
  assert_int_equal(parse_segment_rc(&io, &so), -AMP_EMP4);
  /* saiz/saio sizes say 8, tenc 16 */
  so.t[0][0].enc = ENC_SAIO;
  assert_int_equal(parse_segment_rc(&io, &so), -AMP_EMP4);
}

static void test_seg_clear_lead_form_a(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  io.clear_copy = true;
  struct seg_opt so = {.moofs = 2, .trafs = {1, 1}};
  struct traf_opt c = traf_basic(3, 0);
  c.tfhd_flags |= TFHD_SDI;
  c.sdi = 2; /* clear entry, no senc */
  so.t[0][0] = c;
  struct traf_opt e = traf_basic(3, 3 * 960);
  e.enc = ENC_SENC_SAIO;
  so.t[1][0] = e;
  run_segment(&io, &so);
  /* an index past stsd */
  so.t[0][0].sdi = 3;
  assert_int_equal(parse_segment_rc(&io, &so), -AMP_EMP4);
}

static void test_seg_clear_lead_form_b(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  io.stbl_seig = true;
  struct seg_opt so = {.moofs = 3, .trafs = {1, 1, 1}};
  struct traf_opt c = traf_basic(3, 0);
  c.seig = 0; /* traf 'seig' isProtected=0, no senc */
  so.t[0][0] = c;
  struct traf_opt e = traf_basic(3, 3 * 960);
  e.enc = ENC_SENC;
  e.seig = 1; /* traf 'seig' protected with KID2, 8-byte IV */
  so.t[1][0] = e;
  struct traf_opt d = traf_basic(3, 6 * 960);
  d.enc = ENC_SENC;
  so.t[2][0] = d; /* no group: tenc */
  run_segment(&io, &so);

  /* sbgp into the stbl sgpd: index 1 = clear, index 2 = KID2 with 16-byte IVs */
  struct init_opt io2 = io;
  struct seg_opt s2 = {.moofs = 1, .trafs = {1}};
  struct traf_opt g = traf_basic(3, 0);
  g.stbl_group = 2;
  g.enc = ENC_SENC;
  g.iv_size = 16;
  s2.t[0][0] = g;
  struct mp4_init *in = parse_init(&io2);
  struct bb b;
  struct mp4_segment *seg = NULL;
  build_segment(&b, &s2);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), 0);
  struct mp4_sample s;
  assert_int_equal(mp4_segment_sample(seg, 2, &s), 0);
  assert_true(s.encrypted);
  assert_memory_equal(s.kid, KID2, 16);
  assert_int_equal(s.iv_size, 16);
  assert_int_equal(s.iv[15], iv_byte(0, 0, 2, 15));
  mp4_segment_free(seg);
  bb_free(&b);
  s2.t[0][0].stbl_group = 1; /* clear group, but senc carries 16-byte IVs: refused */
  build_segment(&b, &s2);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  bb_free(&b);
  s2.t[0][0].stbl_group = 3; /* no such group */
  build_segment(&b, &s2);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  bb_free(&b);
  mp4_init_free(in);
}

static void test_seg_constant_iv(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  io.scheme = "cbcs";
  io.tenc_version = 1;
  io.tenc_iv_size = 0;
  io.const_iv_size = 16;
  struct seg_opt so = {.moofs = 1, .trafs = {1}};
  struct traf_opt t = traf_basic(3, 0);
  t.iv_size = 0; /* no senc at all: constant IV, whole samples */
  so.t[0][0] = t;
  run_segment(&io, &so);
}

static void test_seg_piff_override_and_moof_pssh(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true; /* tenc: 8-byte IVs, KID1 */
  struct seg_opt so = {.moofs = 1, .trafs = {1}, .moof_pssh = true};
  struct traf_opt t = traf_basic(3, 0);
  t.enc = ENC_PIFF;
  t.piff_override = true; /* the box says 16-byte IVs and KID2 */
  t.subs = true;
  so.t[0][0] = t;
  struct mp4_init *in = parse_init(&io);
  struct bb b;
  struct mp4_segment *seg = NULL;
  build_segment(&b, &so);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), 0);
  assert_int_equal(mp4_segment_sample_count(seg), 3);
  for (size_t i = 0; i < 3; i++) {
    struct mp4_sample s;
    assert_int_equal(mp4_segment_sample(seg, i, &s), 0);
    assert_true(s.encrypted);
    assert_int_equal(s.iv_size, 16);
    assert_memory_equal(s.kid, KID2, 16);
    for (int k = 0; k < 16; k++)
      assert_int_equal(s.iv[k], iv_byte(0, 0, (uint32_t)i, k));
    assert_int_equal(s.subsample_count, 2);
    assert_int_equal(s.subsamples[1].protected_bytes, s.size - 8);
    assert_int_equal(b.d[s.offset], marker(0, 0, (uint32_t)i));
  }
  assert_int_equal(mp4_segment_pssh_count(seg), 1);
  const struct mp4_pssh *p = mp4_segment_pssh(seg, 0);
  assert_memory_equal(p->system_id, SYS_WV, 16);
  assert_int_equal(p->data_size, 2);
  assert_memory_equal(p->data, "\x08\x01", 2);
  assert_ptr_equal(p->box, b.d + find(&b, "pssh"));
  assert_null(mp4_segment_pssh(seg, 1));
  mp4_segment_free(seg);
  bb_free(&b);
  mp4_init_free(in);
}

static void test_seg_refusals(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  struct mp4_init *in = parse_init(&io);
  struct mp4_segment *seg = NULL;
  struct bb b;
  bb_init(&b);
  /* no moof */
  box(&b, "styp");
  end(&b);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  assert_int_equal(mp4_segment_parse(in, b.d, MP4_MAX_SEGMENT_SIZE + 1u, 0, &seg), -AMP_ETOOBIG);
  bb_free(&b);
  /* no tfdt in the first traf */
  struct seg_opt so = {.moofs = 1, .trafs = {1}};
  so.t[0][0] = traf_basic(2, 0);
  so.t[0][0].tfdt_version = -1;
  build_segment(&b, &so);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EUNSUPPORTED);
  bb_free(&b);
  /* data outside the mdat: data_offset pointing into the moof */
  so.t[0][0] = traf_basic(2, 0);
  build_segment(&b, &so);
  size_t p;
  for (p = 0; memcmp(b.d + p, "trun", 4) != 0; p++)
    ;
  patch32(&b, p + 12, 8); /* data_offset = 8: inside the moof */
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  patch32(&b, p + 12, 0x7fffffff);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  patch32(&b, p + 12, 0x80000000u);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  /* huge sample count, with per-sample fields: runs out of trun */
  patch32(&b, p + 8, 0xffffffffu);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  bb_free(&b);
  /* huge sample count without per-sample fields: the bound */
  so.t[0][0].trun_flags = TRUN_DOFF;
  so.t[0][0].tfhd_flags |= TFHD_SIZE;
  build_segment(&b, &so);
  for (p = 0; memcmp(b.d + p, "trun", 4) != 0; p++)
    ;
  patch32(&b, p + 8, MP4_MAX_SAMPLES + 1u);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_ETOOBIG);
  bb_free(&b);
  mp4_init_free(in);
}

/* ---- malformed input ---- */

static void test_truncations(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  io.pssh = true;
  struct bb ib;
  build_init(&ib, &io);
  struct mp4_init *in = NULL;
  for (size_t n = 0; n < ib.len; n++) {
    int rc = mp4_init_parse(ib.d, n, &in);
    assert_true(rc == -AMP_EMP4);
  }
  assert_int_equal(mp4_init_parse(ib.d, ib.len, &in), 0);
  bb_free(&ib);

  struct seg_opt so = {.moofs = 2, .trafs = {1, 1}, .prefix = true};
  so.t[0][0] = traf_basic(3, 0);
  so.t[0][0].enc = ENC_SENC_SAIO;
  so.t[0][0].subs = true;
  so.t[1][0] = traf_basic(3, 3 * 960);
  so.t[1][0].enc = ENC_SAIO;
  struct bb sb;
  build_segment(&sb, &so);
  struct mp4_segment *seg = NULL;
  size_t second_moof = find(&sb, "mdat");
  second_moof += rd32(sb.d + second_moof);
  for (size_t n = 0; n < sb.len; n++) {
    /* a copy of exactly n bytes, so that ASan sees any read past it */
    uint8_t *cut = malloc(n ? n : 1);
    assert_non_null(cut);
    memcpy(cut, sb.d, n);
    int rc = mp4_segment_parse(in, cut, n, 0, &seg);
    if (n == second_moof) {
      /* a whole first fragment is a valid segment */
      assert_int_equal(rc, 0);
      assert_int_equal(mp4_segment_sample_count(seg), 3);
      mp4_segment_free(seg);
    } else {
      assert_int_equal(rc, -AMP_EMP4);
    }
    free(cut);
  }
  assert_int_equal(mp4_segment_parse(in, sb.d, sb.len, 0, &seg), 0);
  mp4_segment_free(seg);
  bb_free(&sb);
  mp4_init_free(in);
}

static void test_malformed_boxes(void **state) {
  (void)state;
  struct init_opt io = opus_opt();
  io.enca = true;
  io.pssh = true;
  struct mp4_init *in = NULL;
  struct bb b;
  const char *victims[] = {"tenc", "dOps", "sinf", "stsd", "elst", "pssh", "trex", "mdhd"};
  for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
    /* a size past the parent */
    build_init(&b, &io);
    size_t at = find(&b, victims[v]);
    patch32(&b, at, 0x7fff0000);
    assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
    /* a size smaller than the header */
    patch32(&b, at, 4);
    assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
    /* a 64-bit size that does not fit */
    patch32(&b, at, 1);
    assert_int_not_equal(mp4_init_parse(b.d, b.len, &in), 0);
    bb_free(&b);
  }
  /* a body cut short inside its parent: box sizes shrunk to 12 bytes */
  const char *shorts[] = {"tenc", "mdhd", "tkhd", "schm", "frma", "trex", "mvhd", "hdlr"};
  for (size_t v = 0; v < sizeof(shorts) / sizeof(shorts[0]); v++) {
    build_init(&b, &io);
    size_t at = find(&b, shorts[v]);
    uint32_t old = (uint32_t)b.d[at] << 24 | (uint32_t)b.d[at + 1] << 16 |
                   (uint32_t)b.d[at + 2] << 8 | b.d[at + 3];
    /* shrink the box and cover the rest with a 'free' box so the parent stays valid */
    patch32(&b, at, 8);
    patch32(&b, at + 8, old - 8);
    memcpy(b.d + at + 12, "free", 4);
    int rc = mp4_init_parse(b.d, b.len, &in);
    assert_int_not_equal(rc, 0);
    bb_free(&b);
  }
  /* huge counts */
  build_init(&b, &io);
  patch32(&b, find(&b, "stsd") + 12, 1000000);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_ETOOBIG);
  bb_free(&b);
  build_init(&b, &io);
  patch32(&b, find(&b, "elst") + 12, 0xffffffffu);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  build_init(&b, &io);
  patch32(&b, find(&b, "pssh") + 28, 0xffffffffu); /* KID_count */
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  /* bad IV size in tenc */
  build_init(&b, &io);
  b.d[find(&b, "tenc") + 15] = 7;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  /* dOps version 1, and a dfLa whose first block is not STREAMINFO */
  build_init(&b, &io);
  b.d[find(&b, "dOps") + 8] = 1;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  struct init_opt fo = opus_opt();
  fo.format = "fLaC";
  build_init(&b, &fo);
  b.d[find(&b, "dfLa") + 12] = 0x04; /* VORBIS_COMMENT first */
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  build_init(&b, &fo);
  b.d[find(&b, "dfLa") + 12 + 38] = 0x01; /* PADDING not last, and nothing follows */
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), 0);
  mp4_init_free(in);
  b.d[find(&b, "dfLa") + 12 + 39] = 0xff; /* PADDING length past the box */
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  /* a zero-size (to the end) ftyp swallows the moov */
  build_init(&b, &io);
  patch32(&b, 0, 0);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
  /* a zero-size moov runs to the end: valid */
  build_init(&b, &io);
  patch32(&b, find(&b, "moov"), 0);
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), 0);
  mp4_init_free(in);
  bb_free(&b);
}

static void test_largesize_boxes(void **state) {
  (void)state;
  struct bb b;
  bb_init(&b);
  /* ftyp with a 64-bit size, then the normal init's moov */
  u32(&b, 1);
  put(&b, "ftyp", 4);
  u64(&b, 16 + 8);
  put(&b, "iso6", 4);
  u32(&b, 0);
  struct init_opt io = opus_opt();
  struct bb ib;
  build_init(&ib, &io);
  size_t moov = find(&ib, "moov");
  put(&b, ib.d + moov, ib.len - moov);
  struct mp4_init *in = NULL;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), 0);
  assert_int_equal(mp4_init_major_brand(in), FCC("iso6"));
  bb_free(&b);
  bb_free(&ib);
  /* a segment whose mdat has a 64-bit size, and one with size 0 (to the end) */
  struct seg_opt so = {.moofs = 1, .trafs = {1}};
  so.t[0][0] = traf_basic(3, 0);
  struct bb sb;
  build_segment(&sb, &so);
  size_t mdat = find(&sb, "mdat");
  bb_init(&b);
  put(&b, sb.d, mdat);
  uint32_t msize = (uint32_t)(sb.len - mdat);
  u32(&b, 1);
  put(&b, "mdat", 4);
  u64(&b, msize + 8);
  put(&b, sb.d + mdat + 8, msize - 8);
  /* the data moved by 8 bytes: move the data_offset too */
  size_t tr = find(&b, "trun");
  uint32_t doff = (uint32_t)b.d[tr + 16] << 24 | (uint32_t)b.d[tr + 17] << 16 |
                  (uint32_t)b.d[tr + 18] << 8 | b.d[tr + 19];
  patch32(&b, tr + 16, doff + 8);
  struct mp4_segment *seg = NULL;
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), 0);
  struct mp4_sample s;
  assert_int_equal(mp4_segment_sample(seg, 2, &s), 0);
  assert_int_equal(b.d[s.offset], marker(0, 0, 2));
  mp4_segment_free(seg);
  patch32(&sb, mdat, 0);
  assert_int_equal(mp4_segment_parse(in, sb.d, sb.len, 0, &seg), 0);
  assert_int_equal(mp4_segment_sample_count(seg), 3);
  mp4_segment_free(seg);
  bb_free(&b);
  bb_free(&sb);
  mp4_init_free(in);
}

static void test_depth_bomb(void **state) {
  (void)state;
  /* moov/trak/mdia then minf inside minf ... 5000 deep: minf is the one container the
   * parser re-enters, so the depth limit must stop it (and nothing overflows a stack) */
  enum { LEVELS = 5000 };
  struct bb b;
  bb_init(&b);
  size_t inner = (size_t)LEVELS * 8;
  u32(&b, 8 + 8 + 8 + inner);
  put(&b, "moov", 4);
  u32(&b, 8 + 8 + inner);
  put(&b, "trak", 4);
  u32(&b, 8 + inner);
  put(&b, "mdia", 4);
  for (size_t i = 0; i < LEVELS; i++) {
    u32(&b, inner - i * 8);
    put(&b, "minf", 4);
  }
  struct mp4_init *in = NULL;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  assert_null(in);
  bb_free(&b);
}

/* ---- ffmpeg DASH files (tests/data/mp4/gen_dash.sh) ---- */

static const char *dash_dir;

static uint8_t *read_file(const char *path, size_t *ret_len) {
  FILE *f = fopen(path, "rbe");
  if (!f)
    fail_msg("cannot open %s", path);
  uint8_t *d = malloc(4u << 20);
  assert_non_null(d);
  size_t n = fread(d, 1, 4u << 20, f);
  fclose(f);
  *ret_len = n;
  return d;
}

/* Parse a -single_file DASH output: the init is everything before the first sidx, each
 * segment runs from a sidx to the next (what the MPD's mediaRange says). Returns the sum
 * of the sample durations and checks that segments follow each other. */
static uint64_t dash_parse(const char *name, struct mp4_init **ret_in, size_t *ret_samples,
                           uint32_t *ret_last_dur, bool flac) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s/out-stream0.mp4", dash_dir, name);
  size_t len;
  uint8_t *d = read_file(path, &len);
  size_t starts[64], ns = 0, p = 0;
  while (p + 8 <= len) {
    uint32_t size = rd32(d + p);
    assert_true(size >= 8 && size <= len - p);
    if (memcmp(d + p + 4, "sidx", 4) == 0) {
      assert_true(ns < 64);
      starts[ns++] = p;
    }
    p += size;
  }
  assert_int_equal(p, len);
  assert_true(ns >= 3);
  struct mp4_init *in = NULL;
  assert_int_equal(mp4_init_parse(d, starts[0], &in), 0);
  uint64_t sum = 0, next = 0;
  size_t count = 0;
  uint32_t last = 0;
  for (size_t i = 0; i < ns; i++) {
    size_t s0 = starts[i], s1 = i + 1 < ns ? starts[i + 1] : len;
    struct mp4_segment *seg = NULL;
    assert_int_equal(mp4_segment_parse(in, d + s0, s1 - s0, s0, &seg), 0);
    size_t n = mp4_segment_sample_count(seg);
    assert_true(n > 0);
    for (size_t k = 0; k < n; k++) {
      struct mp4_sample s;
      assert_int_equal(mp4_segment_sample(seg, k, &s), 0);
      assert_int_equal(s.decode_time, next);
      assert_false(s.encrypted);
      assert_int_equal(s.sample_description_index, 1);
      assert_true(s.offset + s.size <= s1 - s0);
      if (flac) { /* every sample is one FLAC frame: it starts with the sync code */
        assert_int_equal(d[s0 + s.offset], 0xff);
        assert_int_equal(d[s0 + s.offset + 1] & 0xfe, 0xf8);
      }
      next += s.duration;
      sum += s.duration;
      last = s.duration;
      count++;
    }
    assert_int_equal(mp4_segment_end_time(seg), next);
    mp4_segment_free(seg);
  }
  free(d);
  *ret_in = in;
  *ret_samples = count;
  *ret_last_dur = last;
  return sum;
}

static void test_dash_opus(void **state) {
  (void)state;
  struct mp4_init *in;
  size_t n;
  uint32_t last;
  uint64_t sum = dash_parse("opus", &in, &n, &last, false);
  const struct mp4_track *t = mp4_init_track(in);
  assert_int_equal(t->timescale, 48000);
  assert_true(t->has_edit);
  assert_int_equal(t->edit_media_time, 312);
  struct mp4_codec c;
  assert_int_equal(mp4_init_codec(in, 1, &c), 0);
  assert_int_equal(c.format, MP4_FORMAT_OPUS);
  assert_int_equal(c.channels, 1);
  assert_int_equal(c.config_size, 11);
  assert_int_equal(c.config[2] << 8 | c.config[3], 312); /* PreSkip */
  /* 3 s of PCM after the priming: the sum minus media_time, and a short last packet */
  assert_int_equal(sum - (uint64_t)t->edit_media_time, 3 * 48000);
  assert_true(last < 960);
  assert_int_equal(n, (3 * 48000 + 312 + 959) / 960);
  mp4_init_free(in);
}

static void test_dash_flac(void **state) {
  (void)state;
  struct mp4_init *in;
  size_t n;
  uint32_t last;
  uint64_t sum = dash_parse("flac", &in, &n, &last, true);
  const struct mp4_track *t = mp4_init_track(in);
  struct mp4_codec c;
  assert_int_equal(mp4_init_codec(in, 1, &c), 0);
  assert_int_equal(c.format, MP4_FORMAT_FLAC);
  assert_int_equal(c.sample_rate, 44100);
  assert_int_equal(c.channels, 1);
  assert_int_equal(c.bits_per_sample, 16);
  assert_int_equal(t->timescale, 44100);
  assert_int_equal(t->edit_media_time, 0);
  assert_int_equal(sum, 3 * 44100);
  assert_true(last < 4608);
  assert_int_equal(n, (3 * 44100 + 4607) / 4608);
  mp4_init_free(in);
}

/* ---- seed corpus for tests/fuzz/fuzz_mp4.c ("corpus <dir> [dash dir]") ---- */

static void write_seed(const char *dir, const char *name, uint8_t mode, const struct bb *init,
                       const uint8_t *seg, size_t seg_len) {
  char path[512];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "wbe");
  assert_non_null(f);
  fputc(mode, f);
  if (mode & 1) {
    fputc((int)(init->len >> 8), f);
    fputc((int)(init->len & 0xff), f);
  }
  fwrite(init->d, 1, init->len, f);
  if (seg_len)
    fwrite(seg, 1, seg_len, f);
  fclose(f);
}

static int dump_corpus(const char *dir, const char *dash) {
  struct init_opt io[8];
  const char *names[8] = {"opus", "flac", "enca_a", "cbcs", "qt1", "qt2", "video", "seig"};
  for (int i = 0; i < 8; i++)
    io[i] = opus_opt();
  io[1].format = "fLaC";
  io[1].mdhd_version = 1;
  io[1].elst_version = 1;
  io[2].enca = io[2].clear_copy = io[2].pssh = true;
  io[3].enca = true;
  io[3].scheme = "cbcs";
  io[3].tenc_version = 1;
  io[3].tenc_iv_size = 0;
  io[3].const_iv_size = 16;
  io[4].qt_version = 1;
  io[5].qt_version = 2;
  io[6].video_first = true;
  io[7].enca = io[7].stbl_seig = true;
  for (int i = 0; i < 8; i++) {
    struct bb b;
    char name[64];
    build_init(&b, &io[i]);
    snprintf(name, sizeof(name), "init_%s", names[i]);
    write_seed(dir, name, 0, &b, NULL, 0);
    bb_free(&b);
  }
  /* init + segment pairs */
  struct seg_opt so[6];
  int which[6] = {0, 2, 2, 7, 3, 0};
  memset(so, 0, sizeof(so));
  for (int i = 0; i < 6; i++) {
    so[i].moofs = 1;
    so[i].trafs[0] = 1;
    so[i].t[0][0] = traf_basic(4, 1000);
  }
  so[0].prefix = true;
  so[0].t[0][0].tfhd_flags = TFHD_MOOF | TFHD_DUR | TFHD_SIZE | TFHD_FLAGS;
  so[0].t[0][0].trun_flags = TRUN_DOFF | TRUN_SIZE;
  so[1].moofs = 2;
  so[1].trafs[1] = 1;
  so[1].t[0][0].tfhd_flags |= TFHD_SDI;
  so[1].t[0][0].sdi = 2;
  so[1].t[1][0] = traf_basic(4, 5000);
  so[1].t[1][0].enc = ENC_SENC_SAIO;
  so[1].t[1][0].subs = true;
  so[1].t[1][0].split = 2;
  so[1].t[1][0].saio_per_trun = true;
  so[2].t[0][0].enc = ENC_SAIO;
  so[2].t[0][0].iv_size = 8;
  so[3].moofs = 2;
  so[3].trafs[1] = 1;
  so[3].t[0][0].seig = 0;
  so[3].t[1][0] = traf_basic(4, 5000);
  so[3].t[1][0].enc = ENC_PIFF;
  so[3].t[1][0].seig = 1;
  so[4].t[0][0].iv_size = 0;
  so[5].trafs[0] = 2;
  so[5].t[0][0].track_id = 2;
  so[5].t[0][0].tfhd_flags = 0;
  so[5].t[0][1] = traf_basic(3, 7);
  so[5].t[0][1].tfhd_flags = TFHD_BDO;
  so[5].file_offset = 0;
  for (int i = 0; i < 6; i++) {
    struct bb ib, sb;
    char name[64];
    build_init(&ib, &io[which[i]]);
    build_segment(&sb, &so[i]);
    snprintf(name, sizeof(name), "seg_%d", i);
    write_seed(dir, name, 1, &ib, sb.d, sb.len);
    bb_free(&ib);
    bb_free(&sb);
  }
  /* ffmpeg DASH: init + first and last segment */
  for (int c = 0; dash && c < 2; c++) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s/out-stream0.mp4", dash, c ? "flac" : "opus");
    size_t len;
    uint8_t *d = read_file(path, &len);
    size_t starts[64], ns = 0, p = 0;
    while (p + 8 <= len && ns < 64) {
      if (memcmp(d + p + 4, "sidx", 4) == 0)
        starts[ns++] = p;
      p += rd32(d + p);
    }
    struct bb ib = {.d = d, .len = starts[0]};
    char name[64];
    snprintf(name, sizeof(name), "ffmpeg_%s_init", c ? "flac" : "opus");
    write_seed(dir, name, 0, &ib, NULL, 0);
    snprintf(name, sizeof(name), "ffmpeg_%s_last", c ? "flac" : "opus");
    write_seed(dir, name, 3, &ib, d + starts[ns - 1], len - starts[ns - 1]);
    if (!c) {
      snprintf(name, sizeof(name), "ffmpeg_%s_first", c ? "flac" : "opus");
      write_seed(dir, name, 3, &ib, d + starts[0], starts[1] - starts[0]);
    }
    free(d);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "corpus") == 0)
    return dump_corpus(argv[2], argc > 3 ? argv[3] : NULL);
  if (argc == 3 && strcmp(argv[1], "dash") == 0) {
    dash_dir = argv[2];
    const struct CMUnitTest dash[] = {
        cmocka_unit_test(test_dash_opus),
        cmocka_unit_test(test_dash_flac),
    };
    return cmocka_run_group_tests_name("mp4-dash", dash, NULL, NULL);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_opus_clear),
      cmocka_unit_test(test_init_flac_v1),
      cmocka_unit_test(test_init_enca_form_a),
      cmocka_unit_test(test_init_cbcs_constant_iv),
      cmocka_unit_test(test_init_quicktime_sound),
      cmocka_unit_test(test_init_video_track_first),
      cmocka_unit_test(test_init_refusals),
      cmocka_unit_test(test_seg_ffmpeg_style),
      cmocka_unit_test(test_seg_fields_tfdt_v1_cto),
      cmocka_unit_test(test_seg_base_data_offset_and_implicit),
      cmocka_unit_test(test_seg_several_moofs_and_truns),
      cmocka_unit_test(test_seg_encryption_sources),
      cmocka_unit_test(test_seg_saio_copy),
      cmocka_unit_test(test_seg_encryption_errors),
      cmocka_unit_test(test_seg_clear_lead_form_a),
      cmocka_unit_test(test_seg_clear_lead_form_b),
      cmocka_unit_test(test_seg_constant_iv),
      cmocka_unit_test(test_seg_piff_override_and_moof_pssh),
      cmocka_unit_test(test_seg_refusals),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_malformed_boxes),
      cmocka_unit_test(test_largesize_boxes),
      cmocka_unit_test(test_depth_bomb),
  };
  return cmocka_run_group_tests_name("mp4", tests, NULL, NULL);
}
