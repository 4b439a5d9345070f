/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ampack's CPIX 2.3 request writer and reply parser (tools/ampack/cpix.h), and the pure
 * parts of its SPEKE client (tools/ampack/speke.h). The replies are the fixtures of
 * tests/data/cpix/ (made by make_fixtures.py in the shape of the CPIX examples, for the
 * KIDs and keys below; reply_encrypted.xml for the throwaway pair delivery.pem/.key),
 * and every error path is one of them with one thing changed.
 */
#include <errno.h>
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
static const char *const KID_S[2] = {"7a2c4e61-0b3d-4f58-9a17-c6e2d8f0a1b3",
                                     "1d9b5f03-6e2a-4c71-b8d4-0f3e7a9c2b56"};
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

/* Replace the first occurrence of from in s (which must hold it) by to: a new string. */
static char *edit(const char *s, const char *from, const char *to) {
  const char *at = strstr(s, from);
  if (!at)
    fail_msg("fixture lacks '%s'", from);
  size_t a = (size_t)(at - s), fl = strlen(from), tl = strlen(to), n = strlen(s);
  char *out = malloc(n - fl + tl + 1);
  assert_non_null(out);
  memcpy(out, s, a);
  memcpy(out + a, to, tl);
  memcpy(out + a + tl, at + fl, n - a - fl + 1);
  return out;
}

