/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status: the player's state from ampd, through libampd-client (include/ampd/client.h).
 *
 *   cc status.c -o status $(pkg-config --cflags --libs ampd-client)
 *   ./status [SOCKET] [EVENTS]
 *
 * Prints the state (and the track, if one is loaded); with EVENTS > 0, subscribes and
 * prints that many player events, then exits. The exit status is 0, or 1 with the error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ampd/client.h>

static int events_left;

static void on_event(const struct ampd_msg *ev, void *userdata) {
  (void)userdata;
  const char *state;
  if (strcmp(ampd_msg_event(ev), "player") != 0 || events_left <= 0)
    return;
  events_left--;
  if (ampd_msg_string(ev, "state", &state) == 0)
    printf("event: %s\n", state);
  else
    printf("event: %s\n", ampd_msg_body(ev));
}

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : NULL; /* NULL: AMPD_CLIENT_DEFAULT_SOCKET */
  setvbuf(stdout, NULL, _IOLBF, 0);             /* each line as it comes, also into a pipe */
  events_left = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 0;
  if (ampd_client_abi_version() != AMPD_CLIENT_ABI_VERSION) {
    fprintf(stderr, "status: built for ABI %d, the library is %u\n", AMPD_CLIENT_ABI_VERSION,
            ampd_client_abi_version());
    return 1;
  }
  struct ampd_client *c;
  int r = ampd_client_connect(path, &c);
  if (r < 0) {
    fprintf(stderr, "status: connect: %s\n", strerror(-r));
    return 1;
  }
  struct ampd_msg *reply;
  r = ampd_client_call(c, "status", NULL, 10000, &reply);
  if (r < 0) {
    fprintf(stderr, "status: %s\n", strerror(-r));
    goto fail;
  }
  if (!ampd_msg_ok(reply)) {
    fprintf(stderr, "status: refused: %s: %s\n", ampd_msg_error_code(reply),
            ampd_msg_error_message(reply));
    ampd_msg_free(reply);
    goto fail;
  }
  const char *state = "?", *title;
  double volume;
  ampd_msg_string(reply, "state", &state);
  printf("state: %s\n", state);
  if (ampd_msg_string(reply, "title", &title) == 0 && title[0])
    printf("title: %s\n", title);
  if (ampd_msg_number(reply, "volume", &volume) == 0)
    printf("volume: %.0f\n", volume);
  ampd_msg_free(reply);
  if (events_left > 0) {
    r = ampd_client_subscribe(c, on_event, NULL, 10000);
    if (r == 0)
      printf("subscribed\n");
    /* A program with its own loop would poll ampd_client_fd() and call
     * ampd_client_process(); this one blocks in ampd_client_dispatch(). */
    while (r == 0 && events_left > 0)
      r = ampd_client_dispatch(c, -1);
    if (r < 0 && r != -EINTR) {
      fprintf(stderr, "status: events: %s\n", strerror(-r));
      goto fail;
    }
  }
  ampd_client_close(c);
  return 0;
fail:
  ampd_client_close(c);
  return 1;
}
