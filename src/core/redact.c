/* SPDX-License-Identifier: Apache-2.0 */
#include "core/redact.h"

#include <stdbool.h>
#include <strings.h>

/* "http://" or "https://", any case: the length of the scheme and "://", else 0. */
static size_t url_scheme(const char *p) {
  if (strncasecmp(p, "https://", 8) == 0)
    return 8;
  if (strncasecmp(p, "http://", 7) == 0)
    return 7;
  return 0;
}

/* Where a URL quoted in a message ends. */
static bool url_end(char c) {
  return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '(' || c == ')';
}

void redact_urls(const char *text, char *out, size_t n) {
  size_t o = 0;
  const char *p = text;
  if (n == 0)
    return;
#define PUT(c)                                                                                     \
  do {                                                                                             \
    if (o + 1 < n)                                                                                 \
      out[o++] = (c);                                                                              \
  } while (0)
  while (*p) {
    size_t sl = url_scheme(p);
    if (!sl) {
      PUT(*p);
      p++; /* not inside PUT: its argument is not evaluated once out is full */
      continue;
    }
    for (size_t i = 0; i < sl; i++, p++)
      PUT(*p);
    /* the authority: [userinfo@]host[:port], up to '/', '?' or '#'. A URL that starts in
     * the authority or the path ends this one and is redacted on its own (else
     * "https://proxy/https://user:pw@host/" kept the inner userinfo). */
    size_t alen = 0, at = 0;
    while (!url_end(p[alen]) && p[alen] != '/' && p[alen] != '?' && p[alen] != '#' &&
           !url_scheme(p + alen)) {
      if (p[alen] == '@')
        at = alen + 1;
      alen++;
    }
    for (size_t i = at; i < alen; i++)
      PUT(p[i]);
    p += alen;
    for (; !url_end(*p) && *p != '?' && *p != '#' && !url_scheme(p); p++)
      PUT(*p);
    if (*p == '?' || *p == '#')
      while (!url_end(*p)) /* the query and the fragment, URLs in them too */
        p++;
  }
#undef PUT
  out[o] = '\0';
}
