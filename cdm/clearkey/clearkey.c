/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The W3C ClearKey CDM as an ampd CDM plugin (include/ampd/cdm.h).
 *
 * Policy, decided here and documented in docs/porting-cdm.md:
 *  - A session takes a license only after generate_request(), and installs only keys
 *    for the KIDs that request named; keys for other KIDs are ignored. A license that
 *    carries none of the requested KIDs is refused (-AMPD_CDM_ELICENSE), so a license
 *    for the wrong track fails loudly at update() rather than at the first sample.
 *  - A later license replaces keys KID by KID and sets the session's expiry to its own
 *    "expiration" (none if absent).
 *  - Keys live only in the plugin, as expanded AES contexts, and are wiped on close.
 *
 * Locking: one mutex per instance guards the session table and every key. decrypt()
 * holds it for one sample, so update() or session_close() on the loop thread never
 * frees a key under a running decrypt on the media thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/platform_util.h>

#include "clearkey.h"

struct ck_session {
  uint32_t id;
  int requested;       /* generate_request() succeeded */
  struct ck_kids kids; /* what the request named */
  size_t nkeys;
  /* One allocation per key: an mbedtls_aes_context points into itself and cannot be
   * copied, so tables move pointers, never contexts. */
  struct ck_key *keys[CK_MAX_KEYS];
  int64_t expiration_ms; /* 0 = none */
};

struct ampd_cdm {
  const struct ampd_cdm_host *host;
  pthread_mutex_t lock;
  uint32_t next_id;
  struct ck_session *sessions[AMPD_CDM_MAX_SESSIONS];
};

/* Debug lines only; they carry counts and ids, never key or license bytes. */
__attribute__((format(printf, 3, 4))) static void ck_log(struct ampd_cdm *cdm, int level,
                                                         const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  cdm->host->log(cdm->host->userdata, level, line);
}

static void key_free(struct ck_key *k) {
  if (!k)
    return;
  mbedtls_aes_free(&k->aes); /* zeroizes the round keys */
  mbedtls_platform_zeroize(k, sizeof(*k));
  free(k);
}

static void session_free(struct ck_session *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nkeys; i++)
    key_free(s->keys[i]);
  mbedtls_platform_zeroize(s, sizeof(*s));
  free(s);
}

/* Called with the lock held. */
static struct ck_session **session_slot(struct ampd_cdm *cdm, uint32_t id) {
  if (id == 0)
    return NULL;
  for (size_t i = 0; i < AMPD_CDM_MAX_SESSIONS; i++)
    if (cdm->sessions[i] && cdm->sessions[i]->id == id)
      return &cdm->sessions[i];
  return NULL;
}

static struct ck_key *session_key(struct ck_session *s, const uint8_t *kid) {
  for (size_t i = 0; i < s->nkeys; i++)
    if (memcmp(s->keys[i]->kid, kid, 16) == 0)
      return s->keys[i];
  return NULL;
}

static int session_expired(struct ampd_cdm *cdm, const struct ck_session *s) {
  return s->expiration_ms != 0 && cdm->host->wall_ms(cdm->host->userdata) >= s->expiration_ms;
}

/* ---- the vtable ---- */

static int ck_create(const struct ampd_cdm_host *host, struct ampd_cdm **ret_cdm) {
  int r = ampd_cdm_host_check(host);
  if (r < 0)
    return r;
  if (!ret_cdm)
    return -EINVAL;
  struct ampd_cdm *cdm = calloc(1, sizeof(*cdm));
  if (!cdm)
    return -ENOMEM;
  if (pthread_mutex_init(&cdm->lock, NULL) != 0) {
    free(cdm);
    return -ENOMEM;
  }
  cdm->host = host;
  cdm->next_id = 1;
  *ret_cdm = cdm;
  return 0;
}

static void ck_destroy(struct ampd_cdm *cdm) {
  if (!cdm)
    return;
  for (size_t i = 0; i < AMPD_CDM_MAX_SESSIONS; i++)
    session_free(cdm->sessions[i]);
  pthread_mutex_destroy(&cdm->lock);
  free(cdm);
}

static void ck_release(struct ampd_cdm *cdm, void *buffer) {
  free(buffer);
}

static int ck_needs_provisioning(struct ampd_cdm *cdm, int *ret_needed) {
  if (!cdm || !ret_needed)
    return -EINVAL;
  *ret_needed = 0;
  return 0;
}

