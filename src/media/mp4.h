/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_MP4_H
#define AMPD_MEDIA_MP4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * mp4: a demuxer for fragmented MP4 audio with Common Encryption (ISO/IEC 14496-12,
 * 23001-7; docs/media.md §1-§6). It reads bytes from the network and must survive any
 * of them: every length is checked against its parent box, recursion is depth-limited,
 * every count has a bound below, and offset arithmetic cannot overflow.
 *
 * Two steps, both on whole buffers supplied by the caller:
 *   1. mp4_init_parse() on the initialization segment (ftyp + moov), once per
 *      Representation. It picks the FIRST audio track ('soun' handler).
 *   2. mp4_segment_parse() on each media segment (any run of top-level boxes: styp,
 *      sidx, emsg, free, prft, uuid, ... then one or more moof + mdat). It returns every
 *      sample of that track with its timing, its byte range inside the buffer, and its
 *      encryption parameters (KID, IV, subsamples). It decrypts nothing.
 * A truncated buffer is an error (-AMP_EMP4); there is no partial parsing.
 *
 * Errors: 0 on success, else negative: -ENOMEM; -AMP_EMP4 (malformed, truncated or
 * inconsistent boxes); -AMP_ETOOBIG (a bound below is exceeded); -AMP_EUNSUPPORTED
 * (well-formed but outside what ampd plays, e.g. no audio track). Outputs are set only
 * on success. The module logs at debug level only.
 *
 * Timestamps are in the media timescale (mdhd) unless said otherwise, 64-bit throughout.
 * Four-character codes are uint32_t in big-endian reading order: MP4_FOURCC('O','p','u','s').
 */

/* ---- Bounds (input beyond them fails with -AMP_ETOOBIG) ---- */
#define MP4_MAX_INIT_SIZE (4u << 20)     /* bytes of an init segment */
#define MP4_MAX_SEGMENT_SIZE (32u << 20) /* bytes of a media segment buffer */
/* Box nesting (moov/trak/mdia/minf/stbl/stsd/enca/sinf/schi/tenc is 10); deeper input is
 * malformed: -AMP_EMP4. */
#define MP4_MAX_DEPTH 12
#define MP4_MAX_SAMPLE_ENTRIES 8            /* stsd entries of the audio track */
#define MP4_MAX_CONFIG_SIZE (64u << 10)     /* codec config bytes (dOps body, dfLa blocks) */
#define MP4_MAX_PSSH 16                     /* pssh boxes in moov (and, separately, per segment) */
#define MP4_MAX_PSSH_SIZE (64u << 10)       /* bytes of one pssh box */
#define MP4_MAX_SEIG 64                     /* 'seig' entries in one sgpd */
#define MP4_MAX_SAMPLES 65536               /* trun samples (all tracks) in one media segment */
#define MP4_MAX_SUBSAMPLES 1024             /* subsamples of one sample */
#define MP4_MAX_SUBSAMPLES_TOTAL (1u << 20) /* subsamples in one media segment */

#define MP4_FOURCC(a, b, c, d)                                                                     \
  (((uint32_t)(uint8_t)(a) << 24) | ((uint32_t)(uint8_t)(b) << 16) |                               \
   ((uint32_t)(uint8_t)(c) << 8) | (uint32_t)(uint8_t)(d))

#define MP4_FORMAT_OPUS MP4_FOURCC('O', 'p', 'u', 's')
#define MP4_FORMAT_FLAC MP4_FOURCC('f', 'L', 'a', 'C')
#define MP4_SCHEME_CENC MP4_FOURCC('c', 'e', 'n', 'c')
#define MP4_SCHEME_CBCS MP4_FOURCC('c', 'b', 'c', 's')

struct mp4_init;    /* opaque: a parsed init segment */
struct mp4_segment; /* opaque: a parsed media segment */

/* The protection of a sample entry or a sample group ('tenc' / 'seig' fields). */
struct mp4_crypt {
  uint8_t is_protected;     /* 1 = encrypted, 0 = clear (the default_isProtected / seig flag) */
  uint8_t iv_size;          /* Per_Sample_IV_Size: 0, 8 or 16 (0 = constant IV) */
  uint8_t crypt_byte_block; /* pattern (tenc v1+); 0 for 'cenc' */
  uint8_t skip_byte_block;
  uint8_t kid[16];
  uint8_t constant_iv_size; /* 0, 8 or 16; only when is_protected && iv_size == 0 */
  uint8_t constant_iv[16];
};

