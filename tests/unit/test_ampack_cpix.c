/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampack's CPIX 2.3 request writer and reply parser (tools/ampack/cpix.h), and the pure
 * parts of its SPEKE client (tools/ampack/speke.h). The replies are the fixtures of
 * tests/data/cpix/ (made by make_fixtures.py in the shape of the CPIX examples, for the
 * KIDs and keys below; reply_encrypted.xml for the throwaway pair delivery.pem/.key),
 * and every error path is one of them with one thing changed.
 */
#include <errno.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <mbedtls/aes.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>

#include "core/b64.h"
#include "core/buf.h"
#include "core/err.h"
#include "tools/ampack/cpix.h"
#include "tools/ampack/speke.h"

#define CONTENT_ID "cpix-fixture-1"
#define KID0 "7a2c4e61-0b3d-4f58-9a17-c6e2d8f0a1b3"
#define KID1 "1d9b5f03-6e2a-4c71-b8d4-0f3e7a9c2b56"
static const char *const KID_S[2] = {KID0, KID1};
static const char *const KEY_S[2] = {"3f8a1c5e7b9d2f4061a3c5e7f9b1d3e5",
                                     "c0ffee00112233445566778899aabbcc"};
#define OTHER_KID "0b7e1c2d-3a4f-4e5d-8c6b-7a8f9e0d1c2b"

static void kid_of(int i, uint8_t out[16]) {
  assert_int_equal(hex_decode(KID_S[i], out, 16), 0);
}
static void key_of(int i, uint8_t out[16]) {
  assert_int_equal(hex_decode(KEY_S[i], out, 16), 0);
}

static char *slurp(const char *name, size_t *ret_len) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", CPIX_DATA_DIR, name);
  FILE *f = fopen(path, "rbe");
  assert_non_null(f);
  char *s = malloc(1 << 16);
  assert_non_null(s);
  size_t n = fread(s, 1, (1 << 16) - 1, f);
  fclose(f);
  s[n] = 0;
  *ret_len = n;
  return s;
}

/* Replace the first occurrence of from in s (which must hold it: else the case called
 * name fails) by to: a new string. */
static char *edit(const char *name, const char *s, const char *from, const char *to) {
  const char *at = strstr(s, from);
  if (!at)
    fail_msg("%s: fixture lacks '%s'", name, from);
  size_t a = (size_t)(at - s), fl = strlen(from), tl = strlen(to), n = strlen(s);
  char *out = malloc(n - fl + tl + 1);
  assert_non_null(out);
  memcpy(out, s, a);
  memcpy(out + a, to, tl);
  memcpy(out + a + tl, at + fl, n - a - fl + 1);
  return out;
}

/* Remove from the first "<from" up to and including the first "until" after it (both
 * there: else the case called name fails). */
static char *cut(const char *name, const char *s, const char *from, const char *until) {
  const char *a = strstr(s, from);
  const char *b = a ? strstr(a, until) : NULL;
  if (!b)
    fail_msg("%s: fixture lacks '%s' ... '%s'", name, from, until);
  b += strlen(until);
  size_t n = strlen(s);
  char *out = malloc(n + 1);
  assert_non_null(out);
  memcpy(out, s, (size_t)(a - s));
  memcpy(out + (a - s), b, n - (size_t)(b - s) + 1);
  return out;
}

static void request(struct cpix_request *q, int swapped, const uint8_t *cert, size_t cert_len) {
  memset(q, 0, sizeof(*q));
  q->content_id = CONTENT_ID;
  q->n_keys = 2;
  kid_of(swapped ? 1 : 0, q->kid[0]);
  kid_of(swapped ? 0 : 1, q->kid[1]);
  q->max_channels = 2;
  q->cert_der = cert;
  q->cert_len = cert_len;
}

static int test_rng(void *ctx, unsigned char *out, size_t n) {
  unsigned *c = ctx;
  for (size_t i = 0; i < n; i++)
    out[i] = (unsigned char)(++*c * 151u);
  return 0;
}

/* ---- the writer ---- */

static xmlNode *first(xmlNode *parent, const char *ns, const char *name, int *count) {
  xmlNode *f = NULL;
  *count = 0;
  for (xmlNode *c = parent->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE && c->ns && !strcmp((const char *)c->ns->href, ns) &&
        !strcmp((const char *)c->name, name)) {
      if (!f)
        f = c;
      ++*count;
    }
  return f;
}

