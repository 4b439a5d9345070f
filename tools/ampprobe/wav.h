/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPPROBE_WAV_H
#define AMPPROBE_WAV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "platform/output.h"

/*
 * wav: a RIFF/WAVE writer for interleaved int32 PCM of 16 or 24 valid bits (written as
 * 16-bit or packed 24-bit little-endian samples; WAVE_FORMAT_EXTENSIBLE above 16 bits or
 * 2 channels, as the spec asks). The sizes in the header are patched at wav_close(), so
 * the file is valid only after a successful close; a stream of more than 4 GiB is refused.
 */

struct wav;

int wav_open(const char *path, const struct pcm_format *fmt, struct wav **ret);
int wav_write(struct wav *w, const int32_t *pcm, size_t frames);
/* Patch the header and close. Frees w whatever happens. */
int wav_close(struct wav *w);

#endif
