/* SPDX-License-Identifier: Apache-2.0 */
/* ampprobe decode: one Representation through the daemon's own chain (demux, CDM decrypt,
 * decode, trim) to a WAV file or an ALSA device. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ampprobe.h"
#include "core/err.h"
#include "media/cdmhost.h"
#include "media/manifest.h"
#include "media/mp4.h"
#include "media/pipeline.h"
#include "platform/alsa/alsa.h"
#include "outfile.h"
#include "source.h"
#include "wavout.h"

static const uint8_t w3c_common_id[16] = AMPD_CDM_SYSTEM_W3C_COMMON;

struct sink {
  struct outfile *file;
  struct wavout *wav;
  struct output *out;
  uint64_t frames;
};

static int sink_pcm(void *userdata, const int32_t *pcm, size_t frames) {
  struct sink *k = userdata;
  int r = k->wav ? wavout_write(k->wav, pcm, frames) : output_write(k->out, pcm, frames);
  if (r == 0)
    k->frames += frames;
  return r;
}

static int sink_open(const struct probe_opts *o, const struct pcm_format *f, struct sink *k) {
  if (o->out) {
    char why[96] = "";
    int r = outfile_open(o->out, &k->file, why, sizeof(why));
    if (r == 0)
      r = wavout_open(k->file, f, &k->wav);
    return r < 0 ? probe_fail(r, strcmp(o->out, "-") ? o->out : "standard output", why) : 0;
  }
  struct output_params p = {.device = o->alsa, .format = *f};
  struct output_info info;
  char err[OUTPUT_ERRMSG_MAX] = "";
  int r = output_open(output_alsa_ops(), &p, &k->out, &info, err, sizeof(err));
  return r < 0 ? probe_fail(r, o->alsa, err) : 0;
}

/* On success the WAV is completed and put in place; on failure a temporary file is
 * removed, and nothing else (outfile.h). */
static int sink_close(const struct probe_opts *o, struct sink *k, int ok) {
  int r = 0;
  if (k->file) {
    r = wavout_finish(k->wav);
    k->wav = NULL;
    if (ok && r == 0) {
      r = outfile_commit(k->file);
    } else {
      outfile_abort(k->file);
    }
    k->file = NULL;
    if (r < 0)
      probe_fail(r, o->out, NULL);
  }
  if (k->out) {
    if (ok)
      r = output_drain(k->out);
    output_close(k->out);
  }
  return r;
}

/* The init data the CDM turns into a challenge: the W3C common pssh boxes of the init or
 * the manifest, else "keyids" built from the default KID (docs/media.md §8). */
static int cdm_request(struct cdmhost *h, uint32_t session, const struct mp4_init *init,
                       const struct manifest_rep *rep) {
  uint8_t data[AMPD_CDM_MAX_INIT_DATA];
  size_t n = 0, plen = 0;
  uint8_t *challenge = NULL, *keyids = NULL;
  size_t clen = 0, klen = 0;
  int r;

  for (size_t i = 0; i < mp4_init_pssh_count(init); i++) {
    const struct mp4_pssh *ps = mp4_init_pssh(init, i);
    if (memcmp(ps->system_id, w3c_common_id, 16) == 0 && ps->box_size <= sizeof(data) - n) {
      memcpy(data + n, ps->box, ps->box_size);
      n += ps->box_size;
    }
  }
  const uint8_t *mp = rep ? manifest_pssh(rep, MANIFEST_DRM_W3C_COMMON, &plen) : NULL;
  if (n == 0 && mp && plen <= sizeof(data)) {
    memcpy(data, mp, plen);
    n = plen;
  }
  if (n > 0) {
    r = cdmhost_generate_request(h, session, AMPD_CDM_INIT_CENC, data, n, &challenge, &clen);
  } else {
    const uint8_t *kid = mp4_init_default_kid(init);
    uint8_t kids[1][16];
    if (!kid)
      return -AMP_ENOKEY;
    memcpy(kids[0], kid, 16);
    r = cdmhost_keyids_init_data((const uint8_t(*)[16])kids, 1, &keyids, &klen);
    if (r < 0)
      return r;
    r = cdmhost_generate_request(h, session, AMPD_CDM_INIT_KEYIDS, keyids, klen, &challenge, &clen);
    free(keyids);
  }
  /* A tool has no license server to send the challenge to: the license is made from the
   * keys the user gave, and enters the CDM through update() like a server's would. */
  free(challenge);
  return r;
}