static int ck_session_open(struct ampd_cdm *cdm, uint32_t session_type, uint32_t *ret_session) {
  if (!cdm || !ret_session)
    return -EINVAL;
  if (session_type != AMPD_CDM_SESSION_TEMPORARY)
    return -AMPD_CDM_EUNSUPPORTED;
  struct ck_session *s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  pthread_mutex_lock(&cdm->lock);
  int r = -ENOSPC;
  for (size_t i = 0; i < AMPD_CDM_MAX_SESSIONS; i++) {
    if (cdm->sessions[i])
      continue;
    if (cdm->next_id == 0) { /* 2^32 sessions later: ids are never reused */
      r = -ENOSPC;
      break;
    }
    s->id = cdm->next_id++;
    cdm->sessions[i] = s;
    *ret_session = s->id;
    r = 0;
    break;
  }
  pthread_mutex_unlock(&cdm->lock);
  if (r < 0) {
    free(s);
    return r;
  }
  ck_log(cdm, AMPD_CDM_LOG_DEBUG, "clearkey: session %u open", (unsigned)*ret_session);
  return 0;
}

static int ck_generate_request(struct ampd_cdm *cdm, uint32_t session, uint32_t init_data_type,
                               const uint8_t *init_data, size_t init_len, uint8_t **ret_msg,
                               size_t *ret_len) {
  if (!cdm || !init_data || init_len == 0 || !ret_msg || !ret_len)
    return -EINVAL;
  if (init_len > AMPD_CDM_MAX_INIT_DATA)
    return -AMPD_CDM_ETOOBIG;
  /* Parse outside the lock: struct ck_kids is 1 KiB, on the heap to keep stacks small. */
  struct ck_kids *kids = malloc(sizeof(*kids));
  if (!kids)
    return -ENOMEM;
  int r;
  if (init_data_type == AMPD_CDM_INIT_CENC)
    r = ck_kids_from_cenc(init_data, init_len, kids);
  else if (init_data_type == AMPD_CDM_INIT_KEYIDS)
    r = ck_kids_from_keyids(init_data, init_len, kids);
  else
    r = -AMPD_CDM_EUNSUPPORTED;
  uint8_t *msg = NULL;
  size_t msg_len = 0;
  if (r == 0)
    r = ck_request_json(kids, &msg, &msg_len);
  if (r < 0) {
    free(kids);
    return r;
  }
  pthread_mutex_lock(&cdm->lock);
  struct ck_session **slot = session_slot(cdm, session);
  if (!slot)
    r = -ENOENT;
  else if ((*slot)->requested)
    r = -EALREADY; /* EME: one request per session */
  else {
    (*slot)->kids = *kids;
    (*slot)->requested = 1;
  }
  pthread_mutex_unlock(&cdm->lock);
  if (r < 0) {
    free(msg);
    free(kids);
    return r;
  }
  ck_log(cdm, AMPD_CDM_LOG_DEBUG, "clearkey: session %u requests %zu key(s)", (unsigned)session,
         kids->n);
  free(kids);
  *ret_msg = msg;
  *ret_len = msg_len;
  return 0;
}

static int kid_requested(const struct ck_kids *kids, const uint8_t *kid) {
  for (size_t i = 0; i < kids->n; i++)
    if (memcmp(kids->kid[i], kid, 16) == 0)
      return 1;
  return 0;
}

static int ck_update(struct ampd_cdm *cdm, uint32_t session, const uint8_t *license, size_t len) {
  if (!cdm || !license || len == 0)
    return -EINVAL;
  if (len > AMPD_CDM_MAX_MESSAGE)
    return -AMPD_CDM_ETOOBIG;
  struct ck_license *lic = malloc(sizeof(*lic));
  if (!lic)
    return -ENOMEM;
  /* The new keys are expanded off to the side and swapped in only when all is well,
   * so a failure at any step leaves the session exactly as it was. */
  struct ck_key *fresh[CK_MAX_KEYS];
  size_t nfresh = 0;
  int r = ck_license_parse(license, len, lic);
  if (r < 0)
    goto out;
  for (size_t i = 0; i < lic->n; i++) {
    struct ck_key *k = calloc(1, sizeof(*k));
    if (!k) {
      r = -ENOMEM;
      goto out;
    }
    fresh[nfresh++] = k;
    memcpy(k->kid, lic->kid[i], 16);
    mbedtls_aes_init(&k->aes);
    if (mbedtls_aes_setkey_enc(&k->aes, lic->key[i], 128) != 0) {
      r = -AMPD_CDM_EDRM;
      goto out;
    }
  }

  pthread_mutex_lock(&cdm->lock);
  struct ck_session **slot = session_slot(cdm, session);
  struct ck_session *s = slot ? *slot : NULL;
  if (!s)
    r = -ENOENT;
  else if (!s->requested)
    r = -EINVAL; /* EME: update() before generateRequest() is a state error */
  if (r < 0)
    goto unlock;
  /* The session's next table: fresh keys for requested KIDs, then the old keys the
   * license does not replace. Every entry is a requested KID, so it fits. */
  struct ck_key *next[CK_MAX_KEYS];
  size_t nnext = 0;
  for (size_t i = 0; i < nfresh; i++) {
    if (kid_requested(&s->kids, fresh[i]->kid)) {
      next[nnext++] = fresh[i];
      fresh[i] = NULL; /* taken */
    }
  }
  size_t installed = nnext;
  if (installed == 0) {
    r = -AMPD_CDM_ELICENSE;
    goto unlock;
  }
  for (size_t i = 0; i < s->nkeys; i++) {
    int replaced = 0;
    for (size_t j = 0; j < installed; j++)
      replaced |= memcmp(next[j]->kid, s->keys[i]->kid, 16) == 0;
    if (replaced)
      key_free(s->keys[i]);
    else
      next[nnext++] = s->keys[i];
  }
  memcpy(s->keys, next, nnext * sizeof(next[0]));
  s->nkeys = nnext;
  s->expiration_ms = lic->expiration_ms;
  pthread_mutex_unlock(&cdm->lock);
  ck_log(cdm, AMPD_CDM_LOG_DEBUG, "clearkey: session %u: %zu key(s) installed", (unsigned)session,
         installed);
  goto out;
unlock:
  pthread_mutex_unlock(&cdm->lock);
out:
  for (size_t i = 0; i < nfresh; i++)
    key_free(fresh[i]); /* keys not taken: unrequested KIDs, or all of them on failure */
  ck_license_wipe(lic);
  free(lic);
  if (r < 0)
    ck_log(cdm, AMPD_CDM_LOG_DEBUG, "clearkey: session %u: license refused (%d)", (unsigned)session,
           r);
  return r;
}

