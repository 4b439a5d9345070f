/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of the CDM plugin ABI: dlopen, version checks, host services, checked
 * calls, and the ClearKey helpers of the license path. See cdmhost.h.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "media/cdmhost.h"

LOG_TOPIC("cdm");

/* The ABI's error numbers are frozen; ampd's own codes must keep the same values so a
 * plugin's return code reads the same through amp_strerror(). */
_Static_assert(AMPD_CDM_ETOOBIG == AMP_ETOOBIG, "ABI error number drifted");
_Static_assert(AMPD_CDM_EUNSUPPORTED == AMP_EUNSUPPORTED, "ABI error number drifted");
_Static_assert(AMPD_CDM_EDRM == AMP_EDRM, "ABI error number drifted");
_Static_assert(AMPD_CDM_ENOKEY == AMP_ENOKEY, "ABI error number drifted");
_Static_assert(AMPD_CDM_EKEYEXPIRED == AMP_EKEYEXPIRED, "ABI error number drifted");
_Static_assert(AMPD_CDM_ELICENSE == AMP_ELICENSE, "ABI error number drifted");
_Static_assert(AMPD_CDM_EABI == AMP_EABI, "ABI error number drifted");

#ifndef AMPD_CDM_DIR
#define AMPD_CDM_DIR "/usr/local/lib/ampd/cdm"
#endif

/* A plugin's log line is cut at this length before it reaches core/log. */
#define CDMHOST_LOG_LINE_MAX 512

struct cdmhost {
  void *dl;
  const struct ampd_cdm_plugin *plugin;
  struct ampd_cdm *cdm;
  struct ampd_cdm_host services; /* must outlive cdm */
  struct cdmhost_options opt;
};

/* ---- host services ---- */

static void svc_log(void *userdata, int level, const char *msg) {
  const struct cdmhost *h = userdata;
  char line[CDMHOST_LOG_LINE_MAX];
  size_t n = 0;
  /* A plugin is outside code: keep its line to one line of printable text. */
  for (const char *p = msg; p && *p && n + 1 < sizeof(line); p++)
    line[n++] = (*p >= 0x20 && *p != 0x7f) ? *p : '?';
  line[n] = '\0';
  (void)level; /* a plugin is library code: everything it says is debug detail */
  log_debug("%s: %s", h->plugin ? h->plugin->name : "plugin", line);
}

static int64_t svc_monotonic_ms(void *userdata) {
  const struct cdmhost *h = userdata;
  if (h->opt.monotonic_ms)
    return h->opt.monotonic_ms(h->opt.clock_userdata);
  return (int64_t)clock_mono_msec();
}

static int64_t svc_wall_ms(void *userdata) {
  const struct cdmhost *h = userdata;
  if (h->opt.wall_ms)
    return h->opt.wall_ms(h->opt.clock_userdata);
  return clock_wall_usec() / 1000;
}

/* ---- loading ---- */