/* One entry of stsd, read-only, owned by the init. */
struct mp4_sample_entry {
  uint32_t fourcc;        /* as written in stsd, e.g. 'enca', 'Opus', 'fLaC' */
  uint32_t format;        /* the codec: frma's original format for 'enca', else fourcc */
  uint16_t channel_count; /* AudioSampleEntry fields, as written */
  uint16_t sample_size;
  uint32_t sample_rate;  /* integer part of the 16.16 field; may be a divisor (FLAC > 65535 Hz) */
  const uint8_t *config; /* Opus: body of 'dOps' (after its 8-byte header); FLAC: body of
                          * 'dfLa' after its version/flags (metadata blocks, STREAMINFO
                          * first); NULL/0 for other formats */
  size_t config_size;
  bool has_sinf;        /* protected entry ('sinf' present; then scheme and tenc are set) */
  uint32_t scheme_type; /* schm scheme_type ('cenc', 'cbcs', ...), 0 if none */
  uint32_t scheme_version;
  uint8_t tenc_version;
  struct mp4_crypt tenc; /* defaults from 'tenc' (zeros if has_sinf is false) */
};

/* A pssh box, read-only, owned by the init (or segment). */
struct mp4_pssh {
  uint8_t version;       /* 0 or 1 */
  uint8_t system_id[16]; /* e.g. Widevine edef8ba9-..., W3C common 1077efec-... */
  uint32_t kid_count;    /* v1 only, else 0 */
  const uint8_t *kids;   /* kid_count * 16 bytes */
  const uint8_t *data;   /* Data (DataSize bytes) */
  size_t data_size;
  const uint8_t *box; /* the whole box, header included (CENC init data for a CDM) */
  size_t box_size;
};

/* The track, read-only, owned by the init. */
struct mp4_track {
  uint32_t track_id;          /* tkhd */
  uint32_t timescale;         /* mdhd: the media timescale */
  uint64_t duration;          /* mdhd (often 0 in fMP4) */
  uint32_t movie_timescale;   /* mvhd */
  uint64_t fragment_duration; /* mvex/mehd: the whole presentation, fragments included
                               * (MOVIE timescale); 0 without mehd */
  bool has_edit;              /* an elst with a non-empty edit was found */
  int64_t edit_media_time;    /* elst media_time of the first non-empty edit (media timescale),
                               * 0 without elst: the shift subtracted from every pts */
  uint64_t edit_duration;     /* its segment_duration (MOVIE timescale, 0 = to the end) */
  bool has_roll;              /* stbl sgpd 'roll' */
  int16_t roll_distance;      /* its first entry, e.g. -4 */
  /* mvex/trex defaults for this track (zeros without trex) */
  uint32_t trex_sample_description_index;
  uint32_t trex_sample_duration;
  uint32_t trex_sample_size;
  uint32_t trex_sample_flags;
};

/* What a decoder needs to open a stream of one sample entry. */
struct mp4_codec {
  uint32_t format;       /* MP4_FORMAT_OPUS or MP4_FORMAT_FLAC */
  const uint8_t *config; /* as mp4_sample_entry.config */
  size_t config_size;
  uint32_t sample_rate;    /* FLAC: STREAMINFO rate; Opus: 48000 (libopus decode rate) */
  uint8_t channels;        /* FLAC: STREAMINFO; Opus: dOps OutputChannelCount */
  uint8_t bits_per_sample; /* FLAC: STREAMINFO; Opus: 16 */
};

/* ---- Init segment ---- */

/* Parse an init segment (whole buffer; it need not outlive the call: the init copies
 * what it keeps). *ret is freed with mp4_init_free(). -AMP_EUNSUPPORTED when there is no
 * audio track or no fragmented-MP4 'mvex'. */
int mp4_init_parse(const uint8_t *buf, size_t len, struct mp4_init **ret);
void mp4_init_free(struct mp4_init *init);

const struct mp4_track *mp4_init_track(const struct mp4_init *init);
/* ftyp major brand, 0 if there was no ftyp. */
uint32_t mp4_init_major_brand(const struct mp4_init *init);

/* stsd entries: index is the 1-based sample_description_index. NULL when out of range. */
uint32_t mp4_init_entry_count(const struct mp4_init *init);
const struct mp4_sample_entry *mp4_init_entry(const struct mp4_init *init, uint32_t index);

/* Codec parameters of entry `index` (1-based). -AMP_EUNSUPPORTED for formats other than
 * Opus and FLAC, -EINVAL for a bad index. The config was validated by mp4_init_parse. */