static int cdm_setup(const struct probe_opts *o, const struct mp4_init *init,
                     const struct manifest_rep *rep, struct cdmhost **ret_h,
                     uint32_t *ret_session) {
  char dir[CDMHOST_MAX_PATH], name[CDMHOST_MAX_NAME + 4];
  struct cdmhost_options copt = {.plugin_dir = AMPPROBE_CDM_DIR};
  struct cdmhost *h = NULL;
  uint32_t session = 0, status = 0;
  char *license = NULL;
  size_t len = 0;
  int r;

  if (o->n_keys == 0)
    return probe_fail(-AMP_ENOKEY, o->input,
                      "encrypted content needs --key KID:KEY or --keys FILE");
  /* cdmhost loads a plugin name from one absolute directory: --cdm /DIR/NAME.so names
   * both; the default is the build tree's ClearKey (AMPPROBE_CDM_DIR, from CMake). */
  snprintf(name, sizeof(name), "clearkey");
  if (o->cdm) {
    const char *slash = strrchr(o->cdm, '/');
    size_t l = slash ? strlen(slash + 1) : 0;
    if (o->cdm[0] != '/' || l <= 3 || l - 3 >= sizeof(name) ||
        strcmp(slash + 1 + l - 3, ".so") != 0 || (size_t)(slash - o->cdm) >= sizeof(dir))
      return probe_fail(-EINVAL, o->cdm, "--cdm wants an absolute path /DIR/NAME.so");
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - o->cdm), o->cdm);
    snprintf(name, sizeof(name), "%.*s", (int)(l - 3), slash + 1);
    copt.plugin_dir = dir[0] ? dir : "/";
  }
  r = cdmhost_open(name, &copt, &h);
  if (r < 0)
    return probe_fail(r, o->cdm ? o->cdm : name, "cannot load the CDM plugin");
  r = cdmhost_session_open(h, &session);
  if (r < 0)
    goto fail;
  r = cdm_request(h, session, init, rep);
  if (r < 0)
    goto fail;
  r = cdmhost_clearkey_license(o->keys, o->n_keys, 0, &license, &len);
  if (r < 0)
    goto fail;
  r = cdmhost_update(h, session, (const uint8_t *)license, len);
  memset(license, 0, len);
  free(license);
  if (r < 0) {
    probe_fail(r, o->input, "the CDM refused a license of the given keys: no key for this KID");
    cdmhost_free(h);
    return r;
  }
  const uint8_t *kid = mp4_init_default_kid(init);
  if (kid) {
    r = cdmhost_key_status(h, session, kid, &status, NULL);
    if (r == 0 && status != AMPD_CDM_KEY_USABLE)
      r = status == AMPD_CDM_KEY_EXPIRED ? -AMP_EKEYEXPIRED : -AMP_ENOKEY;
    if (r < 0) {
      probe_fail(r, o->input, "no usable key for the track's default KID");
      cdmhost_free(h);
      return r;
    }
  }
  *ret_h = h;
  *ret_session = session;
  return 0;
fail:
  probe_fail(r, o->input, "CDM");
  cdmhost_free(h);
  return r;
}

/* Everything after the pipeline exists: CDM, sink, segments. */
struct job {
  const struct probe_opts *o;
  struct pipeline *p;
  struct cdmhost *cdm;
  struct sink sink;
};

static int job_start(struct job *j, const uint8_t *init, size_t len,
                     const struct manifest_rep *rep) {
  struct pipeline_config cfg = {.start = 0, .end = INT64_MAX};
  struct pcm_format f;
  uint32_t session;
  int r = pipeline_new(init, len, &cfg, &j->p);
  if (r < 0)
    return probe_fail(r, j->o->input, "init segment");
  if (pipeline_is_protected(j->p)) {
    r = cdm_setup(j->o, pipeline_init(j->p), rep, &j->cdm, &session);
    if (r < 0)
      return r;
    pipeline_set_cdm(j->p, j->cdm, session);
  }
  pipeline_get_format(j->p, &f);
  return sink_open(j->o, &f, &j->sink);
}

/* After the last segment: did the media reach the end that was declared? (Damaged
 * content must not pass as a good decode.) */
static int job_check_end(struct job *j) {
  struct pipeline_timeline t;
  struct pcm_format f;
  char what[128];
  int r = pipeline_finish(j->p);
  if (r == 0)
    return 0;
  pipeline_get_timeline(j->p, &t);
  pipeline_get_format(j->p, &f);
  if (!t.fed)
    snprintf(what, sizeof(what), "no media after the init segment");
  else
    snprintf(what, sizeof(what), "the media ends at %.3f s of %.3f s declared",
             (double)t.reached / f.rate, (double)t.expected / f.rate);
  return probe_fail(r, j->o->input, what);
}

static int job_finish(struct job *j, int r) {
  if (r == 0)
    r = job_check_end(j);
  int c = sink_close(j->o, &j->sink, r == 0);
  if (r == 0 && c < 0)
    r = c;
  if (r == 0) {
    struct pcm_format f;
    pipeline_get_format(j->p, &f);
    fprintf(stderr, "ampprobe: %" PRIu64 " frames, %u Hz, %u-bit, %u ch\n", j->sink.frames, f.rate,
            f.bits, f.channels);
  }
  pipeline_free(j->p);
  cdmhost_free(j->cdm);
  return r;
}