static void assert_attr(xmlNode *n, const char *name, const char *want) {
  xmlChar *v = xmlGetNoNsProp(n, (const xmlChar *)name);
  if (!v)
    fail_msg("%s has no %s", (const char *)n->name, name);
  assert_string_equal((const char *)v, want);
  xmlFree(v);
}

static xmlDocPtr write_and_parse(const struct cpix_request *q) {
  struct buf b = BUF_INIT(CPIX_REQUEST_MAX);
  assert_int_equal(cpix_request_write(q, &b), 0);
  assert_true(b.len > 0 && b.len <= CPIX_REQUEST_MAX);
  xmlDocPtr doc = xmlReadMemory((const char *)b.data, (int)b.len, NULL, "UTF-8", XML_PARSE_NONET);
  assert_non_null(doc);
  buf_done(&b);
  return doc;
}

static void test_writer(void **state) {
  (void)state;
  struct cpix_request q;
  int n;
  request(&q, 0, NULL, 0);
  xmlDocPtr doc = write_and_parse(&q);
  xmlNode *root = xmlDocGetRootElement(doc);
  assert_non_null(root->ns);
  assert_string_equal((const char *)root->ns->href, CPIX_NS);
  assert_string_equal((const char *)root->name, "CPIX");
  assert_attr(root, "contentId", CONTENT_ID);
  assert_attr(root, "version", "2.3");
  assert_null(first(root, CPIX_NS, "DeliveryDataList", &n));
  /* the lists, each once, in the schema's order */
  const char *order[] = {"ContentKeyList", "DRMSystemList", "ContentKeyUsageRuleList"};
  size_t k = 0;
  for (xmlNode *c = root->children; c; c = c->next)
    if (c->type == XML_ELEMENT_NODE) {
      assert_true(k < 3);
      assert_string_equal((const char *)c->name, order[k++]);
    }
  assert_int_equal(k, 3);
  xmlNode *ckl = first(root, CPIX_NS, "ContentKeyList", &n);
  assert_int_equal(n, 1);
  xmlNode *ck = first(ckl, CPIX_NS, "ContentKey", &n);
  assert_int_equal(n, 2);
  assert_attr(ck, "kid", KID_S[0]);
  assert_attr(ck, "commonEncryptionScheme", "cenc");
  assert_null(ck->children); /* the provider fills in Data */
  xmlNode *dl = first(root, CPIX_NS, "DRMSystemList", &n);
  int systems = 0, wv = 0, common = 0;
  for (xmlNode *d = dl->children; d; d = d->next) {
    if (d->type != XML_ELEMENT_NODE)
      continue;
    systems++;
    assert_string_equal((const char *)d->name, "DRMSystem");
    xmlChar *sid = xmlGetNoNsProp(d, (const xmlChar *)"systemId");
    assert_non_null(sid);
    wv += !strcmp((const char *)sid, "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed");
    common += !strcmp((const char *)sid, "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b");
    xmlFree(sid);
    xmlNode *ps = first(d, CPIX_NS, "PSSH", &n);
    assert_int_equal(n, 1);
    assert_null(ps->children);
  }
  assert_int_equal(systems, 4);
  assert_int_equal(wv, 2);
  assert_int_equal(common, 2);
  xmlNode *rl = first(root, CPIX_NS, "ContentKeyUsageRuleList", &n);
  xmlNode *rule = first(rl, CPIX_NS, "ContentKeyUsageRule", &n);
  assert_int_equal(n, 2);
  assert_attr(rule, "kid", KID_S[0]);
  assert_attr(rule, "intendedTrackType", "AUDIO");
  xmlNode *af = first(rule, CPIX_NS, "AudioFilter", &n);
  assert_int_equal(n, 1);
  assert_attr(af, "minChannels", "1");
  assert_attr(af, "maxChannels", "2");
  xmlFreeDoc(doc);
}

