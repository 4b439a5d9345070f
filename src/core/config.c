/* SPDX-License-Identifier: Apache-2.0 */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"

/* Both come from CMake (src/core/CMakeLists.txt): the project's version and the plugin
 * directory media/cdmhost loads from, so that the default here is the same. */
#ifndef AMPD_VERSION_STRING
#error "AMPD_VERSION_STRING must be defined by the build"
#endif
#ifndef AMPD_CDM_DIR
#error "AMPD_CDM_DIR must be defined by the build"
#endif

/* How a value is checked and stored. */
enum ktype {
  K_UINT,  /* uint32_t, decimal digits only, in min..max */
  K_BOOL,  /* bool: true/false, yes/no, 1/0 (any case) */
  K_ENUM,  /* an enum stored as unsigned: one of words (any case) */
  K_LUFS,  /* double in LUFS_MIN..LUFS_MAX, or "off"; the bool at off2 says which */
  K_RATE,  /* uint32_t: "native" (0), "keep" (1), or a rate in RATE_MIN..RATE_MAX Hz */
  K_URL,   /* string: https://host..., printable, no spaces, no user:password@ */
  K_TEXT,  /* string: 1..max printable ASCII (spaces allowed) */
  K_TOKEN, /* string: 1..max printable ASCII without spaces */
  K_FILE,  /* string: an absolute path */
  K_DIR,   /* string: an absolute path without "." or ".." components */
  K_CAPS,  /* string: comma list of capability words, each once */
  K_LANG,  /* string: an Accept-Language value */
  K_CDM,   /* string: a CDM plugin name [a-z0-9_-]{1,32} */
  K_LEVEL, /* string: a core/log level spec */
};

struct key {
  const char *section, *name;
  enum ktype type;
  size_t off;               /* the field in struct ampd_config */
  size_t off2;              /* K_LUFS: the bool "on" */
  uint32_t min, max;        /* K_UINT: the range; strings: max is the length bound */
  bool nullable;            /* strings: "" stores NULL (the key's "not set") */
  const char *const *words; /* K_ENUM, NULL-terminated */
  const char *def;          /* the default, as text (run through the same checks) */
};

#define RATE_MIN 8000u
#define RATE_MAX 768000u
#define LUFS_MIN (-40.0)
#define LUFS_MAX (-5.0)
#define CAPS_LIST "STD_RES, HI_FI, HI_RES, THREE_DIMENSIONAL, REAL_AUDIO_360"
#define CDM_NAME_MAX 32u /* media/cdmhost's CDMHOST_MAX_NAME (core cannot include media) */
#define LANGUAGE_MAX 64u /* cloud/api's API_LANGUAGE_MAX */
/* cloud/license's LICENSE_EXPIRY_TEST_MAX (366 days). */
#define EXPIRY_TEST_MAX (366u * 86400u)

_Static_assert(sizeof(AMPD_CDM_DIR) <= CONFIG_LINE_MAX + 1, "AMPD_CDM_DIR must fit a line");

static const char *const backend_words[] = {"alsa", "pipe", "null", NULL};
static const char *const volume_words[] = {"software", "hardware", "both", NULL};
static const char *const mpris_words[] = {"off", "session", "system", NULL};

_Static_assert(sizeof(enum config_backend) == sizeof(unsigned), "enums are stored as unsigned");
_Static_assert(sizeof(enum config_volume_mode) == sizeof(unsigned), "enums are stored as unsigned");
_Static_assert(sizeof(enum config_mpris_bus) == sizeof(unsigned), "enums are stored as unsigned");

#define F(field) offsetof(struct ampd_config, field)
#define STR(sec, nm, t, field, mx, nul, d)                                                         \
  { .section = sec, .name = nm, .type = t, .off = F(field), .max = mx, .nullable = nul, .def = d }
#define UINT(sec, nm, field, lo, hi, d)                                                            \
  { .section = sec, .name = nm, .type = K_UINT, .off = F(field), .min = lo, .max = hi, .def = d }

