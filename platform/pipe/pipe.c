/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pipe output backend (platform/pipe/pipe.h): raw PCM to a FIFO or a file, blocking
 * write(2) on the output thread through a conversion buffer of one period.
 */
#include "platform/pipe/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "platform/output_util.h"

LOG_TOPIC("pipe");

#define PIPE_WAIT_MS 1000  /* poll() timeout when a write would block (not expected) */
#define PIPE_MAX_STALLS 8u /* consecutive writes without progress before -AMP_EAUDIO */

struct pipe_output {
  struct output base; /* first: the handle callers see */
  int fd;
  struct pcm_format fmt;
  enum output_sample_format sfmt;
  size_t frame_bytes; /* device bytes per frame */
  uint8_t *conv;      /* conv_frames frames in the device format */
  size_t conv_frames;
  uint64_t bytes; /* written since open */
  bool paused;
};

static struct pipe_output *from(struct output *o) {
  return (struct pipe_output *)o;
}

static int map_open_errno(int e) {
  switch (e) {
  case ENXIO:
    return -EBUSY; /* a FIFO without a reader: retry later */
  case ENOENT:
  case ENOTDIR:
    return -ENOENT;
  case EACCES:
  case EPERM:
  case ENOMEM:
  case EBUSY:
    return -e;
  case EISDIR:
    return -EINVAL;
  default:
    return -AMP_EAUDIO;
  }
}

static void pipe_close(struct output *base) {
  struct pipe_output *o = from(base);
  if (o == NULL)
    return;
  if (o->fd >= 0)
    close(o->fd);
  free(o->conv);
  free(o);
}

static int pipe_open(const struct output_params *p, struct output **ret,
                     struct output_info *ret_info, char *errbuf, size_t errlen) {
  if (p == NULL || ret == NULL || ret_info == NULL)
    return -EINVAL;
  uint32_t buffer_us, period_us;
  int r = output_check_params(p, &buffer_us, &period_us, errbuf, errlen);
  if (r < 0)
    return r;
  enum output_sample_format sfmt;
  const char *path;
  if (output_device_split(p->device, &sfmt, &path) < 0 || path[0] == '\0') {
    output_seterr(errbuf, errlen, "pipe: bad device '%s' (want [S16|S24|S24_3|S32:]PATH)",
                  p->device ? p->device : "");
    return -EINVAL;
  }
  if (sfmt == OUTPUT_FMT_NONE)
    sfmt = output_default_format(p->format.bits);

  struct pipe_output *o = calloc(1, sizeof(*o));
  if (o == NULL)
    return -ENOMEM;
  o->base.ops = output_pipe_ops();
  o->fd = -1;
  o->fmt = p->format;
  o->sfmt = sfmt;
  o->frame_bytes = output_frame_bytes(sfmt, p->format.channels);
  uint32_t buffer_frames = output_frames_of_us(p->format.rate, buffer_us);
  uint32_t period_frames = output_frames_of_us(p->format.rate, period_us);
  o->conv_frames = period_frames;
  o->conv = malloc(o->conv_frames * o->frame_bytes);
  if (o->conv == NULL) {
    r = -ENOMEM;
    goto fail;
  }

  /* O_NONBLOCK: opening a FIFO without a reader fails (ENXIO) instead of blocking. */
  o->fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644);
  if (o->fd < 0) {
    int e = errno;
    output_seterr(errbuf, errlen, "cannot open %s: %s", path,
                  e == ENXIO ? "no reader on the FIFO (retry when one opens it)" : strerror(e));
    r = map_open_errno(e);
    goto fail;
  }
  struct stat st;
  if (fstat(o->fd, &st) < 0) {
    output_seterr(errbuf, errlen, "cannot stat %s: %s", path, strerror(errno));
    r = -AMP_EAUDIO;
    goto fail;
  }
  if (S_ISREG(st.st_mode) && ftruncate(o->fd, 0) < 0) {
    output_seterr(errbuf, errlen, "cannot truncate %s: %s", path, strerror(errno));
    r = -AMP_EAUDIO;
    goto fail;
  }
  int fl = fcntl(o->fd, F_GETFL);
  if (fl < 0 || fcntl(o->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
    output_seterr(errbuf, errlen, "cannot make %s blocking: %s", path, strerror(errno));
    r = -AMP_EAUDIO;
    goto fail;
  }

  log_debug("%s: %u Hz, %u ch, %u bits as %s (%s); period %u frames", path, p->format.rate,
            p->format.channels, p->format.bits, output_format_name(sfmt),
            S_ISFIFO(st.st_mode) ? "FIFO" : "file", period_frames);
  *ret_info = (struct output_info){
      .format = p->format,
      .sample_format = sfmt,
      .exact = output_format_bits(sfmt) >= p->format.bits,
      .buffer_frames = buffer_frames,
      .period_frames = period_frames,
      .start_threshold = buffer_frames - period_frames,
      .can_pause = true,
      .has_mixer = false,
  };
  *ret = &o->base;
  return 0;
fail:
  pipe_close(&o->base);
  return r;
}