/* One fragment (a whole moof+mdat run) into the pipeline. A moof that does not parse is
 * told apart from a sample that does not decode. */
static int feed_fragment(struct job *j, const char *name, const char *what, const uint8_t *data,
                         size_t len, uint64_t off) {
  struct mp4_segment *seg;
  char detail[256];
  int r = mp4_segment_parse(pipeline_init(j->p), data, len, off, &seg);
  if (r < 0) {
    snprintf(detail, sizeof(detail), "%s at byte %" PRIu64 ": its moof is malformed", what, off);
    return probe_fail(r, name, detail);
  }
  mp4_segment_free(seg);
  r = pipeline_segment(j->p, data, len, off, sink_pcm, &j->sink, NULL);
  if (r == -AMP_EDECODE || r == -AMP_EDECRYPT)
    snprintf(detail, sizeof(detail),
             "%s at byte %" PRIu64 ": a sample does not decode: the mdat, or the sample sizes "
             "in its moof, are damaged%s",
             what, off, pipeline_is_protected(j->p) ? ", or a content key is wrong" : "");
  else
    snprintf(detail, sizeof(detail), "%s at byte %" PRIu64, what, off);
  return r < 0 ? probe_fail(r, name, detail) : 0;
}

/* A whole file's own sidx (the top-level box between the init and the first fragment)
 * declares where the media ends. */
static int expect_sidx(struct job *j, const uint8_t *box, size_t len, uint64_t off) {
  struct manifest_segment *segs = NULL;
  size_t n = 0;
  uint32_t ts = 0;
  uint64_t end;
  int r = manifest_sidx_parse(box, len, off, &segs, &n, &ts);
  if (r == 0 && n == 0)
    r = -AMP_EMP4;
  if (r == 0 && __builtin_add_overflow(segs[n - 1].start, segs[n - 1].duration, &end))
    r = -ERANGE;
  if (r == 0)
    r = pipeline_expect_end(j->p, end, ts);
  free(segs);
  return r < 0 ? probe_fail(r, j->o->input, "sidx") : 0;
}

struct mp4_feed {
  struct job *j;
  int started;
};

static int mp4_unit(void *userdata, int kind, const uint8_t *data, size_t len, uint64_t off) {
  struct mp4_feed *m = userdata;
  struct job *j = m->j;
  char what[48];
  int r;

  if (kind == PROBE_UNIT_SIDX)
    return j->p ? expect_sidx(j, data, len, off) : 0;
  if (kind == PROBE_UNIT_INIT) {
    r = job_start(j, data, len, NULL);
    m->started = 1;
    if (r == 0 && j->o->start_s > 0) {
      /* A file is fed from its start: the pts trim alone drops what precedes T. */
      struct pcm_format f;
      pipeline_get_format(j->p, &f);
      r = pipeline_seek(j->p, (int64_t)(j->o->start_s * f.rate + 0.5), INT64_MAX);
      if (r < 0)
        probe_fail(r, j->o->input, "--start");
    }
    return r;
  }
  snprintf(what, sizeof(what), "fragment %" PRIu64, (uint64_t)m->started++);
  return feed_fragment(j, j->o->input, what, data, len, off);
}

static int decode_mp4(const struct probe_opts *o, struct probe_in *in, struct job *j, int r) {
  if (r < 0 && !in->unit_failed)
    probe_fail(r, o->input, in->why);
  if (r == 0 && in->n_fragments == 0)
    r = probe_fail(-AMP_EMP4, o->input, "no moof+mdat fragment to decode (an init segment alone?)");
  if (!j->p)
    return r;
  return job_finish(j, r);
}

/* --start: play from T seconds. The pipeline drops every frame before T by its pts; the
 * feed starts at the segment that holds T minus the decoder's pre-roll (80 ms for Opus)
 * and a margin for the edit-list shift, so the decoder has settled by T. */
static int seek_to(struct job *j, const struct manifest_rep *rep, double start_s,
                   size_t *ret_first) {
  struct pcm_format f;
  pipeline_get_format(j->p, &f);
  if (start_s * f.rate >= (double)INT64_MAX || rep->timescale == 0)
    return -EINVAL;
  int64_t t = (int64_t)(start_s * f.rate + 0.5);
  int r = pipeline_seek(j->p, t, INT64_MAX);
  if (r < 0)
    return r;
  /* In the rep's timescale: the pre-roll (in output frames) plus 0.1 s for the edit list. */
  double feed_s = start_s - (double)pipeline_preroll_frames(j->p) / f.rate - 0.1;
  size_t first = 0;
  for (size_t i = 0; i < rep->n_segments; i++)
    if ((double)rep->segments[i].start / rep->timescale <= feed_s)
      first = i;
  *ret_first = first;
  return 0;
}