/* Every key, in the order of docs/configuration.md. */
static const struct key keys[] = {
    STR("service", "lwa_url", K_URL, service.lwa_url, CONFIG_LINE_MAX, false,
        "https://api.amazon.com"),
    STR("service", "api_url", K_URL, service.api_url, CONFIG_LINE_MAX, false,
        "https://music-api.amazon.com/"),
    STR("service", "client_id", K_TOKEN, service.client_id, 128, true, ""),
    STR("service", "ca_file", K_FILE, service.ca_file, CONFIG_LINE_MAX, true, ""),
    STR("service", "capabilities", K_CAPS, service.capabilities, CONFIG_LINE_MAX, false,
        "STD_RES,HI_FI"),
    {.section = "service",
     .name = "has_explicit",
     .type = K_BOOL,
     .off = F(service.has_explicit),
     .def = "true"},
    STR("service", "accept_language", K_LANG, service.accept_language, LANGUAGE_MAX, false,
        "en-US"),
    STR("service", "user_agent", K_TEXT, service.user_agent, 128, false,
        "ampd/" AMPD_VERSION_STRING),
    UINT("service", "license_expiry_test_secs", service.license_expiry_test_secs, 0,
         EXPIRY_TEST_MAX, "0"),

    {.section = "output",
     .name = "backend",
     .type = K_ENUM,
     .off = F(output.backend),
     .words = backend_words,
     .def = "alsa"},
    STR("output", "device", K_TEXT, output.device, CONFIG_LINE_MAX, false, "default"),
    STR("output", "mixer_control", K_TEXT, output.mixer_control, 64, true, ""),
    UINT("output", "buffer_ms", output.buffer_ms, 10, 2000, "200"),
    {.section = "output", .name = "sync", .type = K_BOOL, .off = F(output.sync), .def = "false"},
    UINT("output", "idle_close_s", output.idle_close_s, 0, 86400, "30"),
    {.section = "output", .name = "rate", .type = K_RATE, .off = F(output.rate), .def = "native"},

    UINT("playback", "buffer_ahead_s", playback.buffer_ahead_s, 1, 300, "30"),
    UINT("playback", "buffer_max_kib", playback.buffer_max_kib, 256, 262144, "4096"),
    {.section = "playback",
     .name = "loudness_target_lufs",
     .type = K_LUFS,
     .off = F(playback.loudness_target_lufs),
     .off2 = F(playback.loudness),
     .def = "-14"},
    UINT("playback", "volume", playback.volume, 0, 100, "100"),
    {.section = "playback",
     .name = "volume_mode",
     .type = K_ENUM,
     .off = F(playback.volume_mode),
     .words = volume_words,
     .def = "software"},
    {.section = "playback",
     .name = "resume",
     .type = K_BOOL,
     .off = F(playback.resume),
     .def = "false"},

    STR("paths", "state_dir", K_DIR, paths.state_dir, CONFIG_LINE_MAX, false, "/var/lib/ampd"),
    STR("paths", "runtime_dir", K_DIR, paths.runtime_dir, CONFIG_LINE_MAX, false, "/run/ampd"),
    STR("paths", "cdm_dir", K_DIR, paths.cdm_dir, CONFIG_LINE_MAX, false, AMPD_CDM_DIR),
    STR("paths", "cdm", K_CDM, paths.cdm, CDM_NAME_MAX, false, "clearkey"),
    STR("paths", "control_group", K_TOKEN, paths.control_group, 32, true, ""),

    {.section = "mpris",
     .name = "bus",
     .type = K_ENUM,
     .off = F(mpris.bus),
     .words = mpris_words,
     .def = "off"},

    STR("log", "level", K_LEVEL, log.level, CONFIG_LINE_MAX, false, "info"),
    UINT("log", "stats_interval_s", log.stats_interval_s, 0, 86400, "60"),

    STR("hooks", "onevent", K_FILE, hooks.onevent, CONFIG_LINE_MAX, true, ""),
    UINT("hooks", "timeout_s", hooks.timeout_s, 1, 3600, "10"),
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static bool is_string(enum ktype t) {
  return t >= K_URL;
}

static char **str_field(struct ampd_config *cfg, const struct key *k) {
  return (char **)(void *)((char *)cfg + k->off);
}

static char *const *str_cfield(const struct ampd_config *cfg, const struct key *k) {
  return (char *const *)(const void *)((const char *)cfg + k->off);
}

/* ---------------------------------------------------------------- messages */

static void put(char *errbuf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void put(char *errbuf, size_t n, const char *fmt, ...) {
  if (!errbuf || n == 0)
    return;
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(errbuf, n, fmt, ap);
  va_end(ap);
  if (r < 0)
    errbuf[0] = '\0';
}

/* What a message may show of user text (a number, a word, a key name): at most
 * CONFIG_ECHO_MAX characters, anything outside printable ASCII as '?', "..." when cut. */
struct echo {
  char s[CONFIG_ECHO_MAX + 4];
};

static const char *echo(const char *v, struct echo *e) {
  size_t i = 0;
  for (; v[i] && i < CONFIG_ECHO_MAX; i++)
    e->s[i] = (v[i] >= 0x20 && v[i] <= 0x7e) ? v[i] : '?';
  if (v[i])
    memcpy(e->s + i, "...", 3), i += 3;
  e->s[i] = '\0';
  return e->s;
}

/* ---------------------------------------------------------------- checks */

/* A parsed value before it is stored. */
struct value {
  char *s; /* strings (malloc'd; NULL for a nullable "") */
  uint32_t u;
  bool b;
  double d;
};

static bool printable(const char *v, bool space) {
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p > 0x7e || *p < (space ? 0x20 : 0x21))
      return false;
  return true;
}

/* Decimal digits only (no sign, no spaces, no hex): a value past UINT32_MAX saturates, so it
 * is reported as out of range rather than as not a number. */
static int parse_uint(const char *v, uint32_t *ret) {
  uint64_t x = 0;
  if (!*v)
    return -EINVAL;
  for (const char *p = v; *p; p++) {
    if (*p < '0' || *p > '9')
      return -EINVAL;
    if (x <= UINT32_MAX)
      x = x * 10 + (uint64_t)(*p - '0');
  }
  *ret = x > UINT32_MAX ? UINT32_MAX : (uint32_t)x;
  return 0;
}

/* [+-]digits[.digits], at most 9 digits in all. By hand rather than strtod(): no locale
 * decimal comma, no exponent, no inf or nan. */
static int parse_decimal(const char *v, double *ret) {
  const char *p = v;
  bool neg = false;
  if (*p == '-' || *p == '+')
    neg = *p++ == '-';
  double x = 0, scale = 1;
  unsigned digits = 0, frac = 0;
  bool dot = false;
  for (; *p; p++) {
    if (*p == '.' && !dot) {
      dot = true;
      continue;
    }
    if (*p < '0' || *p > '9' || ++digits > 9)
      return -EINVAL;
    x = x * 10 + (*p - '0');
    if (dot)
      scale *= 10, frac++;
  }
  if (digits == 0 || (dot && frac == 0))
    return -EINVAL;
  *ret = (neg ? -x : x) / scale;
  return 0;
}

static int word_index(const char *const *words, const char *v, unsigned *ret) {
  for (unsigned i = 0; words[i]; i++) {
    if (strcasecmp(words[i], v) == 0) {
      *ret = i;
      return 0;
    }
  }
  return -EINVAL;
}

static int check_url(const char *v, char *msg, size_t n) {
  if (strncasecmp(v, "https://", 8) != 0) {
    put(msg, n, "must be an https:// URL");
    return -EINVAL;
  }
  if (!printable(v, false)) {
    put(msg, n, "must not hold spaces or control characters");
    return -EINVAL;
  }
  const char *host = v + 8;
  size_t alen = strcspn(host, "/?#");
  if (memchr(host, '@', alen)) {
    put(msg, n, "must not hold a user:password@");
    return -EINVAL;
  }
  if (alen == 0 || host[0] == ':') {
    put(msg, n, "has no host");
    return -EINVAL;
  }
  return 0;
}

static int check_path(const char *v, bool dir, char *msg, size_t n) {
  if (v[0] != '/' || !printable(v, true)) {
    put(msg, n, "must be an absolute path of printable characters");
    return -EINVAL;
  }
  if (!dir)
    return 0;
  /* media/cdmhost's rule for its plugin directory, for every directory here. */
  for (const char *p = v; *p;) {
    while (*p == '/')
      p++;
    size_t l = strcspn(p, "/");
    if ((l == 1 && p[0] == '.') || (l == 2 && p[0] == '.' && p[1] == '.')) {
      put(msg, n, "must be an absolute path without . or .. components");
      return -EINVAL;
    }
    p += l;
  }
  return 0;
}

static int check_caps(const char *v, char *msg, size_t n) {
  static const char *const known[] = {"STD_RES", "HI_FI", "HI_RES", "THREE_DIMENSIONAL",
                                      "REAL_AUDIO_360"};
  unsigned seen = 0;
  for (const char *p = v;;) {
    size_t l = strcspn(p, ",");
    unsigned i = 0;
    while (i < sizeof(known) / sizeof(known[0]) &&
           !(strlen(known[i]) == l && memcmp(p, known[i], l) == 0))
      i++;
    if (l == 0) {
      put(msg, n, "must be a comma list without spaces of " CAPS_LIST);
      return -EINVAL;
    }
    if (i == sizeof(known) / sizeof(known[0])) {
      char word[CONFIG_ECHO_MAX + 1];
      struct echo e;
      snprintf(word, sizeof(word), "%.*s", (int)(l < CONFIG_ECHO_MAX ? l : CONFIG_ECHO_MAX), p);
      put(msg, n, "\"%s\" is not one of " CAPS_LIST, echo(word, &e));
      return -EINVAL;
    }
    if (seen & (1u << i)) {
      put(msg, n, "lists %s twice", known[i]);
      return -EINVAL;
    }
    seen |= 1u << i;
    if (!p[l])
      return 0;
    p += l + 1;
  }
}

static int check_lang(const char *v, size_t max, char *msg, size_t n) {
  size_t l = strlen(v);
  bool ok = l > 0 && l <= max;
  for (const char *p = v; ok && *p; p++)
    ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
         strchr("-,;=.* ", *p) != NULL;
  if (!ok) {
    put(msg, n,
        "must be a language list such as en-US or de-DE,en;q=0.5 (1 to %zu characters of "
        "letters, digits and - , ; = . * and spaces)",
        max);
    return -EINVAL;
  }
  return 0;
}

static int check_cdm(const char *v, size_t max, char *msg, size_t n) {
  size_t l = strlen(v);
  bool ok = l > 0 && l <= max;
  for (const char *p = v; ok && *p; p++)
    ok = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-';
  if (!ok) {
    put(msg, n, "must be a plugin name of 1 to %zu characters from a-z, 0-9, _ and -", max);
    return -EINVAL;
  }
  return 0;
}

/* Check v for k into *out (out->s malloc'd for a string); msg gets what is wrong. */
static int check(const struct key *k, const char *v, struct value *out, char *msg, size_t n) {
  struct echo e;
  int r = 0;
  *out = (struct value){0};
  switch (k->type) {
  case K_UINT:
    if (parse_uint(v, &out->u) < 0) {
      put(msg, n, "\"%s\" is not a whole number", echo(v, &e));
      return -EINVAL;
    }
    if (out->u < k->min || out->u > k->max) {
      put(msg, n, "%s is out of range %u..%u", echo(v, &e), (unsigned)k->min, (unsigned)k->max);
      return -EINVAL;
    }
    return 0;
  case K_BOOL: {
    static const char *const yes[] = {"true", "yes", "1", NULL}, *const no[] = {"false", "no", "0",
                                                                                NULL};
    unsigned i;
    if (word_index(yes, v, &i) == 0)
      out->b = true;
    else if (word_index(no, v, &i) == 0)
      out->b = false;
    else {
      put(msg, n, "\"%s\" is not a boolean (true, false, yes, no, 1, 0)", echo(v, &e));
      return -EINVAL;
    }
    return 0;
  }
  case K_ENUM:
    if (word_index(k->words, v, &out->u) < 0) {
      char list[128] = "";
      size_t at = 0;
      for (unsigned i = 0; k->words[i]; i++) {
        int w = snprintf(list + at, sizeof(list) - at, "%s%s", i ? ", " : "", k->words[i]);
        if (w > 0 && (size_t)w < sizeof(list) - at)
          at += (size_t)w;
      }
      put(msg, n, "\"%s\" is not one of %s", echo(v, &e), list);
      return -EINVAL;
    }
    return 0;
  case K_LUFS:
    if (strcasecmp(v, "off") == 0) {
      out->b = false;
      out->d = 0;
      return 0;
    }
    if (parse_decimal(v, &out->d) < 0) {
      put(msg, n, "\"%s\" is not a number or off", echo(v, &e));
      return -EINVAL;
    }
    if (out->d < LUFS_MIN || out->d > LUFS_MAX) {
      put(msg, n, "%s is out of range %g..%g", echo(v, &e), LUFS_MIN, LUFS_MAX);
      return -EINVAL;
    }
    out->b = true;
    return 0;
  case K_RATE:
    if (strcasecmp(v, "native") == 0) {
      out->u = CONFIG_RATE_NATIVE;
      return 0;
    }
    if (strcasecmp(v, "keep") == 0) {
      out->u = CONFIG_RATE_KEEP;
      return 0;
    }
    if (parse_uint(v, &out->u) < 0) {
      put(msg, n, "\"%s\" is not native, keep or a rate in Hz", echo(v, &e));
      return -EINVAL;
    }
    if (out->u < RATE_MIN || out->u > RATE_MAX) {
      put(msg, n, "%s is out of range %u..%u", echo(v, &e), RATE_MIN, RATE_MAX);
      return -EINVAL;
    }
    return 0;
  default:
    break;
  }

  /* The strings. */
  if (!v[0]) {
    if (k->nullable)
      return 0; /* out->s NULL: not set */
    put(msg, n, "must not be empty");
    return -EINVAL;
  }
  if (k->type != K_LANG && k->type != K_CDM && strlen(v) > k->max) {
    put(msg, n, "is longer than %u bytes", (unsigned)k->max);
    return -EINVAL;
  }
  switch (k->type) {
  case K_URL:
    r = check_url(v, msg, n);
    break;
  case K_TEXT:
  case K_TOKEN:
    if (!printable(v, k->type == K_TEXT)) {
      put(msg, n, "must be printable ASCII%s", k->type == K_TEXT ? "" : " without spaces");
      r = -EINVAL;
    }
    break;
  case K_FILE:
  case K_DIR:
    r = check_path(v, k->type == K_DIR, msg, n);
    break;
  case K_CAPS:
    r = check_caps(v, msg, n);
    break;
  case K_LANG:
    r = check_lang(v, k->max, msg, n);
    break;
  case K_CDM:
    r = check_cdm(v, k->max, msg, n);
    break;
  case K_LEVEL:
    if (log_check_levels(v) < 0) {
      put(msg, n, "\"%s\" is not a log level spec (a level, or level,topic=level,...)",
          echo(v, &e));
      r = -EINVAL;
    }
    break;
  default:
    r = -EINVAL;
    break;
  }
  if (r < 0)
    return r;
  if (!(out->s = strdup(v))) {
    put(msg, n, "out of memory");
    return -ENOMEM;
  }
  return 0;
}

/* Store a checked value (taking out->s). */
static void store(struct ampd_config *cfg, const struct key *k, struct value *val) {
  char *base = (char *)cfg;
  switch (k->type) {
  case K_UINT:
  case K_RATE:
    memcpy(base + k->off, &val->u, sizeof(uint32_t));
    break;
  case K_BOOL:
    memcpy(base + k->off, &val->b, sizeof(bool));
    break;
  case K_ENUM: {
    unsigned u = val->u;
    memcpy(base + k->off, &u, sizeof(unsigned));
    break;
  }
  case K_LUFS:
    memcpy(base + k->off2, &val->b, sizeof(bool));
    if (val->b) /* "off" keeps the target a later "on" would not restate */
      memcpy(base + k->off, &val->d, sizeof(double));
    break;
  default: {
    char **f = str_field(cfg, k);
    free(*f);
    *f = val->s;
    val->s = NULL;
    break;
  }
  }
}

static const struct key *find_key(const char *section, const char *name, bool *ret_section) {
  *ret_section = false;
  for (size_t i = 0; i < NKEYS; i++) {
    if (strcmp(keys[i].section, section) != 0)
      continue;
    *ret_section = true;
    if (strcmp(keys[i].name, name) == 0)
      return &keys[i];
  }
  return NULL;
}

static bool section_known(const char *s, size_t len) {
  for (size_t i = 0; i < NKEYS; i++)
    if (strlen(keys[i].section) == len && memcmp(keys[i].section, s, len) == 0)
      return true;
  return false;
}

/* ---------------------------------------------------------------- lifecycle */

void config_free(struct ampd_config *cfg) {
  if (!cfg)
    return;
  for (size_t i = 0; i < NKEYS; i++)
    if (is_string(keys[i].type))
      free(*str_field(cfg, &keys[i]));
  memset(cfg, 0, sizeof(*cfg));
}

int config_defaults(struct ampd_config *cfg) {
  memset(cfg, 0, sizeof(*cfg));
  for (size_t i = 0; i < NKEYS; i++) {
    struct value v;
    char msg[CONFIG_ERR_MAX];
    int r = check(&keys[i], keys[i].def, &v, msg, sizeof(msg));
    if (r < 0) { /* only -ENOMEM: the defaults pass their own checks (tests/unit/test_config.c) */
      config_free(cfg);
      return r;
    }
    store(cfg, &keys[i], &v);
  }
  return 0;
}

/* A deep copy of src into dst. 0 or -ENOMEM (dst then holds nothing to free). */
static int copy(struct ampd_config *dst, const struct ampd_config *src) {
  *dst = *src;
  for (size_t i = 0; i < NKEYS; i++)
    if (is_string(keys[i].type))
      *str_field(dst, &keys[i]) = NULL;
  for (size_t i = 0; i < NKEYS; i++) {
    if (!is_string(keys[i].type))
      continue;
    const char *s = *str_cfield(src, &keys[i]);
    if (s && !(*str_field(dst, &keys[i]) = strdup(s))) {
      config_free(dst);
      return -ENOMEM;
    }
  }
  return 0;
}

/* ---------------------------------------------------------------- overrides */

int config_set(struct ampd_config *cfg, const char *name, const char *value, char *errbuf,
               size_t n) {
  struct echo e;
  if (!cfg || !name || !value) {
    put(errbuf, n, "config_set: missing argument");
    return -EINVAL;
  }
  const char *dot = strchr(name, '.');
  char section[64];
  if (!dot || dot == name || (size_t)(dot - name) >= sizeof(section)) {
    put(errbuf, n, "%s: not a section.key name", echo(name, &e));
    return -EINVAL;
  }
  memcpy(section, name, (size_t)(dot - name));
  section[dot - name] = '\0';
  bool known_section;
  const struct key *k = find_key(section, dot + 1, &known_section);
  if (!k) {
    put(errbuf, n, "%s: unknown %s", echo(name, &e), known_section ? "key" : "section");
    return -EINVAL;
  }
  if (strlen(value) > CONFIG_LINE_MAX) {
    put(errbuf, n, "%s.%s: the value is longer than %u bytes", k->section, k->name,
        CONFIG_LINE_MAX);
    return -AMP_ETOOBIG;
  }
  char msg[CONFIG_ERR_MAX];
  struct value v;
  int r = check(k, value, &v, msg, sizeof(msg));
  if (r < 0) {
    put(errbuf, n, "%s.%s: %s", k->section, k->name, msg);
    return r;
  }
  store(cfg, k, &v);
  return 0;
}

int config_override(struct ampd_config *cfg, const char *assignment, char *errbuf, size_t n) {
  struct echo e;
  if (!assignment) {
    put(errbuf, n, "config_override: missing argument");
    return -EINVAL;
  }
  const char *eq = strchr(assignment, '=');
  char name[64];
  if (!eq || (size_t)(eq - assignment) >= sizeof(name)) {
    put(errbuf, n, "%s: not section.key=value", echo(assignment, &e));
    return -EINVAL;
  }
  memcpy(name, assignment, (size_t)(eq - assignment));
  name[eq - assignment] = '\0';
  return config_set(cfg, name, eq + 1, errbuf, n);
}

static bool key_equal(const struct ampd_config *a, const struct ampd_config *b,
                      const struct key *k) {
  if (is_string(k->type)) {
    const char *x = *str_cfield(a, k), *y = *str_cfield(b, k);
    return (!x && !y) || (x && y && strcmp(x, y) == 0);
  }
  const char *pa = (const char *)a, *pb = (const char *)b;
  switch (k->type) {
  case K_BOOL:
    return memcmp(pa + k->off, pb + k->off, sizeof(bool)) == 0;
  case K_LUFS:
    return memcmp(pa + k->off2, pb + k->off2, sizeof(bool)) == 0 &&
           memcmp(pa + k->off, pb + k->off, sizeof(double)) == 0;
  case K_ENUM:
    return memcmp(pa + k->off, pb + k->off, sizeof(unsigned)) == 0;
  default: /* K_UINT, K_RATE */
    return memcmp(pa + k->off, pb + k->off, sizeof(uint32_t)) == 0;
  }
}

size_t config_diff(const struct ampd_config *a, const struct ampd_config *b,
                   void (*fn)(void *ud, const char *section, const char *key), void *ud) {
  size_t n = 0;
  if (!a || !b)
    return 0;
  for (size_t i = 0; i < NKEYS; i++) {
    if (key_equal(a, b, &keys[i]))
      continue;
    n++;
    if (fn)
      fn(ud, keys[i].section, keys[i].name);
  }
  return n;
}

const char *config_backend_name(enum config_backend b) {
  return (unsigned)b < sizeof(backend_words) / sizeof(backend_words[0]) - 1 ? backend_words[b]
                                                                            : "?";
}

const char *config_volume_mode_name(enum config_volume_mode m) {
  return (unsigned)m < sizeof(volume_words) / sizeof(volume_words[0]) - 1 ? volume_words[m] : "?";
}

const char *config_mpris_bus_name(enum config_mpris_bus b) {
  return (unsigned)b < sizeof(mpris_words) / sizeof(mpris_words[0]) - 1 ? mpris_words[b] : "?";
}

/* ---------------------------------------------------------------- the file */

/* One parse: the file's bytes, handed to inih line by line by reader(). */
struct load {
  const char *path;
  const char *data;
  size_t len, pos;
  unsigned line;            /* the line reader() handed out last (1-based) */
  unsigned set_on[NKEYS];   /* the line each key was set on in this file, 0: not */
  struct ampd_config *work; /* the copy the file's values go into */
  int err;                  /* our first error (0: none) */
  unsigned err_line;
  char msg[CONFIG_ERR_MAX];
};

static void fail(struct load *L, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct load *L, int err, const char *fmt, ...) {
  if (L->err)
    return;
  char what[CONFIG_ERR_MAX];
  va_list ap;
  va_start(ap, fmt);
  int r = vsnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  if (r < 0)
    what[0] = '\0';
  put(L->msg, sizeof(L->msg), "%s:%u: %s", L->path, L->line, what);
  L->err = err;
  L->err_line = L->line;
}

/*
 * inih's fgets-style reader. Owning it gives us three things inih would not: line numbers
 * that are ours (each call is one line, as inih counts them too); a line that does not fit
 * inih's buffer is an error here (inih would cut it and parse the rest as another line);
 * and leading whitespace is removed, so that an indented "key = value" is a key, never a
 * continuation of the previous value (inih's multi-line mode, on in the Debian build). A
 * NUL byte is an error too: inih would end the line at it. After an error of ours, the
 * parse ends (NULL: end of input).
 */
static char *reader(char *str, int num, void *stream) {
  struct load *L = stream;
  if (L->err || L->pos >= L->len || num < 2)
    return NULL;
  const char *p = L->data + L->pos;
  size_t rest = L->len - L->pos;
  const char *nl = memchr(p, '\n', rest);
  size_t l = nl ? (size_t)(nl - p) : rest;
  L->pos += l + (nl ? 1 : 0);
  L->line++;
  if (l > 0 && p[l - 1] == '\r')
    l--;
  if (memchr(p, '\0', l)) {
    fail(L, -EINVAL, "a NUL byte");
    return NULL;
  }
  size_t max = (size_t)num - 3 < CONFIG_LINE_MAX ? (size_t)num - 3 : CONFIG_LINE_MAX;
  if (num < 4 || l > max) {
    fail(L, -AMP_ETOOBIG, "the line is longer than %zu bytes", num < 4 ? (size_t)0 : max);
    return NULL;
  }
  size_t skip = 0;
  while (skip < l && (p[skip] == ' ' || p[skip] == '\t'))
    skip++;
  /* inih tells the handler nothing of a section header (this build calls it for keys
   * only), so an unknown section is caught here, on its own line, even when empty. A
   * header without its ']' is left to inih (a syntax error). */
  const char *close = l > skip && p[skip] == '[' ? memchr(p + skip, ']', l - skip) : NULL;
  if (close && !section_known(p + skip + 1, (size_t)(close - (p + skip + 1)))) {
    char name[CONFIG_ECHO_MAX + 2];
    struct echo e;
    size_t nl_ = (size_t)(close - (p + skip + 1));
    snprintf(name, sizeof(name), "%.*s", (int)(nl_ < sizeof(name) - 1 ? nl_ : sizeof(name) - 1),
             p + skip + 1);
    fail(L, -EINVAL, "[%s]: unknown section", echo(name, &e));
    return NULL;
  }
  /* inih ignores whatever follows the ']': "[playback] volume = 5" would lose the key
   * without a word. Only whitespace and a comment may follow. */
  if (close) {
    const char *t = close + 1, *end = p + l;
    while (t < end && (*t == ' ' || *t == '\t'))
      t++;
    if (t < end && *t != ';' && *t != '#') {
      fail(L, -EINVAL, "text after the [section] header");
      return NULL;
    }
  }
  memcpy(str, p + skip, l - skip);
  str[l - skip] = '\0';
  return str;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  struct load *L = user;
  struct echo e1, e2;
  if (L->err)
    return 0;
  if (!value) { /* only with inih's "allow no value" mode, which is off */
    fail(L, -EINVAL, "not a [section] header or a key = value line");
    return 0;
  }
  if (!section[0]) {
    fail(L, -EINVAL, "%s: a key before any [section]", echo(name, &e1));
    return 0;
  }
  /* inih cuts section and key names at 49 characters; no name here is near that long, so
   * a cut name is unknown too. */
  bool known_section;
  const struct key *k = find_key(section, name, &known_section);
  if (!k) {
    if (known_section)
      fail(L, -EINVAL, "[%s] %s: unknown key", echo(section, &e1), echo(name, &e2));
    else
      fail(L, -EINVAL, "[%s]: unknown section", echo(section, &e1));
    return 0;
  }
  size_t idx = (size_t)(k - keys);
  if (L->set_on[idx]) {
    fail(L, -EINVAL, "[%s] %s: set twice (first on line %u)", k->section, k->name, L->set_on[idx]);
    return 0;
  }
  char msg[CONFIG_ERR_MAX];
  struct value v;
  int r = check(k, value, &v, msg, sizeof(msg));
  if (r < 0) {
    fail(L, r, "[%s] %s: %s", k->section, k->name, msg);
    return 0;
  }
  store(L->work, k, &v);
  L->set_on[idx] = L->line;
  return 1;
}

/* The file's bytes into *ret (malloc'd, *ret_len bytes). */
static int read_file(const char *path, char **ret, size_t *ret_len, char *errbuf, size_t n) {
  /* O_NONBLOCK: a FIFO does not block the open; it is refused by the fstat below. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    int r = -errno;
    put(errbuf, n, "%s: cannot open: %s", path, amp_strerror(r));
    return r;
  }
  char *data = NULL;
  size_t len = 0;
  int r = 0;
  struct stat st;
  if (fstat(fd, &st) < 0) {
    r = -errno;
    put(errbuf, n, "%s: cannot stat: %s", path, amp_strerror(r));
    goto out_close;
  }
  if (!S_ISREG(st.st_mode)) {
    r = -EINVAL;
    put(errbuf, n, "%s: not a regular file", path);
    goto out_close;
  }
  if (st.st_size > (off_t)CONFIG_FILE_MAX) {
    r = -AMP_ETOOBIG;
    put(errbuf, n, "%s: larger than %u bytes", path, CONFIG_FILE_MAX);
    goto out_close;
  }
  /* One byte over the bound, so that a file that grew since the fstat is still caught. */
  if (!(data = malloc(CONFIG_FILE_MAX + 1))) {
    r = -ENOMEM;
    put(errbuf, n, "%s: out of memory", path);
    goto out_close;
  }
  while (len <= CONFIG_FILE_MAX) {
    ssize_t got = read(fd, data + len, CONFIG_FILE_MAX + 1 - len);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0) {
      r = -errno;
      put(errbuf, n, "%s: cannot read: %s", path, amp_strerror(r));
      goto out_free;
    }
    if (got == 0)
      break;
    len += (size_t)got;
  }
  if (len > CONFIG_FILE_MAX) {
    r = -AMP_ETOOBIG;
    put(errbuf, n, "%s: larger than %u bytes", path, CONFIG_FILE_MAX);
    goto out_free;
  }
  *ret = data;
  *ret_len = len;
  close(fd);
  return 0;

out_free:
  free(data);
out_close:
  close(fd);
  return r;
}

