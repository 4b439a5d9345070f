/* SPDX-License-Identifier: Apache-2.0 */
#include "speke.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/loop.h"
#include "net/http.h"

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

static int failf(char *why, int err, const char *msg, const char *detail) {
  snprintf(why, CPIX_WHY_MAX, "%s%s%s", msg, detail ? ": " : "", detail ? detail : "");
  return err;
}

void speke_sanitise(const uint8_t *body, size_t n, char *out, size_t max) {
  size_t o = 0;
  if (max == 0)
    return;
  for (size_t i = 0; i < n && o + 1 < max && o < SPEKE_MESSAGE_MAX; i++) {
    if (body[i] == '\n' || body[i] == '\r')
      break;
    out[o++] = body[i] >= 0x20 && body[i] < 0x7f ? (char)body[i] : '?';
  }
  out[o] = 0;
}

/* A whole PEM file (at most SPEKE_PEM_MAX bytes) into b, opened close-on-exec. */
static int read_pem(const char *path, struct buf *b) {
  uint8_t chunk[4096];
  size_t got;
  int r = 0;
  FILE *f = fopen(path, "re");
  if (!f)
    return -errno;
  while (r == 0 && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
    r = buf_append(b, chunk, got);
  if (r == 0 && ferror(f))
    r = -EIO;
  fclose(f);
  mbedtls_platform_zeroize(chunk, sizeof(chunk));
  return r;
}

int speke_read_cert(const char *path, uint8_t *der, size_t max, size_t *ret_len) {
  struct buf b = BUF_INIT(SPEKE_PEM_MAX);
  size_t got;
  int r = read_pem(path, &b);
  if (r < 0)
    goto out;
  const char *text = (const char *)b.data, *begin = text ? strstr(text, PEM_BEGIN) : NULL;
  const char *end = begin ? strstr(begin, PEM_END) : NULL;
  if (!end || strlen(text) != b.len) { /* a NUL in the file: not PEM text */
    r = -EINVAL;
    goto out;
  }
  begin += strlen(PEM_BEGIN);
  r = b64_decode(begin, (size_t)(end - begin), der, max, &got);
  if (r == 0 && got == 0)
    r = -EINVAL;
  if (r == 0)
    *ret_len = got;
out:
  buf_done(&b);
  return r;
}

struct exchange {
  bool done;
  int err;
  long status;
  char ctype[64];
};

static void on_done(struct http_request *r, const struct http_response *resp, void *userdata) {
  (void)r;
  struct exchange *x = userdata;
  x->done = true;
  x->err = resp->err;
  x->status = resp->status;
  snprintf(x->ctype, sizeof(x->ctype), "%s", resp->content_type);
}

/* POST body to the provider; the reply body in out. */
static int post(const struct speke_opts *o, const struct buf *body, struct buf *out, char *why) {
  struct loop *l = NULL;
  struct http *h = NULL;
  struct http_config cfg;
  struct exchange x = {0};
  char key_hdr[SPEKE_API_KEY_MAX + 1];
  int r;

  if (strlen(o->api_key) > SPEKE_API_KEY_MAX)
    return failf(why, -EINVAL, "the SPEKE API key is too long", NULL);
  snprintf(key_hdr, sizeof(key_hdr), "%s", o->api_key);
  const struct http_header hdrs[] = {
      {"X-Api-Key", key_hdr},
      {"X-Speke-Version", "2.0"},
      {"X-Speke-User-Agent", "ampack/1.0"},
      {"Content-Type", "application/xml"},
  };
  if ((r = loop_new(&l)) < 0)
    return failf(why, r, "cannot make the event loop", amp_strerror(r));
  http_config_init(&cfg);
  cfg.ca_file = o->ca_file;
  cfg.user_agent = "ampack/1.0";
  if ((r = http_new(l, &cfg, &h)) < 0) {
    failf(why, r, "cannot make the HTTPS client", amp_strerror(r));
    goto out;
  }
  /* SPEKE is idempotent (the same request gets the same keys): retried like a GET. */
  struct http_request_opts ro = {.method = HTTP_POST,
                                 .url = o->url,
                                 .headers = hdrs,
                                 .n_headers = sizeof(hdrs) / sizeof(hdrs[0]),
                                 .body = body->data,
                                 .body_len = body->len,
                                 .idempotent = true,
                                 .timeout_ms = SPEKE_TIMEOUT_MS,
                                 .body_out = out,
                                 .on_done = on_done,
                                 .userdata = &x};
  if ((r = http_request_start(h, &ro, NULL)) < 0) {
    failf(why, r, "cannot send the SPEKE request", amp_strerror(r));
    goto out;
  }
  while (!x.done && (r = loop_run_once(l, -1)) >= 0)
    ;
  if (!x.done) {
    failf(why, r, "the event loop failed", amp_strerror(r));
    goto out;
  }
  r = x.err;
  if (r == -AMP_EHTTP && x.status > 0) {
    char msg[SPEKE_MESSAGE_MAX + 1];
    speke_sanitise(out->data, out->len, msg, sizeof(msg));
    snprintf(why, CPIX_WHY_MAX, "the key provider answered HTTP %ld: %s", x.status, msg);
  } else if (r < 0) {
    failf(why, r, "the SPEKE request failed", amp_strerror(r));
  } else if (strncmp(x.ctype, "application/xml", 15) || (x.ctype[15] && x.ctype[15] != ';')) {
    r = failf(why, -AMP_EPROTO, "the reply is not application/xml", NULL);
  }
out:
  mbedtls_platform_zeroize(key_hdr, sizeof(key_hdr));
  http_free(h);
  loop_free(l);
  return r;
}

int speke_get_keys(const struct speke_opts *o, const char *content_id, const uint8_t (*kids)[16],
                   size_t n, uint32_t max_channels, struct cpix_reply *ret, char *why) {
  struct cpix_request *q = calloc(1, sizeof(*q));
  struct cpix_reply *reply = calloc(1, sizeof(*reply));
  struct buf req = BUF_INIT(CPIX_REQUEST_MAX), resp = BUF_INIT(CPIX_REPLY_MAX);
  uint8_t *der = NULL;
  mbedtls_pk_context pk;
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  int r;

  why[0] = 0;
  mbedtls_pk_init(&pk);
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  if (!q || !reply) {
    r = failf(why, -ENOMEM, "out of memory", NULL);
    goto out;
  }
  if (!o->url || !o->api_key || !!o->cert_file != !!o->key_file || n == 0 || n > CPIX_MAX_KEYS) {
    r = failf(why, -EINVAL, "SPEKE: bad options", NULL);
    goto out;
  }
  q->content_id = content_id;
  q->n_keys = n;
  memcpy(q->kid, kids, n * 16);
  q->max_channels = max_channels;
  if (o->cert_file) {
    size_t len = 0;
    if (!(der = malloc(CPIX_CERT_MAX))) {
      r = failf(why, -ENOMEM, "out of memory", NULL);
      goto out;
    }
    if ((r = speke_read_cert(o->cert_file, der, CPIX_CERT_MAX, &len)) < 0) {
      failf(why, r, "cannot read the certificate PEM", amp_strerror(r));
      goto out;
    }
    q->cert_der = der;
    q->cert_len = len;
    /* read here rather than by mbedtls_pk_parse_keyfile(), whose fopen() is not
     * close-on-exec; a PEM buffer is parsed with its NUL (struct buf keeps one) */
    struct buf pem = BUF_INIT(SPEKE_PEM_MAX);
    if ((r = read_pem(o->key_file, &pem)) < 0) {
      buf_done(&pem);
      failf(why, r, "cannot read the private key PEM", amp_strerror(r));
      goto out;
    }
    int bad = !pem.data || mbedtls_pk_parse_key(&pk, pem.data, pem.len + 1, NULL, 0) != 0 ||
              mbedtls_pk_get_type(&pk) != MBEDTLS_PK_RSA;
    if (pem.data)
      mbedtls_platform_zeroize(pem.data, pem.len);
    buf_done(&pem);
    if (bad) {
      r = failf(why, -EINVAL, "the private key is not an RSA key in a PEM file", NULL);
      goto out;
    }
    static const unsigned char pers[] = "ampack-speke";
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, pers, sizeof(pers)) != 0) {
      r = failf(why, -EIO, "cannot seed the random generator", NULL);
      goto out;
    }
  }
  if ((r = cpix_request_write(q, &req)) < 0) {
    failf(why, r, "cannot write the CPIX request", amp_strerror(r));
    goto out;
  }
  if ((r = post(o, &req, &resp, why)) < 0)
    goto out;
  if ((r = cpix_reply_parse(q, resp.data, resp.len, reply, why)) < 0)
    goto out;
  if (reply->encrypted &&
      (r = cpix_reply_decrypt(reply, &pk, mbedtls_ctr_drbg_random, &drbg, why)) < 0)
    goto out;
  memcpy(ret, reply, sizeof(*reply));
out:
  if (reply) {
    mbedtls_platform_zeroize(reply, sizeof(*reply));
    free(reply);
  }
  if (resp.data)
    mbedtls_platform_zeroize(resp.data, resp.len);
  buf_done(&resp);
  buf_done(&req);
  free(der);
  free(q);
  mbedtls_pk_free(&pk);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return r;
}
