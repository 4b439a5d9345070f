/* SPDX-License-Identifier: Apache-2.0 */
#include "mpd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/b64.h"
#include "core/buf.h"
#include "keys.h"

#define NS_MPD "urn:mpeg:dash:schema:mpd:2011"
#define NS_CENC "urn:mpeg:cenc:2013"
#define NS_AMZ_DRM "urn:amazon:music:drm:2019"
#define NS_AMZ_3P "urn:amazon:music:3p:music:2020"
#define NS_DASHIF "https://dashif.org/CPS"
#define SET_ID_HD 1
#define SET_ID_SD 2
#define MPD_MAX_LINE 1024 /* one formatted piece */

/* The MPD text with a sticky error: the first failed append fails the whole MPD. */
struct mw {
  struct buf b;
  int err;
};

static void w_str(struct mw *w, const char *s) {
  int r = w->err ? 0 : buf_append_str(&w->b, s);
  if (r < 0)
    w->err = r;
}

static void w_u8(struct mw *w, uint8_t c) {
  int r = w->err ? 0 : buf_append_u8(&w->b, c);
  if (r < 0)
    w->err = r;
}

__attribute__((format(printf, 2, 3))) static void w_fmt(struct mw *w, const char *fmt, ...) {
  char line[MPD_MAX_LINE];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof(line)) {
    if (!w->err)
      w->err = -EINVAL;
    return;
  }
  w_str(w, line);
}

static void put_esc(struct mw *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&':
      w_str(b, "&amp;");
      break;
    case '<':
      w_str(b, "&lt;");
      break;
    case '>':
      w_str(b, "&gt;");
      break;
    case '"':
      w_str(b, "&quot;");
      break;
    default:
      w_u8(b, (uint8_t)*s);
    }
  }
}

static int put_pssh_b64(struct mw *b, const uint8_t *box, int len) {
  if (len < 0)
    return len;
  char s[MP4W_MAX_PSSH * 2];
  if (b64_encoded_len((size_t)len, 0) + 1 > sizeof(s))
    return -EINVAL;
  b64_encode(box, (size_t)len, s, 0);
  w_str(b, s);
  return 0;
}

static int pssh_len(const struct mpd_track *t, int s) {
  return t->pssh_len[s] > 0 && t->pssh_len[s] <= MP4W_MAX_PSSH ? (int)t->pssh_len[s] : -EINVAL;
}

static int put_protection(struct mw *b, const struct mpd_track *t) {
  char uuid[37];
  uint8_t box[MP4W_MAX_PSSH];
  keys_uuid(t->kid, uuid);
  w_fmt(b,
        "      <ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" "
        "value=\"cenc\" cenc:default_KID=\"%s\"/>\n",
        uuid);
  w_str(b, "      <ContentProtection "
           "schemeIdUri=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\" "
           "value=\"Widevine\">\n        <cenc:pssh>");
  int r = t->pssh[0]
              ? put_pssh_b64(b, t->pssh[0], pssh_len(t, 0))
              : put_pssh_b64(b, box, mp4w_pssh_widevine(t->kid, t->content_id, box, sizeof(box)));
  if (r < 0)
    return r;
  w_str(b, "</cenc:pssh>\n        <amz-music:LicenseUrl>");
  put_esc(b, t->license_url ? t->license_url : MPD_DEFAULT_LICENSE_URL);
  w_str(b, "</amz-music:LicenseUrl>\n      </ContentProtection>\n");
  if (t->clearkey_url) {
    w_str(b, "      <ContentProtection "
             "schemeIdUri=\"urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e\" "
             "value=\"ClearKey1.0\">\n        <dashif:Laurl>");
    put_esc(b, t->clearkey_url);
    w_str(b, "</dashif:Laurl>\n        <cenc:pssh>");
    r = t->pssh[1] ? put_pssh_b64(b, t->pssh[1], pssh_len(t, 1))
                   : put_pssh_b64(b, box, mp4w_pssh_common(t->kid, box, sizeof(box)));
    if (r < 0)
      return r;
    w_str(b, "</cenc:pssh>\n      </ContentProtection>\n");
  }
  return 0;
}

