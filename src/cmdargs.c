/* SPDX-License-Identifier: Apache-2.0 */
/* cmdargs: the control commands' arguments (cmdargs.h). */
#include "cmdargs.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

int cmdargs_ref(const cJSON *args, const char **ret) {
  const cJSON *ref = cJSON_GetObjectItemCaseSensitive(args, "ref");
  if (!ref)
    return -ENOENT;
  if (!cJSON_IsString(ref) || !ref->valuestring)
    return -EINVAL;
  *ret = ref->valuestring;
  return 0;
}

int cmdargs_seek(const cJSON *args, uint64_t now_ms, uint64_t *ret_ms) {
  const cJSON *pos = cJSON_GetObjectItemCaseSensitive(args, "position_ms");
  const cJSON *off = cJSON_GetObjectItemCaseSensitive(args, "offset_ms");
  double target;
  if (cJSON_IsNumber(pos) && !off)
    target = pos->valuedouble;
  else if (cJSON_IsNumber(off) && !pos)
    target = (double)now_ms + off->valuedouble;
  else
    return -EINVAL;
  /* "1e999" parses to infinity: the comparisons below take it (and NaN) to 0. */
  if (!(target >= 0) || target > CMDARGS_SEEK_MAX_MS)
    target = 0;
  *ret_ms = (uint64_t)target;
  return 0;
}

int cmdargs_word(const cJSON *args, const char *key, const char *const *words, size_t n, int *ret) {
  const cJSON *w = cJSON_GetObjectItemCaseSensitive(args, key);
  if (!w) {
    *ret = -1;
    return 0;
  }
  if (!cJSON_IsString(w) || !w->valuestring)
    return -EINVAL;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(w->valuestring, words[i]) == 0) {
      *ret = (int)i;
      return 0;
    }
  }
  return -EINVAL;
}

int cmdargs_volume(const cJSON *args, unsigned cur, unsigned *ret) {
  const cJSON *vol = cJSON_GetObjectItemCaseSensitive(args, "volume");
  const cJSON *delta = cJSON_GetObjectItemCaseSensitive(args, "delta");
  if ((vol && delta) || (vol && !cJSON_IsNumber(vol)) || (delta && !cJSON_IsNumber(delta)))
    return -EINVAL;
  if (!vol && !delta) {
    *ret = cur;
    return 0;
  }
  double v = vol ? vol->valuedouble : (double)cur + delta->valuedouble;
  if (vol && !(v >= 0 && v <= 100))
    return -ERANGE;
  v = !(v >= 0) ? 0 : v > 100 ? 100 : v; /* NaN of inf - inf: 0 */
  *ret = (unsigned)v;
  return 0;
}
