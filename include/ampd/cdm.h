/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CDM_H
#define AMPD_CDM_H

/*
 * The ampd CDM plugin ABI.
 *
 * A Content Decryption Module is a shared object loaded with dlopen(). It exports ONE
 * symbol, ampd_cdm_entry, and everything else goes through versioned structs of
 * function pointers (after PipeWire's SPA interfaces):
 *
 *   host                                     plugin (.so)
 *   dlsym("ampd_cdm_entry")  ───────────▶    const struct ampd_cdm_plugin *
 *   plugin->create(&host services) ─────▶    struct ampd_cdm * (opaque instance)
 *   open / generate_request / update / key_status / decrypt / close, by session id
 *
 * THE HOST NEVER SEES A CONTENT KEY. Keys enter a CDM only inside a license (update())
 * and no call returns key material. A test tool that knows its keys builds a ClearKey
 * license and feeds it through update(), exactly like the license server would.
 *
 * Why an entry FUNCTION taking the host's version (rather than an exported data symbol):
 * the plugin learns which ABI generation the host speaks before it hands anything out,
 * so one .so can serve several generations, and a plugin that cannot serve the host
 * answers NULL (the host reports -AMPD_CDM_EABI) instead of being misread. A function
 * also avoids copy relocations of a data symbol.
 *
 * Versioning rules (for every struct below that starts with version + size):
 *  - `version` is the ABI generation (AMPD_CDM_ABI_VERSION). Generations are
 *    incompatible with each other: a reader refuses a struct whose version it does not
 *    know (-AMPD_CDM_EABI).
 *  - `size` is sizeof() of the struct as its WRITER was compiled. Within one generation,
 *    structs only ever grow at the end. A reader accepts any size >= the size of the
 *    first release of that generation: AMPD_CDM_*_MIN_SIZE, byte counts written out as
 *    literals (one per data model, below) so that they stay put when fields are
 *    appended; never sizeof() of the current struct, which would grow with every new
 *    field and refuse every existing plugin. Fields past the writer's size are treated
 *    as absent (NULL / 0). So a newer host runs an older plugin (its newer slots read as
 *    NULL) and an older host runs a newer plugin (it never looks past its own size).
 *  - Function slots marked OPTIONAL may be NULL; the host checks for NULL and for size
 *    through the inline wrappers at the end of this file. Required slots must be set.
 *
 * Threading: an instance is used from two host threads at once. The loop thread calls
 * provisioning, session_open, generate_request, update, key_status and session_close;
 * the media thread calls decrypt (and key_status). A plugin must make decrypt safe
 * against concurrent update/close of any session of the same instance (a mutex per
 * instance is enough; the host never calls decrypt for one session from two threads).
 * create/destroy run with no other call in flight. Host services may be called from any
 * thread that is inside a plugin call; the plugin keeps no thread of its own unless it
 * documents one.
 *
 * Errors: every int-returning call returns 0 or a negative code: -errno (EINVAL for a
 * bad argument, ENOMEM, ENOENT for an unknown session id, ...) or one of the
 * -AMPD_CDM_E* codes below. Output parameters (ret_*) are written only on success.
 * These numbers are part of the ABI and never change (ampd's own AMP_E* codes use the
 * same values; the host checks that at compile time).
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define AMPD_CDM_EXPORT __attribute__((visibility("default")))

/* The one ABI generation this header describes. */
#define AMPD_CDM_ABI_VERSION 1u

/* DRM system ids (the 16 bytes of a pssh box's SystemID, and of a DASH
 * ContentProtection urn:uuid), as initializers: `static const uint8_t id[16] = ...;`. */
#define AMPD_CDM_SYSTEM_WIDEVINE /* edef8ba9-79d6-4ace-a3c8-27dcd51d21ed */                        \
  { 0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce, 0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21, 0xed }
#define AMPD_CDM_SYSTEM_W3C_COMMON /* 1077efec-c0b2-4d02-ace3-3c1e52e2fb4b: W3C ClearKey pssh */   \
  { 0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb, 0x4b }
#define AMPD_CDM_SYSTEM_DASHIF_CLEARKEY /* e2719d58-a985-b3c9-781a-b030af78d30e: MPDs only */      \
  { 0xe2, 0x71, 0x9d, 0x58, 0xa9, 0x85, 0xb3, 0xc9, 0x78, 0x1a, 0xb0, 0x30, 0xaf, 0x78, 0xd3, 0x0e }

