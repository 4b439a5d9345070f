/* SPDX-License-Identifier: Apache-2.0 */
/* The bearer header of cloud/license and cloud/report from cloud/lwa. See bearer.h. */
#include "cloud/bearer.h"

#include <errno.h>
#include <string.h>

#include "net/http.h"

void bearer_init(struct bearer *b, struct lwa *w, int has_explicit) {
  if (!b)
    return;
  explicit_bzero(b->value, sizeof(b->value));
  b->lwa = w;
  b->has_explicit = has_explicit < 0 ? -1 : has_explicit > 0;
}

void bearer_wipe(struct bearer *b) {
  if (b)
    explicit_bzero(b->value, sizeof(b->value));
}

int bearer_headers(void *userdata, struct http_header *out, size_t max, size_t *ret_n) {
  struct bearer *b = userdata;
  if (!b || !b->lwa || !out || !ret_n)
    return -EINVAL;
  size_t need = b->has_explicit >= 0 ? 2 : 1;
  if (max < need)
    return -EINVAL;
  const size_t pre = sizeof(BEARER_PREFIX) - 1;
  int r = lwa_peek_token(b->lwa, b->value + pre, sizeof(b->value) - pre);
  if (r < 0) {
    explicit_bzero(b->value, sizeof(b->value));
    return r;
  }
  memcpy(b->value, BEARER_PREFIX, pre);
  out[0] = (struct http_header){"Authorization", b->value};
  if (need == 2)
    out[1] = (struct http_header){"hasExplicit", b->has_explicit ? "true" : "false"};
  *ret_n = need;
  return 0;
}

void bearer_rejected(void *userdata) {
  struct bearer *b = userdata;
  if (!b || !b->lwa)
    return;
  const size_t pre = sizeof(BEARER_PREFIX) - 1;
  lwa_token_rejected(b->lwa, b->value[0] ? b->value + pre : NULL);
}
