/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz ampack's CPIX reply parser (tools/ampack/cpix.h, docs/speke.md §11) and, for a
 * reply that parses, the content key decryption. The first byte picks the request the
 * reply answers (bit 0: with the certificate of tests/data/cpix/delivery.pem, so the
 * reply must carry encrypted keys; else keys in the clear); the rest is the reply body
 * as the HTTP client hands it over, in a heap copy of exactly its length (a read past it
 * is a heap overflow ASan reports). The request is the one of the unit test's fixtures
 * (contentId cpix-fixture-1, its two KIDs), so the seeds made from them parse.
 *
 * Checked on every input: the return is 0 or one of the errors cpix.h names; why is one
 * NUL-terminated line within CPIX_WHY_MAX; on failure the ret struct is untouched. On
 * success: the keys are the request's KIDs in its order, each with a PSSH box per
 * system that is a whole box of that system naming the KID (checked again here), the
 * encrypted flag is the request's, the RSA values within CPIX_RSA_MAX. Then for an
 * encrypted reply cpix_reply_decrypt() with the fixture's private key: 0 or -AMP_EPROTO,
 * and on failure no key is set.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/pk.h>

#include "core/b64.h"
#include "core/err.h"
#include "fuzz.h"
#include "tools/ampack/cpix.h"
#include "tools/ampack/speke.h"

static const char *const KIDS[2] = {"7a2c4e61-0b3d-4f58-9a17-c6e2d8f0a1b3",
                                    "1d9b5f03-6e2a-4c71-b8d4-0f3e7a9c2b56"};

struct fixture {
  bool ready;
  uint8_t der[CPIX_CERT_MAX];
  size_t der_len;
  mbedtls_pk_context pk;
};
static struct fixture F;

static void setup(void) {
  if (F.ready)
    return;
  CHECK(speke_read_cert(CPIX_DATA_DIR "/delivery.pem", F.der, sizeof(F.der), &F.der_len) == 0);
  mbedtls_pk_init(&F.pk);
  CHECK(mbedtls_pk_parse_keyfile(&F.pk, CPIX_DATA_DIR "/delivery.key", NULL) == 0);
  F.ready = true;
}

static int rng(void *ctx, unsigned char *out, size_t n) {
  unsigned *c = ctx;
  for (size_t i = 0; i < n; i++)
    out[i] = (unsigned char)(++*c * 167u);
  return 0;
}

static bool all(const void *p, size_t n, uint8_t v) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != v)
      return false;
  return true;
}

static void check_why(const char *why) {
  size_t n = strnlen(why, CPIX_WHY_MAX);
  CHECK(n < CPIX_WHY_MAX);
  CHECK(!memchr(why, '\n', n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  setup();
  struct cpix_request q = {.content_id = "cpix-fixture-1", .n_keys = 2, .max_channels = 2};
  for (int i = 0; i < 2; i++)
    CHECK(hex_decode(KIDS[i], q.kid[i], 16) == 0);
  if (data[0] & 1) {
    q.cert_der = F.der;
    q.cert_len = F.der_len;
  }
  size_t len = size - 1;
  uint8_t *xml = malloc(len ? len : 1);
  struct cpix_reply *r = malloc(sizeof(*r));
  char why[CPIX_WHY_MAX];
  CHECK(xml && r);
  memcpy(xml, data + 1, len);
  memset(r, 0xa5, sizeof(*r));
  memset(why, 0x5a, sizeof(why));

  int rc = cpix_reply_parse(&q, xml, len, r, why);
  CHECK(rc == 0 || rc == -AMP_EPROTO || rc == -AMP_ETOOBIG || rc == -ENOMEM);
  check_why(why);
  if (rc < 0) {
    CHECK(why[0] != 0);
    CHECK(all(r, sizeof(*r), 0xa5));
    goto out;
  }
  CHECK(r->n_keys == 2);
  CHECK(r->encrypted == (q.cert_der != NULL));
  for (size_t i = 0; i < r->n_keys; i++) {
    const struct cpix_key *k = &r->keys[i];
    CHECK(!memcmp(k->kid, q.kid[i], 16));
    for (int s = 0; s < CPIX_N_SYSTEMS; s++) {
      CHECK(k->pssh_len[s] >= 32 && k->pssh_len[s] <= CPIX_PSSH_MAX);
      CHECK(cpix_pssh_check(k->pssh[s], k->pssh_len[s], CPIX_SYSTEM_ID[s], k->kid) == 0);
    }
  }
  if (r->encrypted) {
    CHECK(r->doc_key_enc_len >= 1 && r->doc_key_enc_len <= CPIX_RSA_MAX);
    CHECK(r->mac_key_enc_len >= 1 && r->mac_key_enc_len <= CPIX_RSA_MAX);
    for (size_t i = 0; i < r->n_keys; i++)
      CHECK(all(r->keys[i].key, CPIX_KEY_LEN, 0)); /* unknown until decrypted */
    unsigned c = 0;
    rc = cpix_reply_decrypt(r, &F.pk, rng, &c, why);
    CHECK(rc == 0 || rc == -AMP_EPROTO);
    check_why(why);
    CHECK(r->encrypted == (rc < 0));
    if (rc < 0)
      for (size_t i = 0; i < r->n_keys; i++)
        CHECK(all(r->keys[i].key, CPIX_KEY_LEN, 0));
  }
out:
  free(r);
  free(xml);
  return 0;
}