static void test_writer_certificate(void **state) {
  (void)state;
  static const uint8_t der[] = {0x30, 0x82, 0x01, 0x0a, 0xde, 0xad, 0xbe, 0xef};
  struct cpix_request q;
  int n;
  request(&q, 0, der, sizeof(der));
  xmlDocPtr doc = write_and_parse(&q);
  xmlNode *root = xmlDocGetRootElement(doc);
  xmlNode *x = first(root, CPIX_NS, "DeliveryDataList", &n);
  assert_non_null(x);
  assert_ptr_equal(root->children->next, x); /* first, as the schema orders it */
  x = first(x, CPIX_NS, "DeliveryData", &n);
  assert_int_equal(n, 1);
  assert_non_null(x = first(x, CPIX_NS, "DeliveryKey", &n));
  assert_non_null(x = first(x, DSIG_NS, "X509Data", &n));
  assert_non_null(x = first(x, DSIG_NS, "X509Certificate", &n));
  xmlChar *text = xmlNodeGetContent(x);
  uint8_t back[16];
  size_t len = 0;
  assert_int_equal(
      b64_decode((const char *)text, strlen((const char *)text), back, sizeof(back), &len), 0);
  assert_int_equal(len, sizeof(der));
  assert_memory_equal(back, der, sizeof(der));
  xmlFree(text);
  xmlFreeDoc(doc);
}

static void test_writer_refuses(void **state) {
  (void)state;
  struct cpix_request q;
  struct buf b = BUF_INIT(CPIX_REQUEST_MAX);
  const char *bad_ids[] = {"", "a<b", "a b", "a&b",
                           "12345678901234567890123456789012345678901234567890123456789012345"};
  for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
    request(&q, 0, NULL, 0);
    q.content_id = bad_ids[i];
    assert_int_equal(cpix_request_write(&q, &b), -EINVAL);
  }
  request(&q, 0, NULL, 0);
  memcpy(q.kid[1], q.kid[0], 16); /* a KID twice */
  assert_int_equal(cpix_request_write(&q, &b), -EINVAL);
  request(&q, 0, NULL, 0);
  q.n_keys = 0;
  assert_int_equal(cpix_request_write(&q, &b), -EINVAL);
  q.n_keys = CPIX_MAX_KEYS + 1;
  assert_int_equal(cpix_request_write(&q, &b), -EINVAL);
  request(&q, 0, (const uint8_t *)"x", CPIX_CERT_MAX + 1);
  assert_int_equal(cpix_request_write(&q, &b), -EINVAL);
  request(&q, 0, NULL, 0);
  q.max_channels = 0;
  assert_int_equal(cpix_request_write(&q, &b), -EINVAL);
  assert_int_equal(b.len, 0);
  /* the most keys fit the request bound */
  request(&q, 0, NULL, 0);
  q.n_keys = CPIX_MAX_KEYS;
  for (size_t i = 0; i < CPIX_MAX_KEYS; i++) {
    memset(q.kid[i], 0x5a, 16);
    q.kid[i][0] = (uint8_t)i;
  }
  assert_int_equal(cpix_request_write(&q, &b), 0);
  buf_done(&b);
}

/* ---- the reply ---- */

static void check_pssh(const struct cpix_key *k, const uint8_t kid[16]) {
  for (int s = 0; s < CPIX_N_SYSTEMS; s++) {
    assert_true(k->pssh_len[s] >= 32);
    assert_memory_equal(k->pssh[s] + 4, "pssh", 4);
    assert_memory_equal(k->pssh[s] + 12, CPIX_SYSTEM_ID[s], 16);
    assert_int_equal(cpix_pssh_check(k->pssh[s], k->pssh_len[s], CPIX_SYSTEM_ID[s], kid), 0);
  }
  assert_int_equal(k->pssh[CPIX_COMMON][8], 1); /* the W3C box lists the KID */
  assert_memory_equal(k->pssh[CPIX_COMMON] + 32, kid, 16);
}

static void parse_ok(const char *file, int swapped) {
  struct cpix_request q;
  struct cpix_reply *r = calloc(1, sizeof(*r));
  char why[CPIX_WHY_MAX];
  size_t len;
  char *xml = slurp(file, &len);
  request(&q, swapped, NULL, 0);
  int rc = cpix_reply_parse(&q, xml, len, r, why);
  if (rc)
    fail_msg("%s: %d %s", file, rc, why);
  assert_int_equal(r->n_keys, 2);
  assert_int_equal(r->encrypted, 0);
  for (int i = 0; i < 2; i++) { /* in the request's order */
    uint8_t key[16];
    key_of(swapped ? 1 - i : i, key);
    assert_memory_equal(r->keys[i].kid, q.kid[i], 16);
    assert_memory_equal(r->keys[i].key, key, 16);
    check_pssh(&r->keys[i], q.kid[i]);
  }
  free(xml);
  free(r);
}

static void test_parse_clear(void **state) {
  (void)state;
  parse_ok("reply_clear.xml", 0);
  parse_ok("reply_clear.xml", 1);
}

static void test_parse_prefixes(void **state) {
  (void)state;
  parse_ok("reply_prefixes.xml", 0);
}