int cdmhost_open(const char *name, const struct cdmhost_options *opt, struct cdmhost **ret) {
  if (!name || !ret)
    return -EINVAL;
  /* Only "<absolute plugin dir>/<name>.so" ever reaches dlopen (see cdmhost.h). */
  char path[CDMHOST_MAX_PATH];
  int r = cdmhost_plugin_path(opt ? opt->plugin_dir : NULL, name, path, sizeof(path));
  if (r < 0) {
    log_debug("refusing to load CDM plugin '%s': %s", name, amp_strerror(r));
    return r;
  }
  struct cdmhost *h = calloc(1, sizeof(*h));
  if (!h)
    return -ENOMEM;
  if (opt)
    h->opt = *opt;
  h->opt.plugin_dir = NULL; /* the caller's string; not needed past this call */
  h->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h->dl) {
    r = access(path, F_OK) == 0 ? -EINVAL : -ENOENT;
    log_debug("cannot load %s: %s", path, dlerror());
    goto fail;
  }
  ampd_cdm_entry_fn entry;
  /* POSIX guarantees this conversion for dlsym; C11 alone does not. */
  *(void **)&entry = dlsym(h->dl, AMPD_CDM_ENTRY_SYMBOL);
  if (!entry) {
    r = -AMP_EABI;
    log_debug("%s has no %s", path, AMPD_CDM_ENTRY_SYMBOL);
    goto fail;
  }
  const struct ampd_cdm_plugin *p = entry(AMPD_CDM_ABI_VERSION);
  r = ampd_cdm_plugin_check(p);
  if (r < 0) {
    log_debug("%s: ABI mismatch (host %u, plugin %u, size %u)", path, AMPD_CDM_ABI_VERSION,
              p ? p->version : 0, p ? p->size : 0);
    goto fail;
  }
  if (!p->name || !p->key_system) {
    r = -AMP_EABI;
    goto fail;
  }
  h->plugin = p;
  h->services = (struct ampd_cdm_host){
      .version = AMPD_CDM_ABI_VERSION,
      .size = sizeof(struct ampd_cdm_host),
      .userdata = h,
      .log = svc_log,
      .monotonic_ms = svc_monotonic_ms,
      .wall_ms = svc_wall_ms,
      /* storage, timers and unsolicited messages: not offered yet (ClearKey needs
       * none; the Widevine adapter refuses to start without storage). */
  };
  r = p->create(&h->services, &h->cdm);
  if (r < 0) {
    log_debug("%s: create failed: %s", p->name, amp_strerror(r));
    goto fail;
  }
  log_debug("loaded %s (%s) from %s", p->name, p->key_system, path);
  *ret = h;
  return 0;
fail:
  if (h->dl)
    dlclose(h->dl);
  free(h);
  return r;
}

void cdmhost_free(struct cdmhost *h) {
  if (!h)
    return;
  if (h->cdm)
    h->plugin->destroy(h->cdm);
  if (h->dl)
    dlclose(h->dl);
  free(h);
}

const char *cdmhost_name(const struct cdmhost *h) {
  return h && h->plugin ? h->plugin->name : "";
}

const char *cdmhost_key_system(const struct cdmhost *h) {
  return h && h->plugin ? h->plugin->key_system : "";
}

/* Take a plugin-owned message: copy it (bounded), give the original back. */
static int take_message(struct cdmhost *h, int r, uint8_t *msg, size_t len, uint8_t **ret,
                        size_t *ret_len) {
  if (r < 0) {
    if (msg)
      h->plugin->release(h->cdm, msg);
    return r;
  }
  if (!msg || len == 0 || len > CDMHOST_MAX_MESSAGE) {
    if (msg)
      h->plugin->release(h->cdm, msg);
    log_debug("%s returned an empty or oversized message (%zu bytes)", h->plugin->name, len);
    return -AMP_EDRM; /* the plugin broke the ABI contract */
  }
  uint8_t *copy = malloc(len);
  if (!copy) {
    h->plugin->release(h->cdm, msg);
    return -ENOMEM;
  }
  memcpy(copy, msg, len);
  h->plugin->release(h->cdm, msg);
  *ret = copy;
  *ret_len = len;
  return 0;
}

/* ---- provisioning ---- */

int cdmhost_needs_provisioning(struct cdmhost *h, int *ret_needed) {
  if (!h || !ret_needed)
    return -EINVAL;
  int needed = 0;
  int r = h->plugin->needs_provisioning(h->cdm, &needed);
  if (r < 0)
    return r;
  *ret_needed = needed != 0;
  return 0;
}

int cdmhost_provision_request(struct cdmhost *h, uint8_t **ret_msg, size_t *ret_len) {
  if (!h || !ret_msg || !ret_len)
    return -EINVAL;
  if (!AMPD_CDM_HAS_SLOT(h->plugin, struct ampd_cdm_plugin, provision_request))
    return -AMP_EUNSUPPORTED;
  uint8_t *msg = NULL;
  size_t len = 0;
  int r = h->plugin->provision_request(h->cdm, &msg, &len);
  return take_message(h, r, msg, len, ret_msg, ret_len);
}

