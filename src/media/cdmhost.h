/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_MEDIA_CDMHOST_H
#define AMPD_MEDIA_CDMHOST_H

#include <stddef.h>
#include <stdint.h>

#include <ampd/cdm.h>

/*
 * The host side of the CDM plugin ABI (include/ampd/cdm.h): load a plugin .so, check
 * its ABI, give it host services (logging into core/log at debug, clocks), and call it
 * through checked wrappers. Plus the helpers around the license path:
 *  - building "keyids" init data from a manifest's cenc:default_KID;
 *  - building a W3C ClearKey JWK-set license from known (KID, key) pairs, for tools and
 *    tests, so keys always enter a CDM through update() like a server's license would.
 *
 * Threads: cdmhost_decrypt() and cdmhost_key_status() may run on the media thread while
 * the loop thread calls the other session functions (the plugin serializes them);
 * cdmhost_open/cdmhost_free run with no other call in flight.
 *
 * Errors: 0 or negative (-errno, -AMP_E* of core/err.h; the plugin's AMPD_CDM_E* codes
 * are the same numbers). Nothing here logs key bytes, challenges or licenses.
 *
 * The Amazon license envelope that wraps challenges and licenses on their way to and
 * from the license server is not here: it is cloud/license.h.
 */

struct cdmhost;

/* Bounds (the ABI's, restated for callers that do not include cdm.h directly). */
#define CDMHOST_MAX_MESSAGE AMPD_CDM_MAX_MESSAGE /* challenge / license bytes */
/* Keys in one ClearKey license built by cdmhost_clearkey_license(). */
#define CDMHOST_MAX_KEYS 64
/* A keys file (cdmhost_keys_load/_parse): at most this many bytes. */
#define CDMHOST_MAX_KEYS_FILE (64u * 1024)

/* A plugin path "<dir>/<name>.so" is at most this many bytes with its NUL. */
#define CDMHOST_MAX_PATH 4096u
/* A plugin name: [a-z0-9_-]{1,CDMHOST_MAX_NAME}. */
#define CDMHOST_MAX_NAME 32u

/* Optional settings for cdmhost_open(). A NULL pointer means all defaults. */
struct cdmhost_options {
  /* Clocks for the plugin (tests pass fakes); NULL = CLOCK_MONOTONIC / CLOCK_REALTIME. */
  int64_t (*monotonic_ms)(void *userdata);
  int64_t (*wall_ms)(void *userdata);
  void *clock_userdata;
  /* The directory plugins are loaded from: an absolute path without "." or ".."
   * components. NULL = cdmhost_default_dir(). The daemon passes its configured
   * directory; tests and tools that run from the build tree pass that directory
   * themselves (the library knows no build tree). */
  const char *plugin_dir;
};

/*
 * Load the plugin called name from the plugin directory: dlopen("<dir>/<name>.so",
 * RTLD_NOW|RTLD_LOCAL) with dir = opt->plugin_dir (or cdmhost_default_dir()), resolve
 * ampd_cdm_entry, check the vtable (-AMP_EABI for a wrong generation, a struct shorter
 * than AMPD_CDM_PLUGIN_MIN_SIZE or a missing required slot), create an instance.
 *
 * The loading rule: only ever an absolute path inside the plugin directory. name must
 * match [a-z0-9_-]{1,32} (no '/', no '.', not empty), and dir must be absolute without
 * "." or ".." components, else -EINVAL before anything is opened. So dlopen never gets a
 * bare name (which it would look up on LD_LIBRARY_PATH, the ld.so cache and the system
 * library directories) nor a relative path (resolved against the working directory),
 * and there is no second directory to fall back to. Symbolic links inside dir are
 * followed: whoever can write the plugin directory controls what is loaded.
 *
 * -ENOENT/-EINVAL (with a debug log of dlerror()) when the file cannot be loaded or is
 * no shared object, -AMP_ETOOBIG for a path over CDMHOST_MAX_PATH. On failure nothing
 * stays loaded.
 */
int cdmhost_open(const char *name, const struct cdmhost_options *opt, struct cdmhost **ret);
/* Destroy the instance (closing every session) and unload the plugin. Accepts NULL. */
void cdmhost_free(struct cdmhost *h);

/* The plugin's name ("clearkey") and EME key system ("org.w3.clearkey"). Never NULL. */
const char *cdmhost_name(const struct cdmhost *h);
const char *cdmhost_key_system(const struct cdmhost *h);

/* Provisioning. Messages returned are malloc'd copies the caller free()s.
 * request/response: -AMP_EUNSUPPORTED if the plugin has no provisioning. */