struct enc {
  uint8_t der[CPIX_CERT_MAX];
  size_t der_len;
  mbedtls_pk_context pk;
  unsigned rng;
  struct cpix_request q;
};

static void enc_setup(struct enc *e) {
  char path[1024];
  snprintf(path, sizeof(path), "%s/delivery.pem", CPIX_DATA_DIR);
  assert_int_equal(speke_read_cert(path, e->der, sizeof(e->der), &e->der_len), 0);
  mbedtls_pk_init(&e->pk);
  snprintf(path, sizeof(path), "%s/delivery.key", CPIX_DATA_DIR);
  assert_int_equal(mbedtls_pk_parse_keyfile(&e->pk, path, NULL), 0);
  e->rng = 0;
  request(&e->q, 0, e->der, e->der_len);
}

/* e set up (enc_setup) and reply_encrypted.xml parsed for its request, which must work:
 * the reply (enc_done frees it and e's key). */
static struct cpix_reply *enc_parse(struct enc *e, char why[CPIX_WHY_MAX]) {
  struct cpix_reply *r = calloc(1, sizeof(*r));
  size_t len;
  char *xml = slurp("reply_encrypted.xml", &len);
  enc_setup(e);
  int rc = cpix_reply_parse(&e->q, xml, len, r, why);
  free(xml);
  if (rc)
    fail_msg("reply_encrypted.xml: %d %s", rc, why);
  return r;
}

static void enc_done(struct enc *e, struct cpix_reply *r) {
  mbedtls_pk_free(&e->pk);
  free(r);
}

static void test_parse_encrypted(void **state) {
  (void)state;
  struct enc e;
  char why[CPIX_WHY_MAX];
  struct cpix_reply *r = enc_parse(&e, why);
  assert_int_equal(r->encrypted, 1);
  assert_int_equal(r->doc_key_enc_len, 256);
  assert_int_equal(r->mac_key_enc_len, 256);
  uint8_t zero[16] = {0};
  assert_memory_equal(r->keys[0].key, zero, 16); /* not known before the decryption */
  int rc = cpix_reply_decrypt(r, &e.pk, test_rng, &e.rng, why);
  if (rc)
    fail_msg("%d %s", rc, why);
  assert_int_equal(r->encrypted, 0);
  for (int i = 0; i < 2; i++) {
    uint8_t key[16];
    key_of(i, key);
    assert_memory_equal(r->keys[i].key, key, 16);
    check_pssh(&r->keys[i], e.q.kid[i]);
  }
  /* once decrypted, nothing is left to decrypt */
  assert_int_equal(cpix_reply_decrypt(r, &e.pk, test_rng, &e.rng, why), -EINVAL);
  enc_done(&e, r);
}

/* The fixture's own document and MAC keys (make_fixtures.py): to re-wrap a key. */
static void wrap(const uint8_t plain[32], const uint8_t iv[16], struct cpix_key *k) {
  uint8_t doc_key[32], mac_key[64], ivc[16];
  for (int i = 0; i < 32; i++)
    doc_key[i] = (uint8_t)(0x40 + i);
  for (int i = 0; i < 64; i++)
    mac_key[i] = (uint8_t)(0x80 + i);
  mbedtls_aes_context aes;
  mbedtls_aes_init(&aes);
  assert_int_equal(mbedtls_aes_setkey_enc(&aes, doc_key, 256), 0);
  memcpy(ivc, iv, 16);
  memcpy(k->wrapped, iv, 16);
  assert_int_equal(
      mbedtls_aes_crypt_cbc(&aes, MBEDTLS_AES_ENCRYPT, 32, ivc, plain, k->wrapped + 16), 0);
  mbedtls_aes_free(&aes);
  assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA512), mac_key, 64,
                                   k->wrapped, CPIX_WRAPPED_LEN, k->mac),
                   0);
}

/* How a decryption case changes the parsed reply_encrypted.xml (T_REWRAP_OK: it does not
 * break it), and the reason the decryption must then fail with (-AMP_EPROTO). */
enum tamper { T_MAC, T_CIPHER, T_PADDING, T_DOCKEY, T_MACKEY, T_REWRAP_OK };
static const struct decrypt_case {
  const char *name;
  enum tamper t;
  const char *why;
} decrypt_cases[] = {
    {"rewrap ok", T_REWRAP_OK, NULL},
    {"mac", T_MAC, "ValueMAC does not match"},
    {"cipher", T_CIPHER, "ValueMAC does not match"}, /* the MAC is checked first */
    {"padding", T_PADDING, "padding"},
    {"document key", T_DOCKEY, "DocumentKey does not decrypt"},
    {"mac key", T_MACKEY, "MAC key does not decrypt"},
};