int cdmhost_provision_response(struct cdmhost *h, const uint8_t *msg, size_t len) {
  if (!h || !msg || len == 0)
    return -EINVAL;
  if (len > CDMHOST_MAX_MESSAGE)
    return -AMP_ETOOBIG;
  if (!AMPD_CDM_HAS_SLOT(h->plugin, struct ampd_cdm_plugin, provision_response))
    return -AMP_EUNSUPPORTED;
  return h->plugin->provision_response(h->cdm, msg, len);
}

/* ---- sessions ---- */

int cdmhost_session_open(struct cdmhost *h, uint32_t *ret_session) {
  if (!h || !ret_session)
    return -EINVAL;
  uint32_t id = 0;
  int r = h->plugin->session_open(h->cdm, AMPD_CDM_SESSION_TEMPORARY, &id);
  if (r < 0)
    return r;
  if (id == 0)
    return -AMP_EDRM; /* 0 is never a session id */
  *ret_session = id;
  return 0;
}

int cdmhost_generate_request(struct cdmhost *h, uint32_t session, uint32_t init_data_type,
                             const uint8_t *init, size_t init_len, uint8_t **ret_challenge,
                             size_t *ret_len) {
  if (!h || !init || init_len == 0 || !ret_challenge || !ret_len)
    return -EINVAL;
  if (init_len > AMPD_CDM_MAX_INIT_DATA)
    return -AMP_ETOOBIG;
  uint8_t *msg = NULL;
  size_t len = 0;
  int r = h->plugin->generate_request(h->cdm, session, init_data_type, init, init_len, &msg, &len);
  return take_message(h, r, msg, len, ret_challenge, ret_len);
}

int cdmhost_update(struct cdmhost *h, uint32_t session, const uint8_t *license, size_t len) {
  if (!h || !license || len == 0)
    return -EINVAL;
  if (len > CDMHOST_MAX_MESSAGE)
    return -AMP_ETOOBIG;
  return h->plugin->update(h->cdm, session, license, len);
}

int cdmhost_key_status(struct cdmhost *h, uint32_t session, const uint8_t kid[16],
                       uint32_t *ret_status, int64_t *ret_expiry_ms) {
  if (!h || !kid || !ret_status)
    return -EINVAL;
  uint32_t status = 0;
  int64_t expiry = 0;
  int r = h->plugin->key_status(h->cdm, session, kid, &status, &expiry);
  if (r < 0)
    return r;
  if (status < AMPD_CDM_KEY_USABLE || status > AMPD_CDM_KEY_INTERNAL_ERROR)
    status = AMPD_CDM_KEY_INTERNAL_ERROR;
  *ret_status = status;
  if (ret_expiry_ms)
    *ret_expiry_ms = expiry;
  return 0;
}

int cdmhost_decrypt(struct cdmhost *h, uint32_t session, const struct ampd_cdm_sample *sample) {
  if (!h || !sample)
    return -EINVAL;
  if (sample->version != AMPD_CDM_ABI_VERSION || sample->size != sizeof(*sample))
    return -EINVAL; /* not set up with cdmhost_sample_init() */
  return h->plugin->decrypt(h->cdm, session, sample);
}

int cdmhost_session_close(struct cdmhost *h, uint32_t session) {
  if (!h)
    return -EINVAL;
  return h->plugin->session_close(h->cdm, session);
}

void cdmhost_sample_init(struct ampd_cdm_sample *s) {
  memset(s, 0, sizeof(*s));
  s->version = AMPD_CDM_ABI_VERSION;
  s->size = sizeof(*s);
  s->scheme = AMPD_CDM_SCHEME_CENC;
}

const char *cdmhost_key_status_name(uint32_t status) {
  switch (status) {
  case AMPD_CDM_KEY_USABLE:
    return "usable";
  case AMPD_CDM_KEY_EXPIRED:
    return "expired";
  case AMPD_CDM_KEY_MISSING:
    return "missing";
  case AMPD_CDM_KEY_OUTPUT_RESTRICTED:
    return "output-restricted";
  case AMPD_CDM_KEY_INTERNAL_ERROR:
    return "internal-error";
  default:
    return "unknown";
  }
}

