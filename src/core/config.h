/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_CONFIG_H
#define AMPD_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The daemon's configuration: one INI file (`ampd -c FILE`, read through inih) and
 * command-line overrides (`-o section.key=value`), on top of built-in defaults. Every key,
 * its default, its range and its meaning: docs/configuration.md (and ampd.conf(5)).
 *
 * Order of use (main): config_defaults(), then config_load() of the file if there is one,
 * then config_set()/config_override() for each override, in command-line order (a later
 * one replaces an earlier one and the file's value). The struct is then read-only and may
 * be read from any thread; config_free() at the end.
 *
 * Errors. Every failure returns a negative code and writes ONE line, without a newline,
 * into errbuf (when errbuf is not NULL and n > 0; cut to n - 1 bytes):
 *   "<file>:<line>: [<section>] <key>: <what is wrong>"  a bad value in the file
 *   "<file>:<line>: <what is wrong>"                      a line that is not a key or section
 *   "<file>: <what is wrong>"                             the file as a whole
 *   "<section>.<key>: <what is wrong>"                    config_set
 * for example "ampd.conf:12: [playback] buffer_ahead_s: 900 is out of range 1..300". Only
 * numbers, booleans, enum and capability words, log level specs and unknown section and
 * key names are echoed (at most CONFIG_ECHO_MAX characters, printable ASCII, others as
 * '?'); another string value (a URL, a client id, a path) never appears in a message, and
 * nothing here logs.
 * The first error of a file is the one reported; the file's values are then not applied
 * at all. Codes: -EINVAL (a bad value, an unknown section or key, a key set twice in the
 * file, a line that does not parse, a NUL byte), -AMP_ETOOBIG (a file over CONFIG_FILE_MAX
 * or a line over CONFIG_LINE_MAX bytes), -errno of open/fstat/read (-ENOENT, -EACCES,
 * ...), -EINVAL for a file that is not a regular file, -ENOMEM.
 *
 * Syntax (inih's, as the Debian build of libinih has it, with two refinements of ours):
 * "[section]" headers, "key = value" (or "key: value") lines, whitespace around keys and
 * values stripped, comment lines starting with ';' or '#', inline comments from " ;". A
 * section may appear more than once. Leading whitespace is removed before inih sees a
 * line, so an indented line is never a continuation of the previous value; a key outside
 * every section, a key given twice in one file, text after a "[section]" header other than
 * a comment (inih drops it) and an empty value where one is needed are errors.
 *
 * Ownership: every string in struct ampd_config belongs to it (malloc'd, freed by
 * config_free()). On failure config_load() and config_set() leave cfg exactly as it was.
 */

#define CONFIG_FILE_MAX (64u * 1024) /* bytes of a configuration file */
/* Bytes of one line without its line end: inih's line buffer (200 bytes in the build this
 * project uses) holds the line, its line end and a NUL. Also the bound of an override's
 * value. */
#define CONFIG_LINE_MAX 197u
#define CONFIG_ERR_MAX 512u /* a good size for errbuf */
#define CONFIG_ECHO_MAX 32u /* characters of a value that a message may quote */

enum config_backend {
  CONFIG_BACKEND_ALSA = 0, /* platform/alsa */
  CONFIG_BACKEND_PIPE,     /* raw PCM into a file or FIFO (output.device is its path) */
  CONFIG_BACKEND_NULL,     /* discards the PCM (tests, benchmarks) */
};

enum config_volume_mode {
  CONFIG_VOLUME_SOFTWARE = 0, /* scale the PCM in the player */
  CONFIG_VOLUME_HARDWARE,     /* the output's mixer control (output.mixer_control) */
  CONFIG_VOLUME_BOTH,         /* the mixer first, the PCM below its range */
};

enum config_mpris_bus {
  CONFIG_MPRIS_OFF = 0, /* no MPRIS interface */
  CONFIG_MPRIS_SESSION, /* the session bus of the daemon's user */
  CONFIG_MPRIS_SYSTEM,  /* the system bus (needs dist/dbus/org.mpris.MediaPlayer2.ampd.conf) */
};

/* output.rate: the device runs at each track's rate, keeps its first one, or a fixed rate
 * (any other value: Hz). */
#define CONFIG_RATE_NATIVE 0u
#define CONFIG_RATE_KEEP 1u

struct ampd_config {
  struct {
    char *lwa_url;                     /* https://, "https://api.amazon.com" */
    char *api_url;                     /* https://, the Device API root document */
    char *client_id;                   /* the LWA client id; NULL: not set (linking impossible) */
    char *ca_file;                     /* PEM bundle of trusted CAs; NULL: the system store */
    char *capabilities;                /* comma list of STD_RES HI_FI HI_RES THREE_DIMENSIONAL
                                        * REAL_AUDIO_360, each at most once; "STD_RES,HI_FI" */
    bool has_explicit;                 /* true */
    char *accept_language;             /* "en-US" */
    char *user_agent;                  /* "ampd/<version>" */
    uint32_t license_expiry_test_secs; /* 0 (off) .. 31622400 (366 days) */
  } service;
  struct {
    enum config_backend backend; /* alsa */
    char *device;                /* "default" */
    char *mixer_control;         /* NULL: no hardware mixer (software volume) */
    uint32_t buffer_ms;          /* 10..2000, 200 */
    bool sync;                   /* the null backend paces at the real rate; false */
    uint32_t idle_close_s;       /* 0 (keep open) .. 86400, 30 */
    uint32_t rate;               /* CONFIG_RATE_NATIVE, CONFIG_RATE_KEEP or 8000..768000 Hz */
  } output;
  struct {
    uint32_t buffer_ahead_s;             /* 1..300, 30 */
    uint32_t buffer_max_kib;             /* 256..262144, 4096 */
    bool loudness;                       /* normalise loudness (false for "off"); true */
    double loudness_target_lufs;         /* -40..-5, -14 (kept when loudness is off) */
    uint32_t volume;                     /* 0..100, 100 */
    enum config_volume_mode volume_mode; /* software */
    bool resume;                         /* resume the container after a restart; false */
  } playback;
  struct {
    char *state_dir;     /* absolute, "/var/lib/ampd" */
    char *runtime_dir;   /* absolute, "/run/ampd" */
    char *cdm_dir;       /* absolute, the build's AMPD_CDM_DIR (cdmhost_default_dir()) */
    char *cdm;           /* [a-z0-9_-]{1,32}, "clearkey" */
    char *control_group; /* the control socket's group (1..32, no spaces); NULL: the daemon's */
  } paths;
  struct {
    enum config_mpris_bus bus; /* off */
  } mpris;
  struct {
    char *level;               /* a core/log spec ("info", "warning,http=debug"); "info" */
    uint32_t stats_interval_s; /* the stats line while playing; 0 (off) .. 86400, 60 */
  } log;
  struct {
    char *onevent;      /* absolute path of the event program; NULL: none */
    uint32_t timeout_s; /* 1..3600, 10 */
  } hooks;
};

/* Fill cfg with the defaults (whatever cfg held is overwritten, not freed). 0 or -ENOMEM
 * (cfg then holds nothing to free: config_free() on it is still fine). */
int config_defaults(struct ampd_config *cfg);

/* Read the INI file at path (a regular file of at most CONFIG_FILE_MAX bytes, opened
 * O_CLOEXEC) and apply its values over cfg (which holds the defaults or an earlier
 * load). 0, or a negative code and one line in errbuf (see the top); cfg is then as it
 * was. */
int config_load(const char *path, struct ampd_config *cfg, char *errbuf, size_t n);

/* Set one key, name "section.key" (e.g. "playback.volume"), to value, validated exactly as
 * in a file (but not trimmed; an empty value is "" as in "key ="). 0, or -EINVAL / -ENOMEM /
 * -AMP_ETOOBIG (a value over CONFIG_LINE_MAX bytes) and one line in errbuf; cfg is then as
 * it was. */
int config_set(struct ampd_config *cfg, const char *name, const char *value, char *errbuf,
               size_t n);

/* config_set() of an override "section.key=value" (split at the first '='). -EINVAL
 * without '='. */
int config_override(struct ampd_config *cfg, const char *assignment, char *errbuf, size_t n);

/* Call fn(section, key) for each key whose value differs between a and b, in the order
 * of docs/configuration.md (SIGHUP: what changed). Returns how many differ. */
size_t config_diff(const struct ampd_config *a, const struct ampd_config *b,
                   void (*fn)(void *ud, const char *section, const char *key), void *ud);

/* The names of the enum values ("alsa", "software"); "?" out of range. */
const char *config_backend_name(enum config_backend b);
const char *config_volume_mode_name(enum config_volume_mode m);
const char *config_mpris_bus_name(enum config_mpris_bus b);

/* Free every string and zero cfg. Accepts NULL and a cfg from a failed config_defaults(). */
void config_free(struct ampd_config *cfg);

#endif