/* One row of decrypt_cases: a failure names it. */
static void decrypt_case(const struct decrypt_case *c) {
  struct enc e;
  char why[CPIX_WHY_MAX];
  struct cpix_reply *r = enc_parse(&e, why);
  uint8_t plain[32], iv[16];
  memset(iv, 0x77, 16);
  key_of(1, plain);
  memset(plain + 16, 0x10, 16);
  switch (c->t) {
  case T_MAC:
    r->keys[1].mac[63] ^= 1;
    break;
  case T_CIPHER:
    r->keys[1].wrapped[20] ^= 0x80;
    break;
  case T_PADDING: /* a valid MAC over a ciphertext whose padding is wrong */
    plain[31] = 0x0f;
    wrap(plain, iv, &r->keys[1]);
    break;
  case T_DOCKEY:
    r->doc_key_enc[100] ^= 1;
    break;
  case T_MACKEY:
    r->mac_key_enc_len = 255;
    break;
  case T_REWRAP_OK: /* the test's own wrapping decrypts: the case above can fail */
    wrap(plain, iv, &r->keys[1]);
    break;
  }
  int rc = cpix_reply_decrypt(r, &e.pk, test_rng, &e.rng, why);
  uint8_t zero[16] = {0}, key[16];
  key_of(1, key);
  if (c->t == T_REWRAP_OK) {
    if (rc || memcmp(r->keys[1].key, key, 16) != 0)
      fail_msg("%s: %d '%s', the key %s", c->name, rc, why,
               memcmp(r->keys[1].key, key, 16) ? "wrong" : "right");
  } else {
    if (rc != -AMP_EPROTO || !strstr(why, c->why))
      fail_msg("%s: got %d '%s', want %d '%s'", c->name, rc, why, -AMP_EPROTO, c->why);
    if (r->encrypted != 1 || memcmp(r->keys[0].key, zero, 16) != 0) /* no key set on failure */
      fail_msg("%s: the reply changed though the decryption failed", c->name);
  }
  if (strstr(why, KEY_S[0])) /* no key material in the reason */
    fail_msg("%s: the reason '%s' holds a key", c->name, why);
  enc_done(&e, r);
}

/* Every row of decrypt_cases. */
static void test_decrypt_errors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof(decrypt_cases) / sizeof(decrypt_cases[0]); i++)
    decrypt_case(&decrypt_cases[i]);
}

/* How a lying reply is made: from reply_clear.xml, reply_encrypted.xml or nothing at all,
 * as it is or with one thing changed (EDIT: the first a replaced by b; CUT: from the first
 * a up to and including the first b after it, removed). */
enum lie_from { CLEAR, ENCRYPTED, NOTHING };
enum lie_op { AS_IS, EDIT, CUT };
#define KID_ATTR(kid) "kid=\"" kid "\" commonEncryptionScheme"
#define WV1 "AAAAQnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAA" /* the first line of KID 1's box */
#define PLAIN1 "PlainValue>P4ocXnudL0Bho8Xn+bHT5Q=="   /* a content key's value */

struct lie {
  const char *name;
  enum lie_from from;
  enum lie_op op;
  const char *a, *b;
  int cert;        /* the request asks for encryption */
  const char *why; /* parse fails with -AMP_EPROTO, the reason holding this */
};