/* The entry symbol's name, for dlsym(). */
#define AMPD_CDM_ENTRY_SYMBOL "ampd_cdm_entry"

/* ABI error codes (returned negated). */
#define AMPD_CDM_ETOOBIG 10008      /* input exceeds one of the bounds below */
#define AMPD_CDM_EUNSUPPORTED 10012 /* valid request for a feature the CDM lacks */
#define AMPD_CDM_EDRM 10013         /* the CDM failed internally */
#define AMPD_CDM_ENOKEY 10014       /* no key for the sample's KID in this session */
#define AMPD_CDM_EKEYEXPIRED 10015  /* the key is there but its license expired */
#define AMPD_CDM_ELICENSE 10016     /* malformed or refused license / provisioning reply */
#define AMPD_CDM_EABI 10020         /* incompatible ABI generation or struct size */

/*
 * The sizes of generation 1's first release: sizeof() of struct ampd_cdm_sample,
 * ampd_cdm_host and ampd_cdm_plugin as first published, frozen. They depend on the data
 * model (pointers and size_t): LP64 (64-bit Linux) and ILP32 (32-bit Linux: arm, i386,
 * x32, mips) are the supported ones. The assertions after each struct pin them to the
 * end of the struct's last generation-1 field, which appending fields never moves.
 */
#if defined(__SIZEOF_POINTER__) && __SIZEOF_POINTER__ == 8 && defined(__SIZEOF_SIZE_T__) &&        \
    __SIZEOF_SIZE_T__ == 8
#define AMPD_CDM_SAMPLE_MIN_SIZE 88u /* LP64 */
#define AMPD_CDM_HOST_MIN_SIZE 88u
#define AMPD_CDM_PLUGIN_MIN_SIZE 120u
#elif defined(__SIZEOF_POINTER__) && __SIZEOF_POINTER__ == 4 && defined(__SIZEOF_SIZE_T__) &&      \
    __SIZEOF_SIZE_T__ == 4
#define AMPD_CDM_SAMPLE_MIN_SIZE 68u /* ILP32 */
#define AMPD_CDM_HOST_MIN_SIZE 48u
#define AMPD_CDM_PLUGIN_MIN_SIZE 64u
#else
#error "ampd CDM ABI: unsupported data model (only LP64 and ILP32 sizes are frozen)"
#endif

#ifdef __cplusplus
#define AMPD_CDM_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define AMPD_CDM_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
/* The frozen size ends exactly at the struct's last generation-1 field. */
#define AMPD_CDM_FROZEN_END(type, last) (offsetof(type, last) + sizeof(((type *)0)->last))

/* Bounds every side enforces (plugin and host alike). */
#define AMPD_CDM_MAX_INIT_DATA (16u * 1024) /* init data: pssh boxes or keyids JSON */
#define AMPD_CDM_MAX_MESSAGE (64u * 1024)   /* challenge, license, provisioning message */
#define AMPD_CDM_MAX_SESSIONS 16u           /* open sessions per instance (one per track) */
#define AMPD_CDM_MAX_SUBSAMPLES 4096u       /* subsample entries in one sample */
#define AMPD_CDM_KID_LEN 16u

/* Log levels handed to ampd_cdm_host.log: syslog priorities, as journald reads them. */
enum ampd_cdm_log_level {
  AMPD_CDM_LOG_ERR = 3,
  AMPD_CDM_LOG_WARNING = 4,
  AMPD_CDM_LOG_NOTICE = 5,
  AMPD_CDM_LOG_INFO = 6,
  AMPD_CDM_LOG_DEBUG = 7,
};

/* Init data types for generate_request (W3C EME Initialization Data Format Registry). */
enum ampd_cdm_init_data_type {
  AMPD_CDM_INIT_CENC = 1,   /* a concatenation of whole ISO BMFF 'pssh' boxes */
  AMPD_CDM_INIT_KEYIDS = 2, /* UTF-8 JSON {"kids":["<base64url KID>",...]} */
};

enum ampd_cdm_session_type {
  AMPD_CDM_SESSION_TEMPORARY = 1, /* keys live until session_close; nothing persisted */
};

