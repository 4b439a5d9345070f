/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TESTS_MP4_BUILD_H
#define AMPD_TESTS_MP4_BUILD_H

/*
 * A box writer for the mp4 tests: builds init and media segments whose every field is
 * chosen by the test. Sample data bytes carry marker() per sample and IVs iv_byte(), so
 * that a test can prove offsets and IVs. Allocation or writer failures fail the cmocka
 * test that called.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mp4_init;

extern const uint8_t KID1[16];
extern const uint8_t KID2[16];
extern const uint8_t SYS_W3C[16];
extern const uint8_t SYS_WV[16];
extern const uint8_t DOPS[11];

struct bb {
  uint8_t *d;
  size_t len, cap;
  size_t open[32];
  int n;
};
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
  uint64_t mehd_duration; /* > 0: an mvex/mehd v1 with this fragment_duration */
};
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
  uint8_t fill;       /* > 0: every sample byte is this instead of marker() (a codec
                       * payload, e.g. 0xfc: a CELT Opus packet of 20 ms) */
};
struct seg_opt {
  int moofs;
  uint32_t trafs[4]; /* number of trafs per moof */
  struct traf_opt t[4][3];
  uint64_t file_offset;
  bool prefix;    /* styp + sidx + emsg + free before the first moof */
  bool moof_pssh; /* a pssh in the first moof */
};

void bb_init(struct bb *b);
void bb_free(struct bb *b);
void bb_put(struct bb *b, const void *p, size_t n);
void bb_be(struct bb *b, uint64_t v, int n);
void bb_u8(struct bb *b, uint64_t v);
void bb_u16(struct bb *b, uint64_t v);
void bb_u24(struct bb *b, uint64_t v);
void bb_u32(struct bb *b, uint64_t v);
void bb_u64(struct bb *b, uint64_t v);
void bb_zeros(struct bb *b, size_t n);
void bb_patch32(struct bb *b, size_t at, uint32_t v);
void bb_patch64(struct bb *b, size_t at, uint64_t v);
void bb_box(struct bb *b, const char *type);
void bb_fbox(struct bb *b, const char *type, unsigned v, uint32_t flags);
size_t bb_end(struct bb *b);
void build_init(struct bb *b, const struct init_opt *o);
struct init_opt opus_opt(void);
struct mp4_init *parse_init(const struct init_opt *o);
uint8_t iv_byte(int m, int j, uint32_t i, int k);
uint8_t marker(int m, int j, uint32_t i);
void build_segment(struct bb *b, const struct seg_opt *o);
struct traf_opt traf_basic(uint32_t n, uint64_t tfdt);
uint32_t bb_rd32(const uint8_t *p);
size_t bb_find(const struct bb *b, const char *type);

#endif
