/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The player end to end, in one process: player (loop side) + engine (media and output
 * threads) + loader + fetcher + drm + cloud/api + cloud/report against the mock over TLS
 * serving the test catalog, through the real ClearKey CDM, into the pipe output backend
 * writing a regular file. The album's three tracks (album/t1..t3 are consecutive parts of
 * album/continuous) must come out gapless and bit-exact: the file equals the continuous
 * source's PCM, across each clear lead and the encrypted parts. Each track's playback
 * events reach its collector in order.
 *
 * argv[1] is the source tree, argv[2] the test catalog.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cloud/api.h"
#include "cloud/bearer.h"
#include "cloud/license.h"
#include "cloud/lwa.h"
#include "cloud/report.h"
#include "cloud_harness.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/loop.h"
#include "http_harness.h"
#include "media/cdmhost.h"
#include "media/manifest.h"
#include "platform/backends.h"
#include "player/engine.h"
#include "player/player.h"

#define REP "flac_16_44"

struct obs {
  struct player *player;
  int changes, stopped, started_playing;
  enum player_state state;
};

static void on_event(void *ud, const struct engine_event *ev) {
  struct obs *o = ud;
  if (o->player)
    player_engine_event(o->player, ev);
}

static void on_change(void *ud, const struct player_status *st) {
  struct obs *o = ud;
  o->changes++;
  o->state = st->state;
  if (st->state == PLAYER_PLAYING)
    o->started_playing = 1;
  if (st->state == PLAYER_STOPPED || st->state == PLAYER_ERROR)
    o->stopped = 1;
}

static const struct manifest_rep *choose(void *ud, const struct manifest *m) {
  (void)ud;
  return manifest_find_rep(m, REP);
}

/* The URL of the first playable item of the root's section. */
static void container_url(struct api *a, const char *section, char *out, size_t n) {
  struct apidoc *home = get_doc(a, api_root(a));
  bool playable = true;
  struct apidoc *sec = follow(a, home, section, &playable);
  const struct apidoc_node *node = NULL;
  assert_int_equal(apidoc_node(sec, apidoc_result(sec), &node), 0);
  const struct apidoc_summary *m = NULL;
  assert_int_equal(apidoc_summary(sec, node->items[0], &m), 0);
  assert_true(m->playable);
  resolve_url(sec, m->ref, out, n);
  apidoc_free(sec);
  apidoc_free(home);
}

static uint8_t *read_all(const char *path, size_t *ret_len) {
  FILE *f = fopen(path, "rbe");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n >= 0);
  assert_int_equal(fseek(f, 0, SEEK_SET), 0);
  uint8_t *p = malloc((size_t)n + 1);
  assert_non_null(p);
  assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *ret_len = (size_t)n;
  return p;
}

/* The PCM bytes of a canonical or extensible WAV file (its data chunk). */
static const uint8_t *wav_data(const uint8_t *w, size_t len, size_t *ret_len) {
  assert_true(len >= 12 && memcmp(w, "RIFF", 4) == 0 && memcmp(w + 8, "WAVE", 4) == 0);
  size_t off = 12;
  while (off + 8 <= len) {
    uint32_t sz = w[off + 4] | (uint32_t)w[off + 5] << 8 | (uint32_t)w[off + 6] << 16 |
                  (uint32_t)w[off + 7] << 24;
    if (memcmp(w + off, "data", 4) == 0) {
      assert_true(off + 8 + sz <= len);
      *ret_len = sz;
      return w + off + 8;
    }
    off += 8 + sz + (sz & 1);
  }
  fail_msg("no data chunk");
  return NULL;
}