static int ck_key_status(struct ampd_cdm *cdm, uint32_t session, const uint8_t *kid,
                         uint32_t *ret_status, int64_t *ret_expiry_ms) {
  if (!cdm || !kid || !ret_status)
    return -EINVAL;
  int r = 0;
  pthread_mutex_lock(&cdm->lock);
  struct ck_session **slot = session_slot(cdm, session);
  if (!slot) {
    r = -ENOENT;
  } else {
    struct ck_session *s = *slot;
    if (!session_key(s, kid))
      *ret_status = AMPD_CDM_KEY_MISSING;
    else if (session_expired(cdm, s))
      *ret_status = AMPD_CDM_KEY_EXPIRED;
    else
      *ret_status = AMPD_CDM_KEY_USABLE;
    if (ret_expiry_ms)
      *ret_expiry_ms = session_key(s, kid) ? s->expiration_ms : 0;
  }
  pthread_mutex_unlock(&cdm->lock);
  return r;
}

static int ck_decrypt(struct ampd_cdm *cdm, uint32_t session,
                      const struct ampd_cdm_sample *sample) {
  if (!cdm)
    return -EINVAL;
  int r = ck_sample_check(sample);
  if (r < 0)
    return r;
  pthread_mutex_lock(&cdm->lock);
  struct ck_session **slot = session_slot(cdm, session);
  struct ck_key *k = slot ? session_key(*slot, sample->kid) : NULL;
  if (!slot)
    r = -ENOENT;
  else if (!k)
    r = -AMPD_CDM_ENOKEY;
  else if (session_expired(cdm, *slot))
    r = -AMPD_CDM_EKEYEXPIRED;
  else
    r = ck_cenc_decrypt(&k->aes, sample);
  pthread_mutex_unlock(&cdm->lock);
  return r;
}

static int ck_session_close(struct ampd_cdm *cdm, uint32_t session) {
  if (!cdm)
    return -EINVAL;
  pthread_mutex_lock(&cdm->lock);
  struct ck_session **slot = session_slot(cdm, session);
  struct ck_session *s = slot ? *slot : NULL;
  if (slot)
    *slot = NULL;
  pthread_mutex_unlock(&cdm->lock);
  if (!s)
    return -ENOENT;
  session_free(s);
  ck_log(cdm, AMPD_CDM_LOG_DEBUG, "clearkey: session %u closed", (unsigned)session);
  return 0;
}

static const struct ampd_cdm_plugin ck_plugin = {
    .version = AMPD_CDM_ABI_VERSION,
    .size = sizeof(struct ampd_cdm_plugin),
    .name = "clearkey",
    .key_system = "org.w3.clearkey",
    .create = ck_create,
    .destroy = ck_destroy,
    .release = ck_release,
    .needs_provisioning = ck_needs_provisioning,
    .provision_request = NULL, /* ClearKey needs no provisioning */
    .provision_response = NULL,
    .session_open = ck_session_open,
    .generate_request = ck_generate_request,
    .update = ck_update,
    .key_status = ck_key_status,
    .decrypt = ck_decrypt,
    .session_close = ck_session_close,
};

AMPD_CDM_EXPORT const struct ampd_cdm_plugin *ampd_cdm_entry(uint32_t host_abi_version) {
  return host_abi_version == AMPD_CDM_ABI_VERSION ? &ck_plugin : NULL;
}