static const struct lie lies[] = {
    /* a KID not asked for (the ContentKey of the second KID names another) */
    {"kid", CLEAR, EDIT, KID_ATTR(KID1), KID_ATTR(OTHER_KID), 0, "which was not asked for"},
    /* a DRMSystem for a KID not asked for */
    {"drm kid", CLEAR, EDIT, "DRMSystem kid=\"" KID0 "\"", "DRMSystem kid=\"" OTHER_KID "\"", 0,
     "DRMSystem for KID"},
    /* a missing key: the second ContentKey removed */
    {"missing key", CLEAR, CUT, "<cpix:ContentKey kid=\"" KID1 "\"", "</cpix:ContentKey>", 0,
     "no ContentKey for KID 1d9b5f03"},
    /* the same ContentKey twice */
    {"twice", CLEAR, EDIT, KID_ATTR(KID1), KID_ATTR(KID0), 0, "ContentKey for one KID twice"},
    /* a 15-byte key, and a 17-byte one */
    {"short key", CLEAR, EDIT, PLAIN1, "PlainValue>P4ocXnudL0Bho8Xn+bHT", 0,
     "content key is 15 bytes, want 16"},
    {"long key", CLEAR, EDIT, PLAIN1, "PlainValue>P4ocXnudL0Bho8Xn+bHT5QAA", 0,
     "content key is over 16 bytes"},
    {"b64", CLEAR, EDIT, PLAIN1, "PlainValue>P4oc*nudL0Bho8Xn+bHT5Q==", 0,
     "content key is not base64"},
    {"no value", CLEAR, CUT, "<pskc:PlainValue>", "</pskc:PlainValue>", 0, "without a PlainValue"},
    {"two values", CLEAR, EDIT, "<pskc:PlainValue>",
     "<pskc:PlainValue>AAAAAAAAAAAAAAAAAAAAAA==</pskc:PlainValue><pskc:PlainValue>", 0,
     "PlainValue twice"},
    /* bad PSSH boxes: undersized, cut short, of another KID, a missing one */
    {"undersized pssh", CLEAR, EDIT,
     WV1 "\n        ACISEHosTmELPU9YmhfG4tjwobMiDmNwaXgtZml4\n        dHVyZS0x",
     "AAAAEHBzc2gAAAAA7e+LqQ==", 0, "Widevine PSSH is not a whole pssh box"},
    {"pssh size", CLEAR, EDIT, WV1, "AAAAQ3Bzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAA", 0,
     "Widevine PSSH is not a whole pssh box"},
    {"pssh type", CLEAR, EDIT, WV1, "AAAAQnBzc2kAAAAA7e+LqXnWSs6jyCfc1R0h7QAA", 0,
     "Widevine PSSH is not a whole pssh box"},
    {"pssh system", CLEAR, EDIT, WV1, "AAAAQnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7AAA", 0,
     "Widevine PSSH is not a whole pssh box"},
    {"pssh not base64", CLEAR, EDIT, WV1, "AAAAQnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7Q!!", 0,
     "PSSH is not base64"},
    {"no common pssh", CLEAR, CUT, "<cpix:DRMSystem kid=\"" KID1 "\" systemId=\"1077efec",
     "</cpix:DRMSystem>", 0, "no common PSSH for KID 1d9b5f03"},
    {"no PSSH element", CLEAR, CUT, "<cpix:PSSH>", "</cpix:PSSH>", 0, "DRMSystem without PSSH"},
    /* another document */
    {"contentId", CLEAR, EDIT, "contentId=\"cpix-fixture-1\"", "contentId=\"cpix-fixture-2\"", 0,
     "another contentId"},
    {"no contentId", CLEAR, EDIT, "contentId=\"cpix-fixture-1\"", "", 0, "another contentId"},
    {"version", CLEAR, EDIT, "version=\"2.3\"", "version=\"2.4\"", 0, "not CPIX 2.3"},
    {"version line", CLEAR, EDIT, "version=\"2.3\"", "version=\"2.3&#10;x\"", 0, "not CPIX 2.3"},
    {"namespace", CLEAR, EDIT, "xmlns:cpix=\"urn:dashif:org:cpix\"",
     "xmlns:cpix=\"urn:dashif:org:cpix2\"", 0, "not a CPIX document"},
    {"scheme", CLEAR, EDIT, "commonEncryptionScheme=\"cenc\"", "commonEncryptionScheme=\"cbcs\"", 0,
     "scheme is not the cenc"},
    {"no list", CLEAR, CUT, "<cpix:DRMSystemList>", "</cpix:DRMSystemList>", 0,
     "CPIX without DRMSystemList"},
    /* XML that is not a plain document */
    {"malformed", CLEAR, EDIT, "</cpix:CPIX>", "</cpix:CPI>", 0, "not well-formed XML"},
    {"doctype", CLEAR, EDIT, "<cpix:CPIX ",
     "<!DOCTYPE cpix:CPIX [<!ENTITY k \"AAAA\">]>\n<cpix:CPIX ", 0, "DOCTYPE"},
    {"entity", CLEAR, EDIT, "<cpix:CPIX ",
     "<!DOCTYPE x SYSTEM \"https://127.0.0.1:1/x.dtd\">\n<cpix:CPIX ", 0, "DOCTYPE"},
    {"empty", NOTHING, AS_IS, NULL, NULL, 0, "empty reply"},
    /* the encryption asked for and not used, or used and not asked for */
    {"clear for cert", CLEAR, AS_IS, NULL, NULL, 1,
     "in the clear, though encryption was asked for"},
    {"encrypted for clear", ENCRYPTED, AS_IS, NULL, NULL, 0, "without a PlainValue"},
    {"no DocumentKey", ENCRYPTED, CUT, "<cpix:DocumentKey", "</cpix:DocumentKey>", 1,
     "DeliveryData without DocumentKey"},
    {"no MACMethod", ENCRYPTED, CUT, "<cpix:MACMethod", "</cpix:MACMethod>", 1,
     "DeliveryData without MACMethod"},
    {"MAC algorithm", ENCRYPTED, EDIT, "xmldsig-more#hmac-sha512", "xmldsig-more#hmac-sha256", 1,
     "MACMethod@Algorithm is not hmac-sha512"},
    {"key algorithm", ENCRYPTED, EDIT, "rsa-oaep-mgf1p", "rsa-1_5", 1, "EncryptionMethod is not"},
    {"no ValueMAC", ENCRYPTED, CUT, "<pskc:ValueMAC>", "</pskc:ValueMAC>", 1,
     "ContentKey without ValueMAC"},
    {"short MAC", ENCRYPTED, EDIT, "<pskc:ValueMAC>", "<pskc:ValueMAC>AAAA", 1,
     "ValueMAC is over 64 bytes"},
};

