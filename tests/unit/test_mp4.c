/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mp4 demuxer tests. Init and media segments are built here, box by box, with a small
 * writer, so that every field the parser hands out is known and asserted. Sample data
 * bytes carry a marker per sample, which proves the byte offsets (the data base).
 * The writer is in mp4_build.c; real ffmpeg files are in test_mp4_dash.c.
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
#include "mp4_build.h"

#define FCC(s) MP4_FOURCC((s)[0], (s)[1], (s)[2], (s)[3])

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

static void test_init_mehd(void **state) {
  (void)state;
  struct init_opt o = opus_opt();
  struct mp4_init *in = parse_init(&o);
  assert_int_equal(mp4_init_track(in)->fragment_duration, 0); /* no mehd */
  mp4_init_free(in);
  o.mehd_duration = 0x123456789ull; /* v1: 64-bit */
  in = parse_init(&o);
  assert_int_equal(mp4_init_track(in)->fragment_duration, 0x123456789ull);
  assert_int_equal(mp4_init_track(in)->movie_timescale, 1000);
  mp4_init_free(in);
  /* a mehd version we cannot read is malformed, not ignored */
  struct bb b;
  build_init(&b, &o);
  size_t at = bb_find(&b, "mehd");
  assert_int_equal(bb_rd32(b.d + at), 20);
  b.d[at + 8] = 2;
  assert_int_equal(mp4_init_parse(b.d, b.len, &in), -AMP_EMP4);
  bb_free(&b);
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
  assert_ptr_equal(p->box, b.d + bb_find(&b, "pssh"));
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
  bb_box(&b, "styp");
  bb_end(&b);
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
  bb_patch32(&b, p + 12, 8); /* data_offset = 8: inside the moof */
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  bb_patch32(&b, p + 12, 0x7fffffff);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  bb_patch32(&b, p + 12, 0x80000000u);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  /* huge sample count, with per-sample fields: runs out of trun */
  bb_patch32(&b, p + 8, 0xffffffffu);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_EMP4);
  bb_free(&b);
  /* huge sample count without per-sample fields: the bound */
  so.t[0][0].trun_flags = TRUN_DOFF;
  so.t[0][0].tfhd_flags |= TFHD_SIZE;
  build_segment(&b, &so);
  for (p = 0; memcmp(b.d + p, "trun", 4) != 0; p++)
    ;
  bb_patch32(&b, p + 8, MP4_MAX_SAMPLES + 1u);
  assert_int_equal(mp4_segment_parse(in, b.d, b.len, 0, &seg), -AMP_ETOOBIG);
  bb_free(&b);
  mp4_init_free(in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_init_opus_clear),
      cmocka_unit_test(test_init_mehd),
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
  };
  return cmocka_run_group_tests_name("mp4", tests, NULL, NULL);
}