int cdmhost_needs_provisioning(struct cdmhost *h, int *ret_needed);
int cdmhost_provision_request(struct cdmhost *h, uint8_t **ret_msg, size_t *ret_len);
int cdmhost_provision_response(struct cdmhost *h, const uint8_t *msg, size_t len);

/* Sessions, by the plugin's session id (never 0; a closed id fails with -ENOENT). */
int cdmhost_session_open(struct cdmhost *h, uint32_t *ret_session);
/* init_data_type: AMPD_CDM_INIT_CENC or AMPD_CDM_INIT_KEYIDS. The challenge is a malloc'd
 * copy (<= CDMHOST_MAX_MESSAGE bytes) the caller free()s. */
int cdmhost_generate_request(struct cdmhost *h, uint32_t session, uint32_t init_data_type,
                             const uint8_t *init, size_t init_len, uint8_t **ret_challenge,
                             size_t *ret_len);
/* A license (<= CDMHOST_MAX_MESSAGE bytes, else -AMP_ETOOBIG). On error the session is
 * unchanged. */
int cdmhost_update(struct cdmhost *h, uint32_t session, const uint8_t *license, size_t len);
/* ret_status: enum ampd_cdm_key_status; ret_expiry_ms: epoch ms, 0 = none (may be NULL). */
int cdmhost_key_status(struct cdmhost *h, uint32_t session, const uint8_t kid[16],
                       uint32_t *ret_status, int64_t *ret_expiry_ms);
/* The caller fills version/size with cdmhost_sample_init() first. */
int cdmhost_decrypt(struct cdmhost *h, uint32_t session, const struct ampd_cdm_sample *sample);
int cdmhost_session_close(struct cdmhost *h, uint32_t session);

/* Zero *s and set version, size and scheme 'cenc'. */
void cdmhost_sample_init(struct ampd_cdm_sample *s);

/* A short static name for a key status ("usable", "expired", ...). */
const char *cdmhost_key_status_name(uint32_t status);

/* ---- ClearKey helpers for tools and tests ---- */

struct cdmhost_key {
  uint8_t kid[16];
  uint8_t key[16];
};

/* Parse "KID:KEY", each 32 hex digits (the KID may be in UUID form with dashes).
 * -EINVAL otherwise. */
int cdmhost_key_parse(const char *spec, struct cdmhost_key *ret);
/* Read a keys file: one "KID:KEY" per line; blank lines and lines starting with '#' are
 * skipped. At most max keys (-AMP_ETOOBIG beyond, or over CDMHOST_MAX_KEYS_FILE bytes);
 * -EINVAL with the 1-based line number in *ret_bad_line (if not NULL) for a bad line.
 * keys is written only on success. */
int cdmhost_keys_load(const char *path, struct cdmhost_key *keys, size_t max, size_t *ret_n,
                      unsigned *ret_bad_line);
/* The same for a keys file already in memory (len bytes at text, no NUL needed; a NUL
 * byte inside is -EINVAL, over CDMHOST_MAX_KEYS_FILE bytes -AMP_ETOOBIG), for a caller
 * that has read the file once and cannot read it again (a pipe). text is not changed;
 * cdmhost_keys_load() is open + read + this. */
int cdmhost_keys_parse(const char *text, size_t len, struct cdmhost_key *keys, size_t max,
                       size_t *ret_n, unsigned *ret_bad_line);
/* A W3C ClearKey JWK set for n keys (1..CDMHOST_MAX_KEYS):
 * {"keys":[{"kty":"oct","kid":"..","k":".."}],"type":"temporary"[,"expiration":ms]}
 * (expiration_ms 0 = none). malloc'd NUL-terminated; the caller should wipe and free it. */
int cdmhost_clearkey_license(const struct cdmhost_key *keys, size_t n, int64_t expiration_ms,
                             char **ret_json, size_t *ret_len);
/* "keyids" init data {"kids":["<base64url>",...]} for n KIDs (1..CDMHOST_MAX_KEYS),
 * e.g. from cenc:default_KID when a manifest carries no common-system pssh. malloc'd. */
int cdmhost_keyids_init_data(const uint8_t (*kids)[16], size_t n, uint8_t **ret, size_t *ret_len);

/* ---- where plugins live ---- */

/* The installed plugin directory (CMake AMPD_CDM_DIR, default <prefix>/lib/ampd/cdm;
 * always absolute). */
const char *cdmhost_default_dir(void);
/* "<dir>/<name>.so" into buf, the path cdmhost_open() loads. -EINVAL for a name outside
 * [a-z0-9_-]{1,32} or a dir that is not absolute or has "." or ".." components,
 * -AMP_ETOOBIG if it does not fit. dir NULL = cdmhost_default_dir(). */
int cdmhost_plugin_path(const char *dir, const char *name, char *buf, size_t size);

#endif