/* Key status, from key_status(). */
enum ampd_cdm_key_status {
  AMPD_CDM_KEY_USABLE = 1,
  AMPD_CDM_KEY_EXPIRED = 2,
  AMPD_CDM_KEY_MISSING = 3,           /* the session holds no key for this KID */
  AMPD_CDM_KEY_OUTPUT_RESTRICTED = 4, /* the license forbids this device's output */
  AMPD_CDM_KEY_INTERNAL_ERROR = 5,
};

/* Encryption schemes, as their ISO/IEC 23001-7 fourcc. */
#define AMPD_CDM_FOURCC(a, b, c, d)                                                                \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) | (uint32_t)(d))
#define AMPD_CDM_SCHEME_CENC AMPD_CDM_FOURCC('c', 'e', 'n', 'c') /* AES-128-CTR */
#define AMPD_CDM_SCHEME_CBCS                                                                       \
  AMPD_CDM_FOURCC('c', 'b', 'c', 's') /* reserved: AES-128-CBC pattern                             \
                                       */

/* Unsolicited messages a CDM may send through ampd_cdm_host.session_message. */
enum ampd_cdm_message_type {
  AMPD_CDM_MESSAGE_LICENSE_RENEWAL = 2, /* POST it like a license request; update() the reply */
};

/* One run of a sample: clear_bytes in the clear, then protected_bytes encrypted. */
struct ampd_cdm_subsample {
  uint32_t clear_bytes;
  uint32_t protected_bytes;
};

/*
 * One sample to decrypt. Filled by the host for each call; the plugin reads it only
 * during decrypt().
 *
 * 'cenc': AES-128-CTR. The counter block is iv || 0...0 for an 8-byte IV, the whole
 * 16-byte IV otherwise; bytes 8..15 are a big-endian 64-bit block counter that wraps
 * without touching bytes 0..7. All protected ranges of a sample form ONE keystream;
 * clear bytes use none. With subsample_count == 0 the whole sample is protected,
 * otherwise the sum of clear+protected must equal len (else -EINVAL).
 * 'cbcs': reserved. crypt/skip_byte_block carry the pattern (tenc v1); a CDM that does
 * not implement a scheme answers -AMPD_CDM_EUNSUPPORTED.
 */
struct ampd_cdm_sample {
  uint32_t version; /* AMPD_CDM_ABI_VERSION */
  uint32_t size;    /* sizeof(struct ampd_cdm_sample) */
  uint32_t scheme;  /* AMPD_CDM_SCHEME_* */
  uint8_t kid[AMPD_CDM_KID_LEN];
  uint8_t iv[16];
  uint8_t iv_len;           /* 8 or 16 */
  uint8_t crypt_byte_block; /* cbcs pattern; 0 for cenc */
  uint8_t skip_byte_block;  /* cbcs pattern; 0 for cenc */
  uint8_t reserved0;        /* 0 */
  uint32_t subsample_count; /* <= AMPD_CDM_MAX_SUBSAMPLES; 0 = whole sample protected */
  const struct ampd_cdm_subsample *subsamples;
  const uint8_t *in;
  uint8_t *out; /* len bytes; may equal in (in place), must not otherwise overlap it */
  size_t len;
  /* Generation 1 ends here: append new fields below, never above. */
};
AMPD_CDM_STATIC_ASSERT(AMPD_CDM_FROZEN_END(struct ampd_cdm_sample, len) == AMPD_CDM_SAMPLE_MIN_SIZE,
                       "struct ampd_cdm_sample: generation-1 layout moved");

/*
 * Services the host gives a CDM instance. The struct and everything it points to stay
 * valid until destroy() returns. A plugin uses these instead of process globals (no
 * stderr, no clock_gettime of its own choosing, no files of its own choosing): tests
 * drive a fake clock through them.
 */
struct ampd_cdm_host {
  uint32_t version; /* AMPD_CDM_ABI_VERSION */
  uint32_t size;    /* sizeof(struct ampd_cdm_host) as the host was compiled */
  void *userdata;   /* passed back to every service */

  /* Required. One line, no newline. Never pass key bytes, license or challenge
   * bodies: the line may reach the system journal. */
  void (*log)(void *userdata, int level, const char *msg);
  /* Required. CLOCK_MONOTONIC milliseconds (for timeouts). */
  int64_t (*monotonic_ms)(void *userdata);
  /* Required. Wall clock, milliseconds since the Unix epoch (for license expiry). */
  int64_t (*wall_ms)(void *userdata);

