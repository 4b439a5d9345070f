/* SPDX-License-Identifier: Apache-2.0 */
/* backends: the output backends by name (platform/backends.h). */
#include "platform/backends.h"

#include <string.h>

#include "platform/alsa/alsa.h"
#include "platform/null/null.h"
#include "platform/pipe/pipe.h"

typedef const struct output_ops *(*ops_fn)(void);
static const ops_fn backends[] = {output_alsa_ops, output_pipe_ops, output_null_ops};
#define N_BACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct output_ops *output_backend_at(size_t i) {
  return i < N_BACKENDS ? backends[i]() : NULL;
}

const struct output_ops *output_backend_find(const char *name) {
  if (name == NULL)
    return NULL;
  for (size_t i = 0; i < N_BACKENDS; i++) {
    const struct output_ops *ops = backends[i]();
    if (strcmp(ops->name, name) == 0)
      return ops;
  }
  return NULL;
}