/* Remove from the first "<from" up to and including the first "until" after it. */
static char *cut(const char *s, const char *from, const char *until) {
  const char *a = strstr(s, from);
  assert_non_null(a);
  const char *b = strstr(a, until);
  assert_non_null(b);
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

static void test_parse_encrypted(void **state) {
  (void)state;
  struct enc e;
  struct cpix_reply *r = calloc(1, sizeof(*r));
  char why[CPIX_WHY_MAX];
  size_t len;
  char *xml = slurp("reply_encrypted.xml", &len);
  enc_setup(&e);
  int rc = cpix_reply_parse(&e.q, xml, len, r, why);
  if (rc)
    fail_msg("%d %s", rc, why);
  assert_int_equal(r->encrypted, 1);
  assert_int_equal(r->doc_key_enc_len, 256);
  assert_int_equal(r->mac_key_enc_len, 256);
  uint8_t zero[16] = {0};
  assert_memory_equal(r->keys[0].key, zero, 16); /* not known before the decryption */
  rc = cpix_reply_decrypt(r, &e.pk, test_rng, &e.rng, why);
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
  mbedtls_pk_free(&e.pk);
  free(xml);
  free(r);
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

enum tamper { T_MAC, T_CIPHER, T_PADDING, T_DOCKEY, T_MACKEY, T_REWRAP_OK };

static void decrypt_case(enum tamper t, const char *want_why) {
  struct enc e;
  struct cpix_reply *r = calloc(1, sizeof(*r));
  char why[CPIX_WHY_MAX];
  size_t len;
  char *xml = slurp("reply_encrypted.xml", &len);
  enc_setup(&e);
  assert_int_equal(cpix_reply_parse(&e.q, xml, len, r, why), 0);
  uint8_t plain[32], iv[16];
  memset(iv, 0x77, 16);
  key_of(1, plain);
  memset(plain + 16, 0x10, 16);
  switch (t) {
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
  if (t == T_REWRAP_OK) {
    assert_int_equal(rc, 0);
    key_of(1, key);
    assert_memory_equal(r->keys[1].key, key, 16);
  } else {
    assert_int_equal(rc, -AMP_EPROTO);
    if (!strstr(why, want_why))
      fail_msg("why '%s', want '%s'", why, want_why);
    assert_int_equal(r->encrypted, 1);
    assert_memory_equal(r->keys[0].key, zero, 16); /* no key set on failure */
  }
  assert_null(strstr(why, KEY_S[0])); /* no key material in the reason */
  mbedtls_pk_free(&e.pk);
  free(xml);
  free(r);
}

static void test_decrypt_errors(void **state) {
  (void)state;
  decrypt_case(T_REWRAP_OK, NULL);
  decrypt_case(T_MAC, "ValueMAC does not match");
  decrypt_case(T_CIPHER, "ValueMAC does not match"); /* the MAC is checked first */
  decrypt_case(T_PADDING, "padding");
  decrypt_case(T_DOCKEY, "DocumentKey does not decrypt");
  decrypt_case(T_MACKEY, "MAC key does not decrypt");
}

/* A reply that lies: parse fails with -AMP_EPROTO (or want_err), why holds want_why, and
 * the ret struct is untouched. */
static void lie(const char *file, const char *xml, int cert, int want_err, const char *want_why) {
  struct cpix_request q;
  struct enc e;
  struct cpix_reply *r = malloc(sizeof(*r));
  char why[CPIX_WHY_MAX];
  memset(r, 0xa5, sizeof(*r));
  if (cert) {
    enc_setup(&e);
    q = e.q;
    mbedtls_pk_free(&e.pk);
  } else {
    request(&q, 0, NULL, 0);
  }
  int rc = cpix_reply_parse(&q, xml, strlen(xml), r, why);
  if (rc != want_err || !strstr(why, want_why))
    fail_msg("%s: got %d '%s', want %d '%s'", file, rc, why, want_err, want_why);
  assert_true(strlen(why) < CPIX_WHY_MAX && !strchr(why, '\n'));
  for (size_t i = 0; i < sizeof(*r); i++)
    if (((uint8_t *)r)[i] != 0xa5)
      fail_msg("%s: ret touched at %zu", file, i);
  free(r);
}

static void test_reply_lies(void **state) {
  (void)state;
  size_t len, elen;
  char *x = slurp("reply_clear.xml", &len), *enc = slurp("reply_encrypted.xml", &elen), *m;
  char kid_attr[96], other[96];
  snprintf(kid_attr, sizeof(kid_attr), "kid=\"%s\" commonEncryptionScheme", KID_S[1]);
  snprintf(other, sizeof(other), "kid=\"%s\" commonEncryptionScheme", OTHER_KID);

  /* a KID not asked for (the ContentKey of the second KID names another) */
  lie("kid", m = edit(x, kid_attr, other), 0, -AMP_EPROTO, "which was not asked for");
  free(m);
  /* a DRMSystem for a KID not asked for */
  char drm[80], drm_other[80];
  snprintf(drm, sizeof(drm), "DRMSystem kid=\"%s\"", KID_S[0]);
  snprintf(drm_other, sizeof(drm_other), "DRMSystem kid=\"%s\"", OTHER_KID);
  lie("drm kid", m = edit(x, drm, drm_other), 0, -AMP_EPROTO, "DRMSystem for KID");
  free(m);
  /* a missing key: the second ContentKey removed */
  char from[80];
  snprintf(from, sizeof(from), "<cpix:ContentKey kid=\"%s\"", KID_S[1]);
  lie("missing key", m = cut(x, from, "</cpix:ContentKey>"), 0, -AMP_EPROTO,
      "no ContentKey for KID 1d9b5f03");
  free(m);
  /* the same ContentKey twice */
  snprintf(other, sizeof(other), "kid=\"%s\" commonEncryptionScheme", KID_S[0]);
  lie("twice", m = edit(x, kid_attr, other), 0, -AMP_EPROTO, "ContentKey for one KID twice");
  free(m);
  /* a 15-byte key, and a 17-byte one */
  lie("short key",
      m = edit(x, "PlainValue>P4ocXnudL0Bho8Xn+bHT5Q==", "PlainValue>P4ocXnudL0Bho8Xn+bHT"), 0,
      -AMP_EPROTO, "content key is 15 bytes, want 16");
  free(m);
  lie("long key",
      m = edit(x, "PlainValue>P4ocXnudL0Bho8Xn+bHT5Q==", "PlainValue>P4ocXnudL0Bho8Xn+bHT5QAA"), 0,
      -AMP_EPROTO, "content key is over 16 bytes");
  free(m);
  lie("b64",
      m = edit(x, "PlainValue>P4ocXnudL0Bho8Xn+bHT5Q==", "PlainValue>P4oc*nudL0Bho8Xn+bHT5Q=="), 0,
      -AMP_EPROTO, "content key is not base64");
  free(m);
  lie("no value", m = cut(x, "<pskc:PlainValue>", "</pskc:PlainValue>"), 0, -AMP_EPROTO,
      "without a PlainValue");
  free(m);
  lie("two values",
      m = edit(x, "<pskc:PlainValue>",
               "<pskc:PlainValue>AAAAAAAAAAAAAAAAAAAAAA==</pskc:PlainValue><pskc:PlainValue>"),
      0, -AMP_EPROTO, "PlainValue twice");
  free(m);
  /* bad PSSH boxes: undersized, cut short, of another KID, a missing one */
  const char *wv1 = "AAAAQnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAA"; /* the first line of KID 1's box */
  lie("undersized pssh",
      m = edit(x,
               "AAAAQnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAA\n        "
               "ACISEHosTmELPU9YmhfG4tjwobMiDmNwaXgtZml4\n        dHVyZS0x",
               "AAAAEHBzc2gAAAAA7e+LqQ=="),
      0, -AMP_EPROTO, "Widevine PSSH is not a whole pssh box");
  free(m);
  lie("pssh size", m = edit(x, wv1, "AAAAQ3Bzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7QAA"), 0, -AMP_EPROTO,
      "Widevine PSSH is not a whole pssh box");
  free(m);
  lie("pssh type", m = edit(x, wv1, "AAAAQnBzc2kAAAAA7e+LqXnWSs6jyCfc1R0h7QAA"), 0, -AMP_EPROTO,
      "Widevine PSSH is not a whole pssh box");
  free(m);
  lie("pssh system", m = edit(x, wv1, "AAAAQnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7AAA"), 0, -AMP_EPROTO,
      "Widevine PSSH is not a whole pssh box");
  free(m);
  lie("pssh not base64", m = edit(x, wv1, "AAAAQnBzc2gAAAAA7e+LqXnWSs6jyCfc1R0h7Q!!"), 0,
      -AMP_EPROTO, "PSSH is not base64");
  free(m);
  snprintf(from, sizeof(from), "<cpix:DRMSystem kid=\"%s\" systemId=\"1077efec", KID_S[1]);
  lie("no common pssh", m = cut(x, from, "</cpix:DRMSystem>"), 0, -AMP_EPROTO,
      "no common PSSH for KID 1d9b5f03");
  free(m);
  lie("no PSSH element", m = cut(x, "<cpix:PSSH>", "</cpix:PSSH>"), 0, -AMP_EPROTO,
      "DRMSystem without PSSH");
  free(m);
  /* another document */
  lie("contentId", m = edit(x, "contentId=\"cpix-fixture-1\"", "contentId=\"cpix-fixture-2\""), 0,
      -AMP_EPROTO, "another contentId");
  free(m);
  lie("no contentId", m = edit(x, "contentId=\"cpix-fixture-1\"", ""), 0, -AMP_EPROTO,
      "another contentId");
  free(m);
  lie("version", m = edit(x, "version=\"2.3\"", "version=\"2.4\""), 0, -AMP_EPROTO, "not CPIX 2.3");
  free(m);
  lie("version line", m = edit(x, "version=\"2.3\"", "version=\"2.3&#10;x\""), 0, -AMP_EPROTO,
      "not CPIX 2.3");
  free(m);
  lie("namespace",
      m = edit(x, "xmlns:cpix=\"urn:dashif:org:cpix\"", "xmlns:cpix=\"urn:dashif:org:cpix2\""), 0,
      -AMP_EPROTO, "not a CPIX document");
  free(m);
  lie("scheme", m = edit(x, "commonEncryptionScheme=\"cenc\"", "commonEncryptionScheme=\"cbcs\""),
      0, -AMP_EPROTO, "scheme is not the cenc");
  free(m);
  lie("no list", m = cut(x, "<cpix:DRMSystemList>", "</cpix:DRMSystemList>"), 0, -AMP_EPROTO,
      "CPIX without DRMSystemList");
  free(m);
  /* XML that is not a plain document */
  lie("malformed", m = edit(x, "</cpix:CPIX>", "</cpix:CPI>"), 0, -AMP_EPROTO,
      "not well-formed XML");
  free(m);
  lie("doctype",
      m = edit(x, "<cpix:CPIX ", "<!DOCTYPE cpix:CPIX [<!ENTITY k \"AAAA\">]>\n<cpix:CPIX "), 0,
      -AMP_EPROTO, "DOCTYPE");
  free(m);
  lie("entity",
      m = edit(x, "<cpix:CPIX ", "<!DOCTYPE x SYSTEM \"https://127.0.0.1:1/x.dtd\">\n<cpix:CPIX "),
      0, -AMP_EPROTO, "DOCTYPE");
  free(m);
  lie("empty", "", 0, -AMP_EPROTO, "empty reply");
  /* the encryption asked for and not used, or used and not asked for */
  lie("clear for cert", x, 1, -AMP_EPROTO, "in the clear, though encryption was asked for");
  lie("encrypted for clear", enc, 0, -AMP_EPROTO, "without a PlainValue");
  lie("no DocumentKey", m = cut(enc, "<cpix:DocumentKey", "</cpix:DocumentKey>"), 1, -AMP_EPROTO,
      "DeliveryData without DocumentKey");
  free(m);
  lie("no MACMethod", m = cut(enc, "<cpix:MACMethod", "</cpix:MACMethod>"), 1, -AMP_EPROTO,
      "DeliveryData without MACMethod");
  free(m);
  lie("MAC algorithm", m = edit(enc, "xmldsig-more#hmac-sha512", "xmldsig-more#hmac-sha256"), 1,
      -AMP_EPROTO, "MACMethod@Algorithm is not hmac-sha512");
  free(m);
  lie("key algorithm", m = edit(enc, "rsa-oaep-mgf1p", "rsa-1_5"), 1, -AMP_EPROTO,
      "EncryptionMethod is not");
  free(m);
  lie("no ValueMAC", m = cut(enc, "<pskc:ValueMAC>", "</pskc:ValueMAC>"), 1, -AMP_EPROTO,
      "ContentKey without ValueMAC");
  free(m);
  lie("short MAC", m = edit(enc, "<pskc:ValueMAC>", "<pskc:ValueMAC>AAAA"), 1, -AMP_EPROTO,
      "ValueMAC is over 64 bytes");
  free(m);
  /* the bound on the whole reply */
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