/* Write len bytes of buf, blocking. 0, or -errno of the failed write(2) (-EAGAIN after
 * PIPE_MAX_STALLS polls without room). */
static int write_all(struct pipe_output *o, const uint8_t *buf, size_t len) {
  unsigned stalls = 0;
  while (len > 0) {
    ssize_t w = write(o->fd, buf, len);
    if (w > 0) {
      buf += w;
      len -= (size_t)w;
      o->bytes += (uint64_t)w;
      stalls = 0;
      continue;
    }
    int e = w < 0 ? errno : EAGAIN;
    if (e == EINTR)
      continue;
    if (e != EAGAIN && e != EWOULDBLOCK)
      return -e;
    if (++stalls >= PIPE_MAX_STALLS)
      return -EAGAIN;
    struct pollfd pfd = {.fd = o->fd, .events = POLLOUT};
    (void)poll(&pfd, 1, PIPE_WAIT_MS);
  }
  return 0;
}

static int pipe_write(struct output *base, const int32_t *pcm, size_t frames) {
  struct pipe_output *o = from(base);
  if (pcm == NULL && frames > 0)
    return -EINVAL;
  if (o->paused)
    return -EBUSY;
  if (frames == 0)
    return 0;

  /* Block SIGPIPE on this thread: a reader that goes away gives EPIPE, and the signal the
   * kernel raises stays pending on this thread until consumed below. */
  sigset_t pipe_set, old_set, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
  sigemptyset(&pending);
  sigpending(&pending);
  bool was_pending = sigismember(&pending, SIGPIPE) == 1;

  int r = 0;
  while (frames > 0) {
    size_t n = frames < o->conv_frames ? frames : o->conv_frames;
    output_convert(o->sfmt, o->fmt.bits, pcm, n * o->fmt.channels, o->conv);
    r = write_all(o, o->conv, n * o->frame_bytes);
    if (r < 0)
      break;
    pcm += n * o->fmt.channels;
    frames -= n;
  }

  if (r == -EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_set, NULL);

  if (r == -EPIPE) {
    log_debug("the reader went away");
    return -ENODEV;
  }
  if (r < 0) {
    log_debug("write failed: %s", strerror(-r));
    return -AMP_EAUDIO;
  }
  return 0;
}

static int pipe_drain(struct output *base) {
  from(base)->paused = false;
  return 0; /* nothing is queued on our side */
}

static int pipe_drop(struct output *base) {
  from(base)->paused = false;
  return 0;
}

static int pipe_pause(struct output *base, bool pause) {
  from(base)->paused = pause;
  return 0;
}

static int pipe_delay(struct output *base, uint64_t *ret_frames) {
  (void)base;
  *ret_frames = 0;
  return 0;
}

static int pipe_position(struct output *base, uint64_t *ret_frames) {
  struct pipe_output *o = from(base);
  *ret_frames = o->bytes / o->frame_bytes;
  return 0;
}

static uint64_t pipe_xruns(const struct output *base) {
  (void)base;
  return 0;
}

static int pipe_probe(const char *device, struct output_caps *ret) {
  enum output_sample_format sfmt;
  const char *path;
  if (output_device_split(device, &sfmt, &path) < 0 || path[0] == '\0')
    return -EINVAL;
  struct stat st;
  if (stat(path, &st) == 0) {
    if (S_ISDIR(st.st_mode))
      return -EINVAL;
  } else {
    /* a new file: its directory must exist */
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    size_t len = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
    if (len >= sizeof(dir))
      return -ENAMETOOLONG;
    memcpy(dir, slash == NULL ? "." : path, len);
    dir[len] = '\0';
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
      return -ENOENT;
  }
  *ret = output_any_caps(sfmt);
  return 0;
}

static const struct output_ops pipe_ops = {
    .version = OUTPUT_OPS_VERSION,
    .name = "pipe",
    .open = pipe_open,
    .close = pipe_close,
    .write = pipe_write,
    .drain = pipe_drain,
    .drop = pipe_drop,
    .pause = pipe_pause,
    .delay = pipe_delay,
    .position = pipe_position,
    .xruns = pipe_xruns,
    .probe = pipe_probe,
};

const struct output_ops *output_pipe_ops(void) {
  return &pipe_ops;
}