static void test_album_gapless_bit_exact(void **state) {
  (void)state;
  begin_test();
  struct lwa *w = linked_lwa();
  struct api *a = make_api(w, true);
  struct bearer lb, rb;
  bearer_init(&lb, w, -1);
  bearer_init(&rb, w, 1);
  struct license *lc = license_client(&lb);
  char qpath[PATH_MAX], out[PATH_MAX], dev[PATH_MAX + 8];
  assert_true(join(qpath, tmp, "player.evq") && join(out, tmp, "played.raw"));
  snprintf(dev, sizeof(dev), "S16:%s", out);
  struct report_config rc = {.queue_path = qpath,
                             .backoff_min_ms = 20,
                             .backoff_max_ms = 200,
                             .headers = bearer_headers,
                             .on_token_rejected = bearer_rejected,
                             .userdata = &rb};
  struct report *rep = NULL;
  assert_int_equal(report_new(L, H, &rc, &rep), 0);
  struct cdmhost_options opt = {.plugin_dir = PLAYERTEST_CLEARKEY_DIR};
  struct cdmhost *cdm = NULL;
  assert_int_equal(cdmhost_open("clearkey", &opt, &cdm), 0);
  static struct obs o;
  o = (struct obs){0};
  struct engine_config ec = {.loop = L,
                             .ops = output_backend_find("pipe"),
                             .params = {.device = dev},
                             .on_event = on_event,
                             .userdata = &o};
  assert_non_null(ec.ops);
  struct engine *e = NULL;
  assert_int_equal(engine_new(&ec, &e), 0);
  struct player_config pc = {.loop = L,
                             .http = H,
                             .api = a,
                             .license = lc,
                             .cdm = cdm,
                             .report = rep,
                             .engine = e,
                             .choose = choose,
                             .on_change = on_change,
                             .userdata = &o};
  fetcher_config_init(&pc.fetch);
  assert_int_equal(player_new(&pc, &o.player), 0);

  char url[HTTP_URL_MAX];
  container_url(a, "Albums", url, sizeof(url));
  assert_int_equal(player_play(o.player, url), 0);
  uint64_t end = clock_mono_usec() + 3 * WAIT_GUARD_USEC;
  while (!o.stopped) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 50) >= 0);
  }
  struct player_status st;
  player_status(o.player, &st);
  assert_int_equal(st.state, PLAYER_STOPPED);
  assert_int_equal(st.error, 0);
  assert_int_equal(st.tracks_played, 3);
  assert_true(o.started_playing);

  /* What the device got is the continuous source, byte for byte. */
  char src[PATH_MAX];
  snprintf(src, sizeof(src), "%s/album/continuous/source/" REP ".wav", catalog);
  size_t wl = 0, pl = 0, dl = 0;
  uint8_t *wav = read_all(src, &wl);
  uint8_t *played = read_all(out, &pl);
  const uint8_t *pcm = wav_data(wav, wl, &dl);
  assert_int_equal(pl, dl);
  assert_memory_equal(played, pcm, dl);
  free(wav);
  free(played);

  /* The events: started and finished for each track, in order, at its collector. */
  struct report_stats rs;
  for (report_stats(rep, &rs); rs.pending > 0; report_stats(rep, &rs)) {
    assert_true(clock_mono_usec() < end);
    assert_true(loop_run_once(L, 20) >= 0);
  }
  cJSON *coll = ctrl(H, HTTP_GET, "/_mock/collector", NULL), *ev;
  char seq[512] = "";
  size_t sl = 0;
  cJSON_ArrayForEach(ev, cJSON_GetObjectItem(coll, "events")) {
    const char *t = str(ev, "eventType");
    int k = snprintf(seq + sl, sizeof(seq) - sl, "%s ", t + strlen("PLAYBACK_"));
    assert_true(k > 0 && (size_t)k < sizeof(seq) - sl);
    sl += (size_t)k;
  }
  cJSON_Delete(coll);
  assert_string_equal(seq, "STARTED FINISHED STARTED FINISHED STARTED FINISHED ");

  player_free(o.player);
  o.player = NULL;
  engine_free(e);
  cdmhost_free(cdm);
  report_free(rep);
  license_free(lc);
  bearer_wipe(&lb);
  bearer_wipe(&rb);
  api_free(a);
  lwa_free(w);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s SRC_DIR CATALOG_DIR\n", argv[0]);
    return 2;
  }
  src_dir = argv[1];
  catalog = argv[2];
  cloud_tag = "player";
  if (getenv("AMPD_LOG"))
    log_set_levels(getenv("AMPD_LOG"));
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_album_gapless_bit_exact),
  };
  return cmocka_run_group_tests(tests, cloud_setup, cloud_teardown);
}
