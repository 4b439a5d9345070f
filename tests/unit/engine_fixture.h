/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fixture of the player/engine tests (test_engine.c, test_engine_conv.c): a recording
 * test output backend (`dev`: every frame written, per open; position = frames written
 * minus a fixed device delay, so the end of a stream is heard only when the engine drains
 * it), content from the test catalog read through its MPDs and byte ranges, keys in the
 * real ClearKey plugin, and a harness that feeds tracks on the loop thread and records
 * every event.
 */
#ifndef AMPD_TESTS_ENGINE_FIXTURE_H
#define AMPD_TESTS_ENGINE_FIXTURE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/cdmhost.h"
#include "platform/output.h"
#include "player/engine.h"

extern const char *catalog; /* the catalog directory (argv[1]) */

#define TDEV_MAX_OPENS 8
#define MAX_EVENTS 1024

struct tdev {
  pthread_mutex_t lock;
  uint64_t delay; /* frames held in the "device" before they count as heard */
  bool can_pause;
  char ops[256]; /* O open, D drain, X drop, C close, P pause, R resume */
  size_t n_ops;
  int opens;
  bool is_open, paused;
  int writes_while_paused;
  struct pcm_format fmt[TDEV_MAX_OPENS];
  int32_t *data[TDEV_MAX_OPENS]; /* every sample written (minus what a drop threw away) */
  size_t len[TDEV_MAX_OPENS], cap[TDEV_MAX_OPENS];
  uint64_t queued, heard; /* frames of the current open */
  uint64_t drop_heard;    /* heard at the last drop */
  uint64_t xruns;         /* underruns the test says the device had */
  int open_calls;         /* open() calls, failed ones included */
  int fail_opens;         /* the next this many opens fail with -EBUSY */
  bool has_mixer;         /* a mixer of -40..0 dB (volume_set_db clamps to it) */
  long mixer_cdb;         /* its setting, 1/100 dB */
  int mixer_sets;
  /* tdev_hold(): a write that would take the frames written in this open past hold_at
   * waits (on cond) until tdev_release(), so that a test can act while a track is
   * surely being heard, however fast or slow the machine (0: no hold) */
  uint64_t hold_at;
  pthread_cond_t cond;
};
extern struct tdev dev;

struct wav {
  int32_t *s; /* interleaved samples */
  size_t frames;
  unsigned channels, bits, rate;
};

struct seg {
  uint8_t *data;
  size_t len;
  uint64_t off;
};

struct track {
  uint32_t id;
  uint8_t *init;
  size_t init_len;
  struct seg segs[16];
  size_t n_segs;
  uint64_t declared_end;
  uint32_t timescale;
  int64_t start, end;
  uint32_t session;
  bool encrypted;
  bool has_loudness; /* handed to engine_track_open */
  double loudness_lufs;
  /* feeding state (loop thread) */
  bool opened, closed;
  size_t next;
};

struct harness {
  struct loop *loop;
  struct engine *e;
  struct cdmhost *cdm;
  struct track *tracks;
  size_t n_tracks;
  size_t feeding; /* the track being handed in */
  bool feed_paused;
  struct engine_event ev[MAX_EVENTS];
  size_t n_ev;
  int position_checks;
  int position_bad;
};

void tdev_reset(uint64_t delay, bool can_pause);
uint8_t *read_file(const char *path, size_t *ret_len);
void load_wav(const char *rel, struct wav *w);
void load_track(const char *dir, const char *rep_id, uint32_t id, size_t max_segs, struct track *t);
void free_track(struct track *t);
void add_key(struct cdmhost *h, struct track *t, const char *dir, const char *key_hex);
void feed(struct harness *h);
/* Hold the device at `frames` frames written in the current open (the next open starts
 * from 0), and let it go. Release before harness_free(): the engine's output thread may be
 * waiting in a write. */
void tdev_hold(uint64_t frames);
void tdev_release(void);

/* An engine on the test device with c's settings (loop, ops, on_event, userdata are the
 * harness's). */
void harness_start_with(struct harness *h, struct track *tracks, size_t n,
                        const struct engine_config *c);
void harness_start(struct harness *h, struct track *tracks, size_t n, uint32_t ring_ms,
                   size_t queue_max);
void harness_cdm(struct harness *h);
void harness_free(struct harness *h);
size_t count(const struct harness *h, enum engine_event_type type, uint32_t track);
void run_until(struct harness *h, bool (*cond)(struct harness *, void *), void *arg);
bool ended(struct harness *h, void *arg);
bool heard_at_least(struct harness *h, void *arg);
bool dev_paused(struct harness *h, void *arg);
bool dev_dropped(struct harness *h, void *arg);
void assert_pcm(int i, size_t at, const struct wav *src, size_t from, size_t n);
void assert_track_order(const struct harness *h);

/* Run the loop until track id has ended. */
void run_until_ended(struct harness *h, uint32_t id);

/* What one test plays: its harness, up to three tracks and two sources (WAV). Each test
 * gets a zeroed one on a reset device, 100 ms of delay at 44.1 kHz and able to pause
 * (engine_case_setup: ENGINE_CASE); engine_case_teardown frees the tracks and sources
 * loaded into it, also after a failed assertion. */
struct engine_case {
  struct harness h;
  struct track t[3];
  struct wav src[2];
};
int engine_case_setup(void **state);
int engine_case_teardown(void **state);
#define ENGINE_CASE(test)                                                                          \
  cmocka_unit_test_setup_teardown(test, engine_case_setup, engine_case_teardown)

/* mid45 at 44.1 kHz/16 (track 1, its first 3 s) and at 96 kHz/24 (track 2, its first
 * 2 s) into t[0] and t[1], their sources into src[0] and src[1]. */
void load_mid45_pair(struct engine_case *x);

/* main's arguments, CATALOG_DIR [TEST_NAME_PATTERN], taken; false (the usage line printed)
 * when they are not that. */
bool engine_test_args(int argc, char **argv, const char *name);

/* How far frames of got (at rate, bits valid bits, src's channels) are from src resampled
 * to rate from frame `from` on: the energy of the difference against a linear
 * interpolation of src (scaled to bits), over the energy of that. The interpolation's own
 * error on the catalog's highest tones is about 5e-4 (-33 dB); PCM not resampled, at the
 * wrong scale or one frame off is 1e-2 or worse. */
double resampled_error(const int32_t *got, size_t frames, uint32_t rate, unsigned bits,
                       const struct wav *src, size_t from);

#endif