static void put_rep(struct mw *b, const struct mpd_rep *r) {
  const struct es *es = r->es;
  w_fmt(b,
        "      <Representation id=\"%s\" bandwidth=\"%u\" codecs=\"%s\" "
        "mimeType=\"audio/mp4\" audioSamplingRate=\"%u\" qualityRanking=\"%u\" "
        "amz-music:bitDepth=\"%u\">\n",
        r->id, r->mp4->max_bps, es->codec == ES_FLAC ? "flac" : "opus", es->rate, r->quality,
        es->bits);
  w_fmt(b,
        "        <AudioChannelConfiguration "
        "schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" "
        "value=\"%u\"/>\n",
        es->channels);
  w_fmt(b, "        <BaseURL>%s.mp4</BaseURL>\n", r->id);
  w_fmt(b, "        <SegmentList timescale=\"%u\" duration=\"%u\">\n", es->rate,
        es->rate * MP4W_SEGMENT_S);
  w_fmt(b, "          <Initialization range=\"0-%llu\"/>\n",
        (unsigned long long)r->mp4->init_size - 1);
  for (size_t i = 0; i < r->mp4->n_seg; i++) {
    const struct mp4w_seg *s = &r->mp4->seg[i];
    w_fmt(b, "          <SegmentURL mediaRange=\"%llu-%llu\"/>\n", (unsigned long long)s->off,
          (unsigned long long)(s->off + s->size - 1));
  }
  w_str(b, "        </SegmentList>\n      </Representation>\n");
}

static int put_set(struct mw *b, const struct mpd_track *t, int hd, int both) {
  int id = hd ? SET_ID_HD : SET_ID_SD;
  w_fmt(b,
        "    <AdaptationSet id=\"%d\" contentType=\"audio\" mimeType=\"audio/mp4\" "
        "lang=\"und\" selectionPriority=\"%d\" segmentAlignment=\"true\" "
        "amz-music:trackType=\"%s\">\n",
        id, hd ? 2 : 1, hd ? "HD" : "SD");
  if (t->encrypt) {
    int r = put_protection(b, t);
    if (r < 0)
      return r;
  }
  w_fmt(b,
        "      <SupplementalProperty schemeIdUri=\"urn:mpeg:mpegB:cicp:ProgramLoudness\" "
        "value=\"%.1f LUFS\"/>\n",
        t->loud.program);
  w_fmt(b,
        "      <SupplementalProperty schemeIdUri=\"urn:mpeg:mpegB:cicp:AnchorLoudness\" "
        "value=\"%.1f LUFS\"/>\n",
        t->loud.anchor);
  if (both)
    w_fmt(b,
          "      <SupplementalProperty "
          "schemeIdUri=\"urn:mpeg:dash:adaptation-set-switching:2016\" value=\"%d\"/>\n",
          hd ? SET_ID_SD : SET_ID_HD);
  for (size_t i = 0; i < t->n_reps; i++)
    if (t->reps[i].hd == hd)
      put_rep(b, &t->reps[i]);
  w_str(b, "    </AdaptationSet>\n");
  return 0;
}

static int write_file(const char *path, const struct buf *b) {
  FILE *f = fopen(path, "we");
  if (!f)
    return -errno;
  size_t n = fwrite(b->data, 1, b->len, f);
  int r = n == b->len ? 0 : -EIO;
  if (fclose(f) != 0 && r == 0)
    r = -errno;
  return r;
}

int mpd_write(const char *path, const struct mpd_track *t) {
  struct mw b = {.b = BUF_INIT(MPD_MAX_BYTES), .err = 0};
  int have_hd = 0, have_sd = 0, r = 0;
  for (size_t i = 0; i < t->n_reps; i++) {
    have_hd |= t->reps[i].hd;
    have_sd |= !t->reps[i].hd;
  }
  w_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  w_fmt(&b,
        "<MPD xmlns=\"" NS_MPD "\" xmlns:cenc=\"" NS_CENC "\" xmlns:amz=\"" NS_AMZ_DRM
        "\" xmlns:amz-music=\"" NS_AMZ_3P "\" xmlns:dashif=\"" NS_DASHIF "\"\n"
        "     type=\"static\" profiles=\"urn:mpeg:dash:profile:isoff-on-demand:2011\" "
        "minBufferTime=\"PT10S\" mediaPresentationDuration=\"PT%.3fS\">\n",
        t->duration_s);
  w_fmt(&b, "  <Period id=\"0\" start=\"PT0S\" duration=\"PT%.3fS\">\n", t->duration_s);
  if (have_hd)
    r = put_set(&b, t, 1, have_sd);
  if (r == 0 && have_sd)
    r = put_set(&b, t, 0, have_hd);
  w_str(&b, "  </Period>\n</MPD>\n");
  if (r == 0)
    r = b.err;
  if (r == 0)
    r = write_file(path, &b.b);
  buf_done(&b.b);
  return r;
}