int config_load(const char *path, struct ampd_config *cfg, char *errbuf, size_t n) {
  if (!path || !cfg) {
    put(errbuf, n, "config_load: missing argument");
    return -EINVAL;
  }
  char *data = NULL;
  size_t len = 0;
  int r = read_file(path, &data, &len, errbuf, n);
  if (r < 0)
    return r;

  struct ampd_config work;
  struct load *L = calloc(1, sizeof(*L));
  if (!L || copy(&work, cfg) < 0) {
    r = -ENOMEM;
    put(errbuf, n, "%s: out of memory", path);
    goto out_load;
  }
  L->path = path;
  L->data = data;
  L->len = len;
  L->work = &work;
  int pr = ini_parse_stream(reader, L, handler, L);
  if (pr == -2) {
    r = -ENOMEM;
    put(errbuf, n, "%s: out of memory", path);
  } else if (pr > 0 && (!L->err || (unsigned)pr < L->err_line)) {
    /* inih's own error (the first one), before any of ours. */
    r = -EINVAL;
    put(errbuf, n, "%s:%d: not a [section] header or a key = value line", path, pr);
  } else if (L->err) {
    r = L->err;
    put(errbuf, n, "%s", L->msg);
  } else if (pr != 0) {
    r = -EINVAL; /* -1 (cannot open) is impossible with a reader */
    put(errbuf, n, "%s: cannot parse", path);
  }
  if (r < 0) {
    config_free(&work);
    goto out_load;
  }
  config_free(cfg);
  *cfg = work;

out_load:
  free(L);
  free(data);
  return r;
}