/* ---- ClearKey helpers ---- */

int cdmhost_key_parse(const char *spec, struct cdmhost_key *ret) {
  if (!spec || !ret)
    return -EINVAL;
  const char *colon = strchr(spec, ':');
  if (!colon || strchr(colon + 1, ':'))
    return -EINVAL;
  /* hex_decode wants a NUL-terminated string: copy the KID part (UUID form is 36). */
  char kid_text[40];
  size_t kid_len = (size_t)(colon - spec);
  if (kid_len == 0 || kid_len >= sizeof(kid_text))
    return -EINVAL;
  memcpy(kid_text, spec, kid_len);
  kid_text[kid_len] = '\0';
  struct cdmhost_key k;
  if (hex_decode(kid_text, k.kid, 16) < 0 || strchr(colon + 1, '-') ||
      hex_decode(colon + 1, k.key, 16) < 0)
    return -EINVAL;
  *ret = k;
  memset(&k, 0, sizeof(k));
  return 0;
}

/* The longest line cdmhost_key_parse() can accept: a KID of up to 39 characters (32 hex
 * digits and dashes; its kid_text bound), ':' and 32 hex digits. A longer trimmed line is
 * a bad line, so a fixed copy is enough. */
#define KEYS_LINE_MAX (39u + 1u + 32u)

int cdmhost_keys_parse(const char *text, size_t len, struct cdmhost_key *keys, size_t max,
                       size_t *ret_n, unsigned *ret_bad_line) {
  if ((!text && len > 0) || !ret_n || (max > 0 && !keys))
    return -EINVAL;
  if (len > CDMHOST_MAX_KEYS_FILE)
    return -AMP_ETOOBIG;
  if (len > 0 && memchr(text, '\0', len))
    return -EINVAL; /* a NUL byte inside: not a text file */
  struct cdmhost_key *tmp = calloc(max ? max : 1, sizeof(*tmp));
  if (!tmp)
    return -ENOMEM;
  char line[KEYS_LINE_MAX + 1];
  size_t n = 0;
  unsigned line_no = 0;
  int r = 0;
  const char *p = text, *end = text + len;
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *next = eol ? eol + 1 : end;
    const char *q = eol ? eol : end;
    line_no++;
    /* Trim spaces, tabs and a CR at both ends. */
    while (p < q && (*p == ' ' || *p == '\t'))
      p++;
    while (q > p && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\r'))
      q--;
    size_t l = (size_t)(q - p);
    if (l > 0 && p[0] != '#') {
      if (n >= max) {
        r = -AMP_ETOOBIG;
        break;
      }
      int bad = l > KEYS_LINE_MAX;
      if (!bad) {
        memcpy(line, p, l);
        line[l] = '\0';
        bad = cdmhost_key_parse(line, &tmp[n]) < 0;
      }
      if (bad) {
        r = -EINVAL;
        if (ret_bad_line)
          *ret_bad_line = line_no;
        break;
      }
      n++;
    }
    p = next;
  }
  if (r == 0) {
    if (n > 0)
      memcpy(keys, tmp, n * sizeof(*tmp));
    *ret_n = n;
  }
  memset(line, 0, sizeof(line));
  memset(tmp, 0, (max ? max : 1) * sizeof(*tmp));
  free(tmp);
  return r;
}

int cdmhost_keys_load(const char *path, struct cdmhost_key *keys, size_t max, size_t *ret_n,
                      unsigned *ret_bad_line) {
  if (!path || !ret_n || (max > 0 && !keys))
    return -EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  struct buf text = BUF_INIT(CDMHOST_MAX_KEYS_FILE);
  int r = 0;
  for (;;) {
    r = buf_reserve(&text, 4096);
    if (r < 0)
      break;
    ssize_t got = read(fd, text.data + text.len, 4096);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      r = -errno;
      break;
    }
    if (got == 0)
      break;
    buf_commit(&text, (size_t)got);
  }
  close(fd);
  if (r == 0)
    r = cdmhost_keys_parse((const char *)text.data, text.len, keys, max, ret_n, ret_bad_line);
  if (text.data)
    memset(text.data, 0, text.len);
  buf_done(&text);
  return r;
}

