/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The login's QR code on a terminal (libqrencode). A phone scans it and opens the
 * verification page with the code filled in, instead of the user typing both.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <qrencode.h>

#include "ampctl.h"

#define QR_MARGIN 4 /* the quiet zone the QR specification asks for, in modules */

int ampctl_qr_text(const char *uri, const char *code, char **ret) {
  if (!uri || !*uri || !code || !*code)
    return -EINVAL;
  /* The page takes the code as a query parameter; one already in the URI is kept. */
  const char *sep = strchr(uri, '?') ? "&" : "?";
  size_t n = strlen(uri) + strlen(sep) + strlen("cbl-code=") + strlen(code) + 1;
  char *t = malloc(n);
  if (!t)
    return -ENOMEM;
  snprintf(t, n, "%s%scbl-code=%s", uri, sep, code);
  *ret = t;
  return 0;
}

/* A module of the symbol with its quiet zone around it; outside it all is light. */
static bool dark(const QRcode *q, int x, int y) {
  x -= QR_MARGIN;
  y -= QR_MARGIN;
  if (x < 0 || y < 0 || x >= q->width || y >= q->width)
    return false;
  return q->data[y * q->width + x] & 1;
}

int ampctl_qr_print(FILE *f, const char *text) {
  /* 8-bit mode only, so the symbol's size follows from the text's length alone. */
  QRcode *q = QRcode_encodeString8bit(text, 0, QR_ECLEVEL_L);
  if (!q)
    return errno == ERANGE ? -EINVAL : -ENOMEM;
  int size = q->width + 2 * QR_MARGIN;
  /* Light modules are drawn (a terminal's background is dark), two rows per line: the
   * upper half block is the upper row. Below the last row (size is odd) is background. */
  for (int y = 0; y < size; y += 2) {
    for (int x = 0; x < size; x++) {
      bool top = !dark(q, x, y), bottom = y + 1 < size && !dark(q, x, y + 1);
      fputs(top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ", f);
    }
    fputc('\n', f);
  }
  QRcode_free(q);
  return 0;
}