  /* OPTIONAL persistent storage, private to this plugin (a device certificate from
   * provisioning, for instance); a host without storage leaves all three NULL.
   * name: [A-Za-z0-9._-]{1,64}; values up to AMPD_CDM_MAX_MESSAGE bytes.
   * storage_read: -ENOENT if absent, -AMPD_CDM_ETOOBIG if longer than max. */
  int (*storage_read)(void *userdata, const char *name, uint8_t *buf, size_t max, size_t *ret_len);
  int (*storage_write)(void *userdata, const char *name, const uint8_t *data, size_t len);
  int (*storage_remove)(void *userdata, const char *name);

  /* OPTIONAL one-shot timers, fired on the host's loop thread (never inside another
   * plugin call). timer_set returns 0 and arms fire(ctx) after delay_ms; setting a ctx
   * that is already armed re-arms it; timer_cancel(ctx) is a no-op if not armed. */
  int (*timer_set)(void *userdata, uint32_t delay_ms, void (*fire)(void *ctx), void *ctx);
  void (*timer_cancel)(void *userdata, void *ctx);

  /* OPTIONAL: a message the CDM sends on its own (AMPD_CDM_MESSAGE_*), to be relayed to
   * the license server. Called on the loop thread only (from inside update() or a timer).
   * msg is valid for the duration of the call. */
  void (*session_message)(void *userdata, uint32_t session, uint32_t type, const uint8_t *msg,
                          size_t len);
  /* Generation 1 ends here: append new slots below, never above. */
};
AMPD_CDM_STATIC_ASSERT(AMPD_CDM_FROZEN_END(struct ampd_cdm_host, session_message) ==
                           AMPD_CDM_HOST_MIN_SIZE,
                       "struct ampd_cdm_host: generation-1 layout moved");

/* A CDM instance: opaque, defined by each plugin. */
struct ampd_cdm;

/*
 * The plugin's vtable, returned by ampd_cdm_entry(). Static storage in the plugin; valid
 * while the .so stays loaded.
 *
 * Buffers a plugin hands out (ret_msg of generate_request, provision_request) are the
 * plugin's: the host copies what it needs and gives them back with release(). Buffers
 * the host passes in are the host's and are read only during the call.
 */
struct ampd_cdm_plugin {
  uint32_t version;       /* AMPD_CDM_ABI_VERSION */
  uint32_t size;          /* sizeof(struct ampd_cdm_plugin) as the plugin was compiled */
  const char *name;       /* short plugin name, e.g. "clearkey" */
  const char *key_system; /* EME key system, e.g. "org.w3.clearkey" */

  /* Make an instance using host's services. host stays valid until destroy(). */
  int (*create)(const struct ampd_cdm_host *host, struct ampd_cdm **ret_cdm);
  /* Close every session (zeroing keys), free the instance. Accepts NULL. */
  void (*destroy)(struct ampd_cdm *cdm);
  /* Free a buffer the plugin handed out. Accepts NULL. */
  void (*release)(struct ampd_cdm *cdm, void *buffer);

  /* Provisioning (device certificate), before any session. A CDM that needs none sets
   * *ret_needed = 0 and may leave the other two slots NULL. The host POSTs the request
   * to its configured provisioning server and passes the reply back. */
  int (*needs_provisioning)(struct ampd_cdm *cdm, int *ret_needed);
  int (*provision_request)(struct ampd_cdm *cdm, uint8_t **ret_msg, size_t *ret_len);
  int (*provision_response)(struct ampd_cdm *cdm, const uint8_t *msg, size_t len);