int cdmhost_clearkey_license(const struct cdmhost_key *keys, size_t n, int64_t expiration_ms,
                             char **ret_json, size_t *ret_len) {
  if (!keys || n == 0 || !ret_json || !ret_len || expiration_ms < 0)
    return -EINVAL;
  if (n > CDMHOST_MAX_KEYS)
    return -AMP_ETOOBIG;
  struct buf b = BUF_INIT(CDMHOST_MAX_MESSAGE);
  int r = buf_append_str(&b, "{\"keys\":[");
  for (size_t i = 0; i < n && r == 0; i++) {
    char kid[32], key[32]; /* 22 characters of unpadded base64url + NUL */
    b64_encode(keys[i].kid, 16, kid, 1);
    b64_encode(keys[i].key, 16, key, 1);
    r = buf_printf(&b, "%s{\"kty\":\"oct\",\"kid\":\"%s\",\"k\":\"%s\"}", i ? "," : "", kid, key);
    memset(key, 0, sizeof(key));
  }
  if (r == 0)
    r = buf_append_str(&b, "],\"type\":\"temporary\"");
  if (r == 0 && expiration_ms > 0)
    r = buf_printf(&b, ",\"expiration\":%lld", (long long)expiration_ms);
  if (r == 0)
    r = buf_append_str(&b, "}");
  if (r < 0) {
    if (b.data)
      memset(b.data, 0, b.len);
    buf_done(&b);
    return r;
  }
  size_t len = 0;
  *ret_json = (char *)buf_steal(&b, &len);
  *ret_len = len;
  return 0;
}

int cdmhost_keyids_init_data(const uint8_t (*kids)[16], size_t n, uint8_t **ret, size_t *ret_len) {
  if (!kids || n == 0 || !ret || !ret_len)
    return -EINVAL;
  if (n > CDMHOST_MAX_KEYS)
    return -AMP_ETOOBIG;
  struct buf b = BUF_INIT(AMPD_CDM_MAX_INIT_DATA);
  int r = buf_append_str(&b, "{\"kids\":[");
  for (size_t i = 0; i < n && r == 0; i++) {
    char kid[32];
    b64_encode(kids[i], 16, kid, 1);
    r = buf_printf(&b, "%s\"%s\"", i ? "," : "", kid);
  }
  if (r == 0)
    r = buf_append_str(&b, "]}");
  if (r < 0) {
    buf_done(&b);
    return r;
  }
  *ret = buf_steal(&b, ret_len);
  return 0;
}

/* ---- plugin paths ---- */

const char *cdmhost_default_dir(void) {
  return AMPD_CDM_DIR;
}

/* An absolute directory without "." or ".." components (empty components, "//", are
 * harmless). */
static int plugin_dir_ok(const char *dir) {
  if (dir[0] != '/')
    return 0;
  for (const char *p = dir; *p;) {
    while (*p == '/')
      p++;
    size_t l = strcspn(p, "/");
    if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.'))
      return 0;
    p += l;
  }
  return 1;
}

int cdmhost_plugin_path(const char *dir, const char *name, char *buf, size_t size) {
  if (!name || !buf)
    return -EINVAL;
  if (!dir)
    dir = cdmhost_default_dir();
  if (!plugin_dir_ok(dir))
    return -EINVAL;
  size_t l = strlen(name);
  if (l == 0 || l > CDMHOST_MAX_NAME)
    return -EINVAL;
  for (size_t i = 0; i < l; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
      return -EINVAL;
  }
  int n = snprintf(buf, size, "%s/%s.so", dir, name);
  if (n < 0 || (size_t)n >= size)
    return -AMP_ETOOBIG;
  return 0;
}
