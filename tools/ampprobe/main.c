/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampprobe: inspect a DASH manifest or a fragmented MP4, and decode a Representation
 * through ampd's own chain (manifest, demuxer, CDM plugin, decoder, ALSA output).
 *
 *   ampprobe info [--json] [--ca FILE] <mpd|mp4>
 *   ampprobe decode [--rep ID] [--key KID:KEY]... [--keys FILE] [--cdm /DIR/NAME.so]
 *                   [--ca FILE] (-o OUT.wav|- | --alsa DEVICE) <mpd|mp4>
 *
 * Inputs are local paths (files or pipes) or https URLs. Exit 0 on success; otherwise one
 * line on stderr and status 1 (2 for a usage error). See ampprobe(1).
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ampprobe.h"
#include "core/b64.h"
#include "core/err.h"
#include "core/log.h"
#include "core/redact.h"
#include "source.h"

int probe_fail(int r, const char *what, const char *detail) {
  char w[1024], d[1024];
  redact_urls(what ? what : "", w, sizeof(w));
  redact_urls(detail ? detail : "", d, sizeof(d));
  if (d[0])
    fprintf(stderr, "ampprobe: %s: %s (%s)\n", w, d, amp_strerror(r));
  else
    fprintf(stderr, "ampprobe: %s: %s\n", w, amp_strerror(r));
  return r;
}

static int add_key(struct probe_opts *o, const struct cdmhost_key *k) {
  if (o->n_keys >= AMPPROBE_MAX_KEYS)
    return -AMP_ETOOBIG;
  o->keys[o->n_keys++] = *k;
  return 0;
}

static int key_from_json(struct probe_opts *o, const cJSON *e) {
  const cJSON *kid = cJSON_GetObjectItemCaseSensitive(e, "kid");
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "key");
  struct cdmhost_key k;
  if (!cJSON_IsString(kid) || !cJSON_IsString(key) || hex_decode(kid->valuestring, k.kid, 16) < 0 ||
      hex_decode(key->valuestring, k.key, 16) < 0)
    return -EINVAL;
  return add_key(o, &k);
}

static int keep_bytes(void *userdata, uint64_t offset, const uint8_t *data, size_t len) {
  (void)offset;
  return buf_append(userdata, data, len);
}

/* --keys FILE: ampack's keys.json ({"kid":hex,"key":hex}, or an array of those, or
 * {"keys":[...]}) or lines of KID:KEY. */
static int load_keys(struct probe_opts *o, const char *path) {
  struct source *s;
  struct buf b;
  size_t before = o->n_keys;
  int r = source_open(path, NULL, &s);
  if (r < 0)
    return r;
  buf_init(&b, CDMHOST_MAX_KEYS_FILE);
  r = source_stream(s, keep_bytes, &b);
  source_free(s);
  if (r < 0)
    goto out;
  size_t i = 0;
  while (i < b.len && (b.data[i] == ' ' || b.data[i] == '\n' || b.data[i] == '\t'))
    i++;
  if (i < b.len && (b.data[i] == '{' || b.data[i] == '[')) {
    cJSON *j = cJSON_ParseWithLength((const char *)b.data, b.len);
    const cJSON *list = j;
    r = -EINVAL;
    if (cJSON_IsObject(j) && cJSON_GetObjectItemCaseSensitive(j, "keys"))
      list = cJSON_GetObjectItemCaseSensitive(j, "keys");
    if (cJSON_IsArray(list)) {
      const cJSON *e;
      r = 0;
      cJSON_ArrayForEach(e, list) {
        r = key_from_json(o, e);
        if (r < 0)
          break;
      }
    } else if (cJSON_IsObject(list)) {
      r = key_from_json(o, list);
    }
    cJSON_Delete(j);
  } else {
    struct cdmhost_key keys[AMPPROBE_MAX_KEYS];
    size_t n = 0;
    unsigned bad = 0;
    /* From the bytes already read: the path may be a pipe, which cannot be read twice. */
    r = cdmhost_keys_parse((const char *)b.data, b.len, keys, AMPPROBE_MAX_KEYS, &n, &bad);
    for (size_t k = 0; r == 0 && k < n; k++)
      r = add_key(o, &keys[k]);
    memset(keys, 0, sizeof(keys));
  }
  if (r == 0 && o->n_keys == before)
    r = -AMP_ENOKEY; /* an empty file, or one of blank lines */
out:
  if (b.data) /* the file held keys */
    memset(b.data, 0, b.len);
  buf_done(&b);
  return r;
}