  /* Open a session (AMPD_CDM_SESSION_*). Session ids are never 0 and never reused by
   * one instance while it lives, so a stale id fails with -ENOENT. -ENOSPC past
   * AMPD_CDM_MAX_SESSIONS. */
  int (*session_open)(struct ampd_cdm *cdm, uint32_t session_type, uint32_t *ret_session);
  /* Turn init data (AMPD_CDM_INIT_*, <= AMPD_CDM_MAX_INIT_DATA bytes) into a license
   * challenge (<= AMPD_CDM_MAX_MESSAGE bytes), released with release(). -EINVAL or
   * -AMPD_CDM_EUNSUPPORTED if the init data names nothing this CDM can serve. */
  int (*generate_request)(struct ampd_cdm *cdm, uint32_t session, uint32_t init_data_type,
                          const uint8_t *init_data, size_t init_len, uint8_t **ret_msg,
                          size_t *ret_len);
  /* Hand a license (<= AMPD_CDM_MAX_MESSAGE bytes) to the session. On any error the
   * session's keys are exactly as before (-AMPD_CDM_ELICENSE for a malformed or
   * refused license). */
  int (*update)(struct ampd_cdm *cdm, uint32_t session, const uint8_t *license, size_t len);
  /* Status of one KID in the session, and the key's expiry (epoch ms, 0 = none). */
  int (*key_status)(struct ampd_cdm *cdm, uint32_t session, const uint8_t *kid /* 16 */,
                    uint32_t *ret_status, int64_t *ret_expiry_ms);
  /* Decrypt one sample (see struct ampd_cdm_sample). -AMPD_CDM_ENOKEY without a key for
   * the KID, -AMPD_CDM_EKEYEXPIRED past its expiry, -EINVAL for a malformed sample,
   * -ENOENT for an unknown session. On error, out is unspecified. */
  int (*decrypt)(struct ampd_cdm *cdm, uint32_t session, const struct ampd_cdm_sample *sample);
  /* Drop the session and wipe its keys. -ENOENT if not open. */
  int (*session_close)(struct ampd_cdm *cdm, uint32_t session);
  /* Generation 1 ends here: append new slots below, never above. */
};
AMPD_CDM_STATIC_ASSERT(AMPD_CDM_FROZEN_END(struct ampd_cdm_plugin, session_close) ==
                           AMPD_CDM_PLUGIN_MIN_SIZE,
                       "struct ampd_cdm_plugin: generation-1 layout moved");

/*
 * The entry point every plugin exports:
 *   AMPD_CDM_EXPORT const struct ampd_cdm_plugin *ampd_cdm_entry(uint32_t host_abi_version);
 * host_abi_version is the generation the host speaks (AMPD_CDM_ABI_VERSION when the host
 * was built). The plugin returns its vtable for that generation, or NULL if it cannot
 * serve it. The host still checks version and size of what it gets.
 */
typedef const struct ampd_cdm_plugin *(*ampd_cdm_entry_fn)(uint32_t host_abi_version);
AMPD_CDM_EXPORT const struct ampd_cdm_plugin *ampd_cdm_entry(uint32_t host_abi_version);

/*
 * Inline helpers for hosts: a slot is callable only if the writer's struct is long
 * enough to contain it and it is not NULL. The host wrappers in ampd go through these.
 */
#define AMPD_CDM_HAS_SLOT(obj, type, slot)                                                         \
  ((obj) != NULL && (size_t)(obj)->size >= offsetof(type, slot) + sizeof(((type *)0)->slot) &&     \
   (obj)->slot != NULL)

/* 0 if p is a vtable this header can drive, else -AMPD_CDM_EABI. */
static inline int ampd_cdm_plugin_check(const struct ampd_cdm_plugin *p) {
  if (p == NULL || p->version != AMPD_CDM_ABI_VERSION || p->size < AMPD_CDM_PLUGIN_MIN_SIZE)
    return -AMPD_CDM_EABI;
  if (p->create == NULL || p->destroy == NULL || p->release == NULL || p->session_open == NULL ||
      p->generate_request == NULL || p->update == NULL || p->key_status == NULL ||
      p->decrypt == NULL || p->session_close == NULL || p->needs_provisioning == NULL)
    return -AMPD_CDM_EABI;
  return 0;
}

/* 0 if h is a host-services struct a plugin built with this header can use. */
static inline int ampd_cdm_host_check(const struct ampd_cdm_host *h) {
  if (h == NULL || h->version != AMPD_CDM_ABI_VERSION || h->size < AMPD_CDM_HOST_MIN_SIZE)
    return -AMPD_CDM_EABI;
  if (h->log == NULL || h->monotonic_ms == NULL || h->wall_ms == NULL)
    return -AMPD_CDM_EABI;
  return 0;
}

#ifdef __cplusplus
}
#endif

#endif
