/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPPROBE_WAVOUT_H
#define AMPPROBE_WAVOUT_H

#include <stddef.h>
#include <stdint.h>

#include "platform/output.h"

/*
 * wavout: a streaming RIFF/WAVE writer for interleaved int32 PCM of 16 or 24 valid bits
 * (written as 16-bit or packed 24-bit little-endian samples; WAVE_FORMAT_EXTENSIBLE above
 * 16 bits or 2 channels, as the spec asks), onto an outfile. On a seekable output the
 * sizes in the header are patched at wavout_finish(), so the file is whole only after it;
 * on a pipe they cannot be, and stay 0xFFFFFFFF ("unknown, read to the end"). A stream of
 * more than 4 GiB is refused.
 */

struct wavout;
struct outfile;

/* Writes the header. The outfile stays the caller's. */
int wavout_open(struct outfile *f, const struct pcm_format *fmt, struct wavout **ret);
int wavout_write(struct wavout *w, const int32_t *pcm, size_t frames);
/* Patch the header (when the output is seekable). Frees w whatever happens; accepts NULL. */
int wavout_finish(struct wavout *w);

#endif
