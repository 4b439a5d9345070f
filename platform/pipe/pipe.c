/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pipe output backend (platform/pipe/pipe.h): raw PCM to a FIFO or a file through a
 * conversion buffer of one period. The fd stays O_NONBLOCK and a write that finds no room
 * waits in poll(2) on it and on an eventfd, so that output_interrupt() from another
 * thread ends the wait (a blocking write(2) could not be woken without a signal).
 */
#include "platform/pipe/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "platform/output_util.h"

LOG_TOPIC("pipe");

#define PIPE_MAX_STALLS 8u /* writes without room right after poll() said POLLOUT */
#define PIPE_SEEN_MAX 16u  /* files remembered as truncated by this process */

struct pipe_output {
  struct output base; /* first: the handle callers see */
  int fd;             /* O_NONBLOCK */
  int wake;           /* eventfd: readable once interrupted (never read) */
  atomic_bool interrupted;
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

/* The regular files this process has truncated, by device and inode. A file is truncated
 * at its first open in the process and appended to at every later one: the engine
 * reopens the output at a format change (docs/architecture.md, Threads), and a file that
 * collects the stream must keep what came before (pipe.h). Bounded: past PIPE_SEEN_MAX
 * files the oldest is forgotten (and truncated again if it is opened again; ampd opens
 * one path). */
static struct {
  pthread_mutex_t lock;
  dev_t dev[PIPE_SEEN_MAX];
  ino_t ino[PIPE_SEEN_MAX];
  size_t n, next;
} seen = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* true when (dev, ino) is opened for the first time by this process (now remembered). */
static bool first_open(dev_t dev, ino_t ino) {
  bool first = true;
  pthread_mutex_lock(&seen.lock);
  for (size_t i = 0; i < seen.n && first; i++)
    first = !(seen.dev[i] == dev && seen.ino[i] == ino);
  if (first) {
    seen.dev[seen.next] = dev;
    seen.ino[seen.next] = ino;
    seen.next = (seen.next + 1) % PIPE_SEEN_MAX;
    if (seen.n < PIPE_SEEN_MAX)
      seen.n++;
  }
  pthread_mutex_unlock(&seen.lock);
  return first;
}

/* If the first open of (dev, ino) fails after first_open() said so, forget it again so
 * the next open truncates. */
static void forget_open(dev_t dev, ino_t ino) {
  pthread_mutex_lock(&seen.lock);
  for (size_t i = 0; i < seen.n; i++)
    if (seen.dev[i] == dev && seen.ino[i] == ino) {
      seen.dev[i] = 0;
      seen.ino[i] = 0; /* no file has inode 0 */
    }
  pthread_mutex_unlock(&seen.lock);
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
  if (o->wake >= 0)
    close(o->wake);
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
  o->wake = -1;
  atomic_init(&o->interrupted, false);
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

  o->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (o->wake < 0) {
    r = -errno;
    output_seterr(errbuf, errlen, "pipe: eventfd: %s", strerror(errno));
    goto fail;
  }

  /* O_NONBLOCK: opening a FIFO without a reader fails (ENXIO) instead of blocking; the fd
   * then stays non-blocking (write_all() waits in poll). O_APPEND: a file reopened by this
   * process goes on at its end; the first open truncates it (below). */
  o->fd = open(path, O_WRONLY | O_CREAT | O_NONBLOCK | O_APPEND | O_CLOEXEC, 0644);
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
  if (S_ISREG(st.st_mode) && first_open(st.st_dev, st.st_ino) && ftruncate(o->fd, 0) < 0) {
    int e = errno;
    forget_open(st.st_dev, st.st_ino);
    output_seterr(errbuf, errlen, "cannot truncate %s: %s", path, strerror(e));
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

/* Write len bytes of buf, waiting in poll(2) (no timeout: a slow reader is a slow device)
 * while the FIFO is full. 0; -ECANCELED once interrupted; -errno of the failed write(2)
 * or poll(2); -EAGAIN when the fd said POLLOUT and then took nothing PIPE_MAX_STALLS
 * times in a row (not expected: it bounds a spin). */
static int write_all(struct pipe_output *o, const uint8_t *buf, size_t len) {
  unsigned stalls = 0;
  bool said_ready = false; /* the last poll() returned with POLLOUT */
  while (len > 0) {
    if (atomic_load_explicit(&o->interrupted, memory_order_acquire))
      return -ECANCELED;
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
    if (said_ready && ++stalls >= PIPE_MAX_STALLS)
      return -EAGAIN;
    struct pollfd pfd[2] = {{.fd = o->fd, .events = POLLOUT}, {.fd = o->wake, .events = POLLIN}};
    int n = poll(pfd, 2, -1);
    if (n < 0 && errno != EINTR)
      return -errno;
    /* POLLERR (the reader went away) falls through to the write, which says EPIPE. */
    said_ready = n > 0 && (pfd[0].revents & POLLOUT) != 0;
  }
  return 0;
}

static int pipe_write(struct output *base, const int32_t *pcm, size_t frames) {
  struct pipe_output *o = from(base);
  if (pcm == NULL && frames > 0)
    return -EINVAL;
  if (atomic_load_explicit(&o->interrupted, memory_order_acquire))
    return -ECANCELED;
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
  if (r == -ECANCELED)
    return r;
  if (r < 0) {
    log_debug("write failed: %s", strerror(-r));
    return -AMP_EAUDIO;
  }
  return 0;
}

static int pipe_drain(struct output *base) {
  struct pipe_output *o = from(base);
  o->paused = false;
  if (atomic_load_explicit(&o->interrupted, memory_order_acquire))
    return -ECANCELED;
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

/* Any thread. The flag is what write_all() checks before each write(2); the eventfd wakes
 * a poll() already waiting. It stays readable: a later poll returns at once too. */
static void pipe_interrupt(struct output *base) {
  struct pipe_output *o = from(base);
  atomic_store_explicit(&o->interrupted, true, memory_order_release);
  uint64_t one = 1;
  ssize_t w = write(o->wake, &one, sizeof(one)); /* EAGAIN only at a counter near 2^64 */
  (void)w;
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
    .interrupt = pipe_interrupt,
};

const struct output_ops *output_pipe_ops(void) {
  return &pipe_ops;
}