/* A reply that lies (l made from the fixtures clear and enc): parse fails with
 * -AMP_EPROTO, why holds l->why, and the ret struct is untouched. A failure names l. */
static void lie(const struct lie *l, const char *clear, const char *enc) {
  const char *fixture = l->from == NOTHING ? "" : l->from == ENCRYPTED ? enc : clear;
  char *xml = l->op == CUT    ? cut(l->name, fixture, l->a, l->b)
              : l->op == EDIT ? edit(l->name, fixture, l->a, l->b)
                              : NULL;
  struct cpix_request q;
  struct enc e;
  struct cpix_reply *r = malloc(sizeof(*r));
  char why[CPIX_WHY_MAX];
  memset(r, 0xa5, sizeof(*r));
  if (l->cert) {
    enc_setup(&e);
    q = e.q;
    mbedtls_pk_free(&e.pk);
  } else {
    request(&q, 0, NULL, 0);
  }
  const char *x = xml ? xml : fixture;
  int rc = cpix_reply_parse(&q, x, strlen(x), r, why);
  if (rc != -AMP_EPROTO || !strstr(why, l->why))
    fail_msg("%s: got %d '%s', want %d '%s'", l->name, rc, why, -AMP_EPROTO, l->why);
  assert_true(strlen(why) < CPIX_WHY_MAX && !strchr(why, '\n'));
  for (size_t i = 0; i < sizeof(*r); i++)
    if (((uint8_t *)r)[i] != 0xa5)
      fail_msg("%s: ret touched at %zu", l->name, i);
  free(r);
  free(xml);
}

/* Every row of lies[]; and the bound on the whole reply. */
static void test_reply_lies(void **state) {
  (void)state;
  size_t len, elen;
  char *x = slurp("reply_clear.xml", &len), *enc = slurp("reply_encrypted.xml", &elen);
  for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++)
    lie(&lies[i], x, enc);
  struct cpix_request q;
  struct cpix_reply *r = malloc(sizeof(*r));
  char why[CPIX_WHY_MAX];
  request(&q, 0, NULL, 0);
  assert_int_equal(cpix_reply_parse(&q, x, CPIX_REPLY_MAX + 1, r, why), -AMP_ETOOBIG);
  free(r);
  free(x);
  free(enc);
}