/* A failed range read: "<url>: <what>: <why>". */
static int range_fail(int r, const struct source *src, const char *url, const char *what) {
  char detail[256];
  const char *d = source_detail(src);
  snprintf(detail, sizeof(detail), "%s%s%s", what, *d ? ": " : "", d);
  return probe_fail(r, url, detail);
}

/* The MPD declares the presentation's length (the period's duration, with one period),
 * and its segment list (or the sidx it came from) where the last segment ends. */
static int expect_mpd(struct job *j, const struct manifest *m, const struct manifest_rep *rep) {
  size_t n_periods;
  const struct manifest_period *per = manifest_periods(m, &n_periods);
  int r = 0;
  if (n_periods == 1 && per[0].duration_ns > 0)
    r = pipeline_expect_end(j->p, per[0].duration_ns, 1000000000u);
  if (r == 0 && rep->n_segments > 0) {
    const struct manifest_segment *last = &rep->segments[rep->n_segments - 1];
    uint64_t end;
    r = __builtin_add_overflow(last->start, last->duration, &end)
            ? -ERANGE
            : pipeline_expect_end(j->p, end, rep->timescale);
  }
  return r < 0 ? probe_fail(r, j->o->input, "declared duration") : 0;
}

static const struct manifest_rep *pick_rep(const struct probe_opts *o, const struct manifest *m) {
  size_t n_sets, n;
  if (o->rep)
    return manifest_find_rep(m, o->rep);
  const struct manifest_set *sets = manifest_adaptation_sets(m, &n_sets);
  if (n_sets == 0)
    return NULL;
  const struct manifest_rep *const *ranked = manifest_set_ranked(&sets[0], &n);
  return n ? ranked[0] : NULL;
}

static int decode_mpd(const struct probe_opts *o, const struct buf *b) {
  struct manifest *m = NULL;
  struct source *src = NULL;
  struct source_options so = {.ca_file = o->ca_file};
  struct job j = {.o = o};
  struct buf seg;
  char err[256] = "";
  int r = manifest_parse(b->data, b->len, o->input, &m, err, sizeof(err));
  if (r < 0)
    return probe_fail(r, o->input, err);

  buf_init(&seg, MP4_MAX_SEGMENT_SIZE);
  const struct manifest_rep *rep = pick_rep(o, m);
  if (!rep) {
    r = probe_fail(-ENOENT, o->rep ? o->rep : o->input, "no such representation");
    goto out;
  }
  if (!rep->has_init) {
    r = probe_fail(-AMP_EMANIFEST, rep->id, "no Initialization range");
    goto out;
  }
  r = source_open(rep->url, &so, &src);
  if (r < 0) {
    probe_fail(r, rep->url, NULL);
    goto out;
  }
  if (rep->segment_base && rep->has_index) {
    r = source_read_range(src, rep->index.first, rep->index.last, &seg);
    if (r == 0)
      r = manifest_rep_set_segments_from_sidx(m, rep, seg.data, seg.len, rep->index.first);
    if (r < 0) {
      range_fail(r, src, rep->url, "segment index");
      goto out;
    }
  }
  r = source_read_range(src, rep->init.first, rep->init.last, &seg);
  if (r < 0) {
    range_fail(r, src, rep->url, "init range");
    goto out;
  }
  r = job_start(&j, seg.data, seg.len, rep);
  if (r == 0)
    r = expect_mpd(&j, m, rep);
  size_t first = 0;
  if (r == 0 && o->start_s > 0) {
    r = seek_to(&j, rep, o->start_s, &first);
    if (r < 0)
      probe_fail(r, o->input, "--start");
  }
  for (size_t i = first; r == 0 && i < rep->n_segments; i++) {
    const struct manifest_segment *s = &rep->segments[i];
    char what[64];
    snprintf(what, sizeof(what), "segment %zu", i + 1);
    r = source_read_range(src, s->first, s->last, &seg);
    if (r < 0)
      range_fail(r, src, rep->url, what);
    else
      r = feed_fragment(&j, rep->url, what, seg.data, seg.len, s->first);
  }
  r = job_finish(&j, r);
out:
  source_free(src);
  buf_done(&seg);
  manifest_free(m);
  return r;
}

int probe_decode(const struct probe_opts *o) {
  struct job j = {.o = o};
  struct mp4_feed m = {.j = &j};
  struct probe_in in = {.on_unit = mp4_unit, .userdata = &m};
  int r = probe_in_read(o, &in);

  if (in.kind == PROBE_IN_MPD && r == 0)
    r = decode_mpd(o, &in.mpd);
  else
    r = decode_mp4(o, &in, &j, r);
  probe_in_done(&in);
  return r;
}
