/* SPDX-License-Identifier: Apache-2.0 */
#include "testhooks.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "control/control.h"
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

int testhooks_register(struct control *c) {
  return control_add_command(c, "test_stall", cmd_test_stall, NULL);
}