static void test_pssh_check(void **state) {
  (void)state;
  uint8_t kid[16], other[16], box[64] = {0};
  kid_of(0, kid);
  kid_of(1, other);
  /* v1 common: 32 + 16 + 4 = 52 bytes */
  box[3] = 52;
  memcpy(box + 4, "pssh", 4);
  box[8] = 1;
  memcpy(box + 12, CPIX_SYSTEM_ID[CPIX_COMMON], 16);
  box[31] = 1;
  memcpy(box + 32, kid, 16);
  assert_int_equal(cpix_pssh_check(box, 52, CPIX_SYSTEM_ID[CPIX_COMMON], kid), 0);
  assert_int_equal(cpix_pssh_check(box, 52, CPIX_SYSTEM_ID[CPIX_COMMON], other), -AMP_EPROTO);
  assert_int_equal(cpix_pssh_check(box, 52, CPIX_SYSTEM_ID[CPIX_WIDEVINE], kid), -AMP_EPROTO);
  assert_int_equal(cpix_pssh_check(box, 51, CPIX_SYSTEM_ID[CPIX_COMMON], kid), -AMP_EPROTO);
  box[31] = 2; /* two KIDs claimed, room for one */
  assert_int_equal(cpix_pssh_check(box, 52, CPIX_SYSTEM_ID[CPIX_COMMON], kid), -AMP_EPROTO);
  box[31] = 1;
  box[51] = 1; /* a data size past the end */
  assert_int_equal(cpix_pssh_check(box, 52, CPIX_SYSTEM_ID[CPIX_COMMON], kid), -AMP_EPROTO);
  box[51] = 0;
  box[8] = 2; /* version 2 */
  assert_int_equal(cpix_pssh_check(box, 52, CPIX_SYSTEM_ID[CPIX_COMMON], kid), -AMP_EPROTO);
  box[8] = 1;
  box[11] = 1; /* flags */
  assert_int_equal(cpix_pssh_check(box, 52, CPIX_SYSTEM_ID[CPIX_COMMON], kid), -AMP_EPROTO);
  /* v0: the KID must be inside the data */
  memset(box, 0, sizeof(box));
  box[3] = 50;
  memcpy(box + 4, "pssh", 4);
  memcpy(box + 12, CPIX_SYSTEM_ID[CPIX_WIDEVINE], 16);
  box[31] = 18;
  box[32] = 0x12;
  box[33] = 0x10;
  memcpy(box + 34, kid, 16);
  assert_int_equal(cpix_pssh_check(box, 50, CPIX_SYSTEM_ID[CPIX_WIDEVINE], kid), 0);
  assert_int_equal(cpix_pssh_check(box, 50, CPIX_SYSTEM_ID[CPIX_WIDEVINE], other), -AMP_EPROTO);
  assert_int_equal(cpix_pssh_check(box, 31, CPIX_SYSTEM_ID[CPIX_WIDEVINE], kid), -AMP_EPROTO);
}

static void test_sanitise(void **state) {
  (void)state;
  char out[SPEKE_MESSAGE_MAX + 1];
  const char msg[] = "KID x belongs \x1b[31mto\x7f another\r\nsecond line";
  speke_sanitise((const uint8_t *)msg, sizeof(msg) - 1, out, sizeof(out));
  assert_string_equal(out, "KID x belongs ?[31mto? another");
  uint8_t big[1000];
  memset(big, 'a', sizeof(big));
  speke_sanitise(big, sizeof(big), out, sizeof(out));
  assert_int_equal(strlen(out), SPEKE_MESSAGE_MAX);
  char small[8];
  speke_sanitise(big, sizeof(big), small, sizeof(small));
  assert_int_equal(strlen(small), 7);
  speke_sanitise(NULL, 0, out, sizeof(out));
  assert_string_equal(out, "");
}

static void test_read_cert(void **state) {
  (void)state;
  char path[1024];
  uint8_t der[CPIX_CERT_MAX];
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/delivery.pem", CPIX_DATA_DIR);
  assert_int_equal(speke_read_cert(path, der, sizeof(der), &len), 0);
  assert_true(len > 600 && len < 1500);
  assert_int_equal(der[0], 0x30); /* a DER SEQUENCE */
  assert_int_equal(speke_read_cert(path, der, 100, &len), -AMP_ETOOBIG);
  snprintf(path, sizeof(path), "%s/delivery.key", CPIX_DATA_DIR); /* no CERTIFICATE block */
  assert_int_equal(speke_read_cert(path, der, sizeof(der), &len), -EINVAL);
  assert_int_equal(speke_read_cert("/nonexistent/x.pem", der, sizeof(der), &len), -ENOENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_writer),         cmocka_unit_test(test_writer_certificate),
      cmocka_unit_test(test_writer_refuses), cmocka_unit_test(test_parse_clear),
      cmocka_unit_test(test_parse_prefixes), cmocka_unit_test(test_parse_encrypted),
      cmocka_unit_test(test_decrypt_errors), cmocka_unit_test(test_reply_lies),
      cmocka_unit_test(test_pssh_check),     cmocka_unit_test(test_sanitise),
      cmocka_unit_test(test_read_cert),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  xmlCleanupParser();
  return r;
}