static void usage(FILE *f) {
  fputs("usage: ampprobe info [--json] [--ca FILE] <mpd|mp4>\n"
        "       ampprobe decode [--rep ID] [--start S] [--key KID:KEY]... [--keys FILE]\n"
        "                       [--cdm /DIR/NAME.so]\n"
        "                       [--ca FILE] (-o OUT.wav|- | --alsa DEVICE) <mpd|mp4>\n"
        "Inputs are local paths (files or pipes) or https:// URLs. See ampprobe(1).\n",
        f);
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"json", no_argument, NULL, 'j'},       {"rep", required_argument, NULL, 'r'},
      {"key", required_argument, NULL, 'k'},  {"keys", required_argument, NULL, 'K'},
      {"cdm", required_argument, NULL, 'c'},  {"ca", required_argument, NULL, 'C'},
      {"alsa", required_argument, NULL, 'a'}, {"output", required_argument, NULL, 'o'},
      {"verbose", no_argument, NULL, 'v'},    {"start", required_argument, NULL, 's'},
      {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
  };
  static struct probe_opts o; /* static: holds up to 64 keys, wiped at exit */
  const char *cmd;
  int c, r;

  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(cmd, "info") != 0 && strcmp(cmd, "decode") != 0) {
    fprintf(stderr, "ampprobe: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
  }
  log_set_levels("warning");
  optind = 2;
  while ((c = getopt_long(argc, argv, "o:vh", longopts, NULL)) != -1) {
    struct cdmhost_key k;
    switch (c) {
    case 'j':
      o.json = true;
      break;
    case 'r':
      o.rep = optarg;
      break;
    case 'k':
      if (cdmhost_key_parse(optarg, &k) < 0 || add_key(&o, &k) < 0) {
        fprintf(stderr, "ampprobe: --key wants KID:KEY, 32 hex digits each\n");
        return 2;
      }
      break;
    case 'K':
      r = load_keys(&o, optarg);
      if (r < 0) {
        probe_fail(r, optarg,
                   r == -AMP_ENOKEY    ? "the keys file holds no keys"
                   : r == -AMP_ETOOBIG ? "a keys file is at most 64 KiB"
                                       : "cannot read keys");
        memset(o.keys, 0, sizeof(o.keys));
        return 2;
      }
      break;
    case 'c':
      o.cdm = optarg;
      break;
    case 's': {
      char *end;
      errno = 0;
      o.start_s = strtod(optarg, &end);
      if (errno || *end || !(o.start_s >= 0 && o.start_s < 1e7)) {
        fprintf(stderr, "ampprobe: --start wants seconds, e.g. 12.5\n");
        return 2;
      }
      break;
    }
    case 'C':
      o.ca_file = optarg;
      break;
    case 'a':
      o.alsa = optarg;
      break;
    case 'o':
      o.out = optarg;
      break;
    case 'v':
      log_set_levels("debug");
      break;
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind != argc - 1) {
    usage(stderr);
    return 2;
  }
  o.input = argv[optind];
  if (strcmp(cmd, "info") == 0) {
    r = probe_info(&o);
  } else {
    if (!o.out == !o.alsa) {
      fprintf(stderr, "ampprobe: decode wants exactly one of -o OUT.wav and --alsa DEVICE\n");
      return 2;
    }
    r = probe_decode(&o);
  }
  memset(o.keys, 0, sizeof(o.keys));
  return r < 0 ? 1 : 0;
}