int mp4_init_codec(const struct mp4_init *init, uint32_t index, struct mp4_codec *ret);

/* The default KID of the first entry with a sinf (tenc default_KID), or NULL when no
 * entry is protected. Points into the init. */
const uint8_t *mp4_init_default_kid(const struct mp4_init *init);

/* The pssh boxes of moov, in file order. */
size_t mp4_init_pssh_count(const struct mp4_init *init);
const struct mp4_pssh *mp4_init_pssh(const struct mp4_init *init, size_t i);

/* ---- Media segments ---- */

struct mp4_subsample {
  uint32_t clear_bytes;
  uint32_t protected_bytes;
};

/* One sample, filled by mp4_segment_sample(). Pointers stay valid while the segment lives.
 * offset/size are a range inside the buffer given to mp4_segment_parse(), checked to
 * lie inside it. */
struct mp4_sample {
  uint64_t decode_time; /* tfdt + sum of the earlier durations (media timescale) */
  int64_t pts;          /* decode_time + composition_offset - track.edit_media_time;
                         * negative = priming: decode it, then drop that PCM */
  uint32_t duration;
  int32_t composition_offset; /* trun, 0 when absent */
  size_t offset;              /* byte offset of the sample data in the segment buffer */
  size_t size;
  uint32_t sample_description_index; /* 1-based, tfhd else trex; always a valid entry */
  uint32_t flags;                    /* sample_flags in effect (trun, tfhd or trex) */
  /* Encryption. When encrypted is false the fields below are zero. */
  bool encrypted;
  uint32_t scheme;          /* the entry's scheme_type: 'cenc'; a decryptor must refuse
                             * anything else (e.g. 'cbcs') with -AMP_EUNSUPPORTED */
  uint8_t crypt_byte_block; /* pattern from tenc/seig (0 for 'cenc') */
  uint8_t skip_byte_block;
  uint8_t kid[16]; /* from the sample's 'seig' group, else tenc */
  uint8_t iv[16];  /* iv_size bytes used; per-sample IV (senc or saiz/saio) or constant IV */
  uint8_t iv_size; /* 8 or 16 */
  uint16_t subsample_count;               /* 0 = the whole sample is protected */
  const struct mp4_subsample *subsamples; /* sum(clear+protected) == size, checked */
};

/*
 * Parse one media segment against its init. buf must stay alive and unchanged while the
 * segment is used (samples refer to it by offset only, but pssh pointers point into it).
 * file_offset is the position of buf[0] in the file (the mediaRange start); it is used
 * only when a tfhd carries an absolute base_data_offset. Pass 0 if buf is the whole file.
 * Only the samples of the init's track are returned; the trafs of other tracks are walked
 * only to find where the next traf's data starts (implicit data base). Every sample
 * (of any track) must lie inside an mdat of buf and aux info inside buf, else -AMP_EMP4:
 * a wrong data base fails loudly instead of handing out wrong bytes. A first traf of the
 * track without tfdt gives -AMP_EUNSUPPORTED (its time would be a guess); later trafs
 * without tfdt continue from the previous one. A sample description index that names
 * no stsd entry, or encrypted samples whose IVs are nowhere, give -AMP_EMP4.
 *
 * Encryption sources: 'senc' (or the PIFF uuid senc) is read if present; otherwise the aux
 * info that saiz/saio point at. When both are present they must agree (sample count, the
 * per-sample sizes, and the bytes saio points at) or the segment is refused with
 * -AMP_EMP4: we never guess between two disagreeing sources.
 */
int mp4_segment_parse(const struct mp4_init *init, const uint8_t *buf, size_t len,
                      uint64_t file_offset, struct mp4_segment **ret);
void mp4_segment_free(struct mp4_segment *seg);

size_t mp4_segment_sample_count(const struct mp4_segment *seg);
/* Sample i (0-based, in decode order). -EINVAL when i is out of range. */
int mp4_segment_sample(const struct mp4_segment *seg, size_t i, struct mp4_sample *ret);
/* The decode time just past the last sample (its decode_time + duration); 0 for a
 * segment with no samples of the track. */
uint64_t mp4_segment_end_time(const struct mp4_segment *seg);

/* pssh boxes found in moof (rare; key rotation), pointing into buf. */
size_t mp4_segment_pssh_count(const struct mp4_segment *seg);
const struct mp4_pssh *mp4_segment_pssh(const struct mp4_segment *seg, size_t i);

#endif
