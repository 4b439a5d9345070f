/* SPDX-License-Identifier: Apache-2.0 */
#include "testhooks.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "control/control.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

LOG_TOPIC("testhooks");

#ifndef AMPD_TEST_HOOKS
#error "testhooks.c is built into the ampd_test binary only"
#endif

static void cmd_test_stall(struct control_req *req, const cJSON *args, void *ud) {
  (void)ud;
  const cJSON *fifo = cJSON_GetObjectItemCaseSensitive(args, "fifo");
  if (!cJSON_IsString(fifo)) {
    control_reply_error(req, "bad_args", "test_stall needs \"fifo\": a FIFO's path");
    return;
  }
  log_warning("test hook: the loop stalls until %s is written and closed", fifo->valuestring);
  int fd = open(fifo->valuestring, O_RDONLY | O_CLOEXEC); /* blocks: that is the point */
  if (fd < 0) {
    control_reply_error(req, "failed", amp_strerror(-errno));
    return;
  }
  char b[64];
  ssize_t n;
  while ((n = read(fd, b, sizeof(b))) > 0 || (n < 0 && errno == EINTR))
    ;
  close(fd);
  log_warning("test hook: the loop runs again");
  control_reply(req, NULL);
}

/* A number of seconds in args (absent: 0) as microseconds; -EINVAL when it is not a
 * number or is beyond a year either way. */
static int seconds_arg(const cJSON *args, const char *name, int64_t *ret_usec) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(args, name);
  if (!v) {
    *ret_usec = 0;
    return 0;
  }
  if (!cJSON_IsNumber(v) || v->valuedouble > 366.0 * 86400 || v->valuedouble < -366.0 * 86400)
    return -EINVAL;
  *ret_usec = (int64_t)(v->valuedouble * 1e6);
  return 0;
}

static void cmd_test_clock(struct control_req *req, const cJSON *args, void *ud) {
  (void)ud;
  int64_t mono, wall;
  if (seconds_arg(args, "mono_s", &mono) < 0 || seconds_arg(args, "wall_s", &wall) < 0) {
    control_reply_error(req, "bad_args", "test_clock takes \"mono_s\" (>= 0) and \"wall_s\"");
    return;
  }
  int r = clock_advance(mono, wall);
  if (r < 0) {
    control_reply_error(req, "bad_args", amp_strerror(r));
    return;
  }
  /* On the loop's own thread: its next pass re-arms the timerfd against the new offset,
   * so what became due fires then (core/clock.h). */
  log_warning("test hook: the clocks moved (monotonic %+lld ms, wall %+lld ms)",
              (long long)(mono / 1000), (long long)(wall / 1000));
  control_reply(req, NULL);
}

int testhooks_register(struct control *c) {
  int r = control_add_command(c, "test_stall", cmd_test_stall, NULL);
  if (r == 0)
    r = control_add_command(c, "test_clock", cmd_test_clock, NULL);
  return r;
}
