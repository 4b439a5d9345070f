/* SPDX-License-Identifier: Apache-2.0 */
#include "cpix.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <mbedtls/aes.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/rsa.h>

#include "core/b64.h"
#include "core/err.h"

const char CPIX_NS[] = "urn:dashif:org:cpix";
const char PSKC_NS[] = "urn:ietf:params:xml:ns:keyprov:pskc";
const char XMLENC_NS[] = "http://www.w3.org/2001/04/xmlenc#";
const char DSIG_NS[] = "http://www.w3.org/2000/09/xmldsig#";

static const char ALG_AES256CBC[] = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
static const char ALG_RSA_OAEP[] = "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p";
static const char ALG_HMAC512[] = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha512";

const uint8_t CPIX_SYSTEM_ID[CPIX_N_SYSTEMS][16] = {
    {0xed, 0xef, 0x8b, 0xa9, 0x79, 0xd6, 0x4a, 0xce, 0xa3, 0xc8, 0x27, 0xdc, 0xd5, 0x1d, 0x21,
     0xed},
    {0x10, 0x77, 0xef, 0xec, 0xc0, 0xb2, 0x4d, 0x02, 0xac, 0xe3, 0x3c, 0x1e, 0x52, 0xe2, 0xfb,
     0x4b},
};
static const char *const SYSTEM_NAME[CPIX_N_SYSTEMS] = {"Widevine", "common"};

#define UUID_LEN 36

static void uuid_of(const uint8_t id[16], char out[UUID_LEN + 1]) {
  char hex[33];
  hex_encode(id, 16, hex);
  snprintf(out, UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
           hex + 20);
}

/* Exactly the 8-4-4-4-12 form, either case. */
static int uuid_parse(const char *s, uint8_t out[16]) {
  if (strlen(s) != UUID_LEN)
    return -EINVAL;
  char hex[33];
  size_t n = 0;
  for (size_t i = 0; i < UUID_LEN; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (s[i] == '-'))
      return -EINVAL;
    if (!dash)
      hex[n++] = s[i];
  }
  hex[n] = 0;
  for (size_t i = 0; i < n; i++) /* hex_decode would skip a '-' */
    if (!strchr("0123456789abcdefABCDEF", hex[i]))
      return -EINVAL;
  return hex_decode(hex, out, 16);
}

static int content_id_ok(const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > CPIX_CONTENT_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f || strchr("<>&\"'", s[i]))
      return 0;
  return 1;
}

static int request_ok(const struct cpix_request *q) {
  if (!q || !content_id_ok(q->content_id) || q->n_keys == 0 || q->n_keys > CPIX_MAX_KEYS ||
      q->max_channels == 0 || q->max_channels > 64)
    return 0;
  if (q->cert_der && (q->cert_len == 0 || q->cert_len > CPIX_CERT_MAX))
    return 0;
  for (size_t i = 0; i < q->n_keys; i++)
    for (size_t j = 0; j < i; j++)
      if (!memcmp(q->kid[i], q->kid[j], 16))
        return 0;
  return 1;
}

/* ---- the request -------------------------------------------------------------------- */

struct wr {
  xmlDocPtr doc;
  xmlNsPtr cpix;
  bool oom;
};

static xmlNodePtr add(struct wr *w, xmlNodePtr parent, xmlNsPtr ns, const char *name,
                      const char *text) {
  if (w->oom || !parent)
    return NULL;
  xmlNodePtr n = xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text);
  if (!n)
    w->oom = true;
  return n;
}

static void attr(struct wr *w, xmlNodePtr n, const char *name, const char *value) {
  if (w->oom || !n)
    return;
  if (!xmlNewProp(n, (const xmlChar *)name, (const xmlChar *)value))
    w->oom = true;
}

int cpix_request_write(const struct cpix_request *q, struct buf *out) {
  if (!request_ok(q))
    return -EINVAL;
  struct wr w = {0};
  char uuid[UUID_LEN + 1], num[16], *cert = NULL;
  xmlChar *mem = NULL;
  int size = 0, r = 0;

  w.doc = xmlNewDoc((const xmlChar *)"1.0");
  xmlNodePtr root = w.doc ? xmlNewNode(NULL, (const xmlChar *)"CPIX") : NULL;
  if (!root) {
    r = -ENOMEM;
    goto out;
  }
  xmlDocSetRootElement(w.doc, root);
  w.cpix = xmlNewNs(root, (const xmlChar *)CPIX_NS, (const xmlChar *)"cpix");
  xmlNsPtr pskc = xmlNewNs(root, (const xmlChar *)PSKC_NS, (const xmlChar *)"pskc");
  if (!w.cpix || !pskc) {
    r = -ENOMEM;
    goto out;
  }
  xmlSetNs(root, w.cpix);
  attr(&w, root, "contentId", q->content_id);
  attr(&w, root, "version", "2.3");

  if (q->cert_der) {
    xmlNsPtr ds = xmlNewNs(root, (const xmlChar *)DSIG_NS, (const xmlChar *)"ds");
    cert = malloc(b64_encoded_len(q->cert_len, 0) + 1);
    if (!ds || !cert) {
      r = -ENOMEM;
      goto out;
    }
    b64_encode(q->cert_der, q->cert_len, cert, 0);
    xmlNodePtr dd =
        add(&w, add(&w, root, w.cpix, "DeliveryDataList", NULL), w.cpix, "DeliveryData", NULL);
    attr(&w, dd, "id", "ampack");
    xmlNodePtr dk = add(&w, dd, w.cpix, "DeliveryKey", NULL);
    add(&w, add(&w, dk, ds, "X509Data", NULL), ds, "X509Certificate", cert);
  }

  xmlNodePtr ckl = add(&w, root, w.cpix, "ContentKeyList", NULL);
  for (size_t i = 0; i < q->n_keys; i++) {
    uuid_of(q->kid[i], uuid);
    xmlNodePtr ck = add(&w, ckl, w.cpix, "ContentKey", NULL);
    attr(&w, ck, "kid", uuid);
    attr(&w, ck, "commonEncryptionScheme", "cenc");
  }
  xmlNodePtr dl = add(&w, root, w.cpix, "DRMSystemList", NULL);
  for (size_t i = 0; i < q->n_keys; i++) {
    uuid_of(q->kid[i], uuid);
    for (int s = 0; s < CPIX_N_SYSTEMS; s++) {
      char sys[UUID_LEN + 1];
      uuid_of(CPIX_SYSTEM_ID[s], sys);
      xmlNodePtr d = add(&w, dl, w.cpix, "DRMSystem", NULL);
      attr(&w, d, "kid", uuid);
      attr(&w, d, "systemId", sys);
      add(&w, d, w.cpix, "PSSH", NULL);
    }
  }
  snprintf(num, sizeof(num), "%u", (unsigned)q->max_channels);
  xmlNodePtr rl = add(&w, root, w.cpix, "ContentKeyUsageRuleList", NULL);
  for (size_t i = 0; i < q->n_keys; i++) {
    uuid_of(q->kid[i], uuid);
    xmlNodePtr rule = add(&w, rl, w.cpix, "ContentKeyUsageRule", NULL);
    attr(&w, rule, "kid", uuid);
    attr(&w, rule, "intendedTrackType", "AUDIO");
    xmlNodePtr af = add(&w, rule, w.cpix, "AudioFilter", NULL);
    attr(&w, af, "minChannels", "1");
    attr(&w, af, "maxChannels", num);
  }
  if (w.oom) {
    r = -ENOMEM;
    goto out;
  }
  xmlDocDumpFormatMemoryEnc(w.doc, &mem, &size, "UTF-8", 1);
  if (!mem || size <= 0) {
    r = -ENOMEM;
    goto out;
  }
  buf_reset(out);
  r = buf_append(out, mem, (size_t)size);
out:
  if (mem)
    xmlFree(mem);
  free(cert);
  if (w.doc)
    xmlFreeDoc(w.doc);
  return r;
}

/* ---- the reply ---------------------------------------------------------------------- */

struct rd {
  char *why;
  xmlChar *tmp; /* the last value read (freed at the next read and at the end) */
};

__attribute__((format(printf, 3, 4))) static int fail(struct rd *p, int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->why, CPIX_WHY_MAX, fmt, ap);
  va_end(ap);
  return err;
}

static bool is(const xmlNode *n, const char *ns, const char *name) {
  return n && n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
         !strcmp((const char *)n->ns->href, ns) && !strcmp((const char *)n->name, name);
}

/* The one child ns:name of parent, or NULL (*dup set when there are more). */
static xmlNode *one(const xmlNode *parent, const char *ns, const char *name, bool *dup) {
  xmlNode *found = NULL;
  for (xmlNode *c = parent ? parent->children : NULL; c; c = c->next)
    if (is(c, ns, name)) {
      if (found)
        *dup = true;
      found = c;
    }
  return found;
}

/* The child ns:name, exactly one, else an error naming it. */
static int need(struct rd *p, const xmlNode *parent, const char *ns, const char *name,
                const char *where, xmlNode **ret) {
  bool dup = false;
  xmlNode *n = one(parent, ns, name, &dup);
  if (dup)
    return fail(p, -AMP_EPROTO, "%s holds %s twice", where, name);
  if (!n)
    return fail(p, -AMP_EPROTO, "%s without %s", where, name);
  *ret = n;
  return 0;
}

/* An attribute (no namespace), bounded; NULL when absent. Valid until the next read. */
static int attr_of(struct rd *p, const xmlNode *n, const char *name, const char **ret) {
  xmlFree(p->tmp);
  p->tmp = xmlGetNoNsProp(n, (const xmlChar *)name);
  if (p->tmp && strlen((const char *)p->tmp) > CPIX_TEXT_MAX)
    return fail(p, -AMP_ETOOBIG, "%s@%s longer than %u bytes", (const char *)n->name, name,
                CPIX_TEXT_MAX);
  *ret = (const char *)p->tmp;
  return 0;
}

/* Base64 text content of n: exactly want bytes (exact), or 1..want bytes. */
static int b64_of(struct rd *p, const xmlNode *n, const char *what, uint8_t *out, size_t want,
                  bool exact, size_t *ret_len) {
  size_t tlen = 0;
  for (const xmlNode *c = n->children; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE)
      return fail(p, -AMP_EPROTO, "%s is not base64 text", what);
    if (c->type == XML_TEXT_NODE && c->content)
      tlen += strlen((const char *)c->content);
    if (tlen > CPIX_TEXT_MAX)
      return fail(p, -AMP_ETOOBIG, "%s longer than %u bytes", what, CPIX_TEXT_MAX);
  }
  xmlFree(p->tmp);
  p->tmp = xmlNodeGetContent(n);
  if (!p->tmp)
    return fail(p, -ENOMEM, "out of memory");
  size_t got = 0;
  int r = b64_decode((const char *)p->tmp, strlen((const char *)p->tmp), out, want, &got);
  if (r == -AMP_ETOOBIG)
    return fail(p, -AMP_EPROTO, "%s is over %zu bytes", what, want);
  if (r == 0 && exact && got != want)
    return fail(p, -AMP_EPROTO, "%s is %zu bytes, want %zu", what, got, want);
  if (r < 0)
    return fail(p, -AMP_EPROTO, "%s is not base64", what);
  if (got == 0)
    return fail(p, -AMP_EPROTO, "%s is empty", what);
  if (ret_len)
    *ret_len = got;
  return 0;
}

/* pskc:EncryptedValue with EncryptionMethod@Algorithm alg and CipherData/CipherValue. */
static int encrypted_value(struct rd *p, const xmlNode *parent, const char *where, const char *alg,
                           uint8_t *out, size_t max, bool exact, size_t *ret_len) {
  xmlNode *ev, *em, *cd, *cv;
  const char *a;
  int r = need(p, parent, PSKC_NS, "EncryptedValue", where, &ev);
  if (r == 0)
    r = need(p, ev, XMLENC_NS, "EncryptionMethod", where, &em);
  if (r == 0)
    r = attr_of(p, em, "Algorithm", &a);
  if (r == 0 && (!a || strcmp(a, alg)))
    r = fail(p, -AMP_EPROTO, "%s: EncryptionMethod is not %s", where, alg);
  if (r == 0)
    r = need(p, ev, XMLENC_NS, "CipherData", where, &cd);
  if (r == 0)
    r = need(p, cd, XMLENC_NS, "CipherValue", where, &cv);
  if (r == 0)
    r = b64_of(p, cv, where, out, max, exact, ret_len);
  return r;
}

int cpix_pssh_check(const uint8_t *box, size_t n, const uint8_t system_id[16],
                    const uint8_t kid[16]) {
  if (n < 32 || n > CPIX_PSSH_MAX)
    return -AMP_EPROTO;
  uint32_t size = (uint32_t)box[0] << 24 | (uint32_t)box[1] << 16 | (uint32_t)box[2] << 8 | box[3];
  if (size != n || memcmp(box + 4, "pssh", 4) || box[9] || box[10] || box[11] ||
      memcmp(box + 12, system_id, 16))
    return -AMP_EPROTO;
  uint8_t version = box[8];
  size_t pos = 28;
  bool named = false;
  if (version == 1) {
    uint32_t count =
        (uint32_t)box[28] << 24 | (uint32_t)box[29] << 16 | (uint32_t)box[30] << 8 | box[31];
    pos = 32;
    if (count == 0 || count > (n - pos) / 16)
      return -AMP_EPROTO;
    for (uint32_t i = 0; i < count; i++, pos += 16)
      named |= !memcmp(box + pos, kid, 16);
    if (!named)
      return -AMP_EPROTO;
  } else if (version != 0) {
    return -AMP_EPROTO;
  }
  if (n - pos < 4)
    return -AMP_EPROTO;
  uint32_t dlen = (uint32_t)box[pos] << 24 | (uint32_t)box[pos + 1] << 16 |
                  (uint32_t)box[pos + 2] << 8 | box[pos + 3];
  pos += 4;
  if (dlen != n - pos)
    return -AMP_EPROTO;
  for (size_t i = pos; !named && i + 16 <= n; i++) /* v0: the system's data holds the KID */
    named = !memcmp(box + i, kid, 16);
  return named ? 0 : -AMP_EPROTO;
}

static int find_kid(const struct cpix_request *q, const uint8_t kid[16]) {
  for (size_t i = 0; i < q->n_keys; i++)
    if (!memcmp(q->kid[i], kid, 16))
      return (int)i;
  return -1;
}

/* A kid attribute that the request named: its index. */
static int kid_attr(struct rd *p, const struct cpix_request *q, const xmlNode *n, const char *what,
                    int *ret) {
  const char *s;
  uint8_t kid[16];
  int r = attr_of(p, n, "kid", &s);
  if (r < 0)
    return r;
  if (!s || uuid_parse(s, kid) < 0)
    return fail(p, -AMP_EPROTO, "%s without a valid kid", what);
  int i = find_kid(q, kid);
  if (i < 0)
    return fail(p, -AMP_EPROTO, "%s for KID %.36s, which was not asked for", what, s);
  *ret = i;
  return 0;
}

static int parse_keys(struct rd *p, const struct cpix_request *q, const xmlNode *root,
                      struct cpix_reply *out) {
  xmlNode *ckl;
  bool seen[CPIX_MAX_KEYS] = {0};
  size_t n = 0;
  int r = need(p, root, CPIX_NS, "ContentKeyList", "CPIX", &ckl);
  for (xmlNode *c = r ? NULL : ckl->children; c && r == 0; c = c->next) {
    if (!is(c, CPIX_NS, "ContentKey"))
      continue;
    int i;
    const char *sch;
    xmlNode *data, *secret, *plain;
    if (++n > CPIX_MAX_KEYS)
      return fail(p, -AMP_ETOOBIG, "more than %d ContentKeys", CPIX_MAX_KEYS);
    if ((r = kid_attr(p, q, c, "ContentKey", &i)) < 0)
      return r;
    if (seen[i])
      return fail(p, -AMP_EPROTO, "ContentKey for one KID twice");
    seen[i] = true;
    struct cpix_key *k = &out->keys[i];
    memcpy(k->kid, q->kid[i], 16);
    if ((r = attr_of(p, c, "commonEncryptionScheme", &sch)) < 0)
      return r;
    if (sch && strcmp(sch, "cenc"))
      return fail(p, -AMP_EPROTO, "ContentKey scheme is not the cenc asked for");
    if ((r = need(p, c, CPIX_NS, "Data", "ContentKey", &data)) < 0 ||
        (r = need(p, data, PSKC_NS, "Secret", "ContentKey", &secret)) < 0)
      return r;
    bool dup = false;
    plain = one(secret, PSKC_NS, "PlainValue", &dup);
    if (dup)
      return fail(p, -AMP_EPROTO, "ContentKey holds PlainValue twice");
    if (q->cert_der) {
      xmlNode *mac;
      if (plain)
        return fail(p, -AMP_EPROTO, "a ContentKey in the clear, though encryption was asked for");
      r = encrypted_value(p, secret, "ContentKey", ALG_AES256CBC, k->wrapped, CPIX_WRAPPED_LEN,
                          true, NULL);
      if (r == 0)
        r = need(p, secret, PSKC_NS, "ValueMAC", "ContentKey", &mac);
      if (r == 0)
        r = b64_of(p, mac, "ValueMAC", k->mac, CPIX_MAC_LEN, true, NULL);
      if (r < 0)
        return r;
    } else {
      if (!plain)
        return fail(p, -AMP_EPROTO, "ContentKey without a PlainValue");
      if ((r = b64_of(p, plain, "content key", k->key, CPIX_KEY_LEN, true, NULL)) < 0)
        return r;
    }
  }
  if (r < 0)
    return r;
  for (size_t i = 0; i < q->n_keys; i++)
    if (!seen[i]) {
      char uuid[UUID_LEN + 1];
      uuid_of(q->kid[i], uuid);
      return fail(p, -AMP_EPROTO, "no ContentKey for KID %s", uuid);
    }
  return 0;
}

static int parse_drms(struct rd *p, const struct cpix_request *q, const xmlNode *root,
                      struct cpix_reply *out) {
  xmlNode *dl;
  size_t n = 0;
  int r = need(p, root, CPIX_NS, "DRMSystemList", "CPIX", &dl);
  for (xmlNode *c = r ? NULL : dl->children; c && r == 0; c = c->next) {
    if (!is(c, CPIX_NS, "DRMSystem"))
      continue;
    int i, s;
    const char *sid;
    uint8_t sys[16];
    xmlNode *ps;
    if (++n > CPIX_MAX_DRMSYSTEMS)
      return fail(p, -AMP_ETOOBIG, "more than %d DRMSystems", CPIX_MAX_DRMSYSTEMS);
    if ((r = kid_attr(p, q, c, "DRMSystem", &i)) < 0 || (r = attr_of(p, c, "systemId", &sid)) < 0)
      return r;
    if (!sid || uuid_parse(sid, sys) < 0)
      return fail(p, -AMP_EPROTO, "DRMSystem without a valid systemId");
    for (s = 0; s < CPIX_N_SYSTEMS && memcmp(sys, CPIX_SYSTEM_ID[s], 16); s++)
      ;
    if (s == CPIX_N_SYSTEMS)
      continue; /* a system not asked for: not ours to use */
    struct cpix_key *k = &out->keys[i];
    if (k->pssh_len[s])
      return fail(p, -AMP_EPROTO, "two %s DRMSystems for one KID", SYSTEM_NAME[s]);
    if ((r = need(p, c, CPIX_NS, "PSSH", "DRMSystem", &ps)) < 0 ||
        (r = b64_of(p, ps, "PSSH", k->pssh[s], CPIX_PSSH_MAX, false, &k->pssh_len[s])) < 0)
      return r;
    if (cpix_pssh_check(k->pssh[s], k->pssh_len[s], CPIX_SYSTEM_ID[s], q->kid[i]) < 0)
      return fail(p, -AMP_EPROTO, "the %s PSSH is not a whole pssh box naming its KID",
                  SYSTEM_NAME[s]);
  }
  if (r < 0)
    return r;
  for (size_t i = 0; i < q->n_keys; i++)
    for (int s = 0; s < CPIX_N_SYSTEMS; s++)
      if (!out->keys[i].pssh_len[s]) {
        char uuid[UUID_LEN + 1];
        uuid_of(q->kid[i], uuid);
        return fail(p, -AMP_EPROTO, "no %s PSSH for KID %s", SYSTEM_NAME[s], uuid);
      }
  return 0;
}

static int parse_delivery(struct rd *p, const xmlNode *root, struct cpix_reply *out) {
  xmlNode *ddl, *dd, *dk, *data, *secret, *mm, *key;
  const char *a;
  int r = need(p, root, CPIX_NS, "DeliveryDataList", "CPIX", &ddl);
  if (r == 0)
    r = need(p, ddl, CPIX_NS, "DeliveryData", "DeliveryDataList", &dd);
  if (r == 0)
    r = need(p, dd, CPIX_NS, "DocumentKey", "DeliveryData", &dk);
  if (r == 0)
    r = attr_of(p, dk, "Algorithm", &a);
  if (r == 0 && (!a || strcmp(a, ALG_AES256CBC)))
    r = fail(p, -AMP_EPROTO, "DocumentKey@Algorithm is not aes256-cbc");
  if (r == 0)
    r = need(p, dk, CPIX_NS, "Data", "DocumentKey", &data);
  if (r == 0)
    r = need(p, data, PSKC_NS, "Secret", "DocumentKey", &secret);
  if (r == 0)
    r = encrypted_value(p, secret, "DocumentKey", ALG_RSA_OAEP, out->doc_key_enc, CPIX_RSA_MAX,
                        false, &out->doc_key_enc_len);
  if (r == 0)
    r = need(p, dd, CPIX_NS, "MACMethod", "DeliveryData", &mm);
  if (r == 0)
    r = attr_of(p, mm, "Algorithm", &a);
  if (r == 0 && (!a || strcmp(a, ALG_HMAC512)))
    r = fail(p, -AMP_EPROTO, "MACMethod@Algorithm is not hmac-sha512");
  if (r == 0)
    r = need(p, mm, CPIX_NS, "Key", "MACMethod", &key);
  if (r == 0)
    r = encrypted_value(p, key, "MACMethod", ALG_RSA_OAEP, out->mac_key_enc, CPIX_RSA_MAX, false,
                        &out->mac_key_enc_len);
  return r;
}

/* libxml2 would print parse errors to stderr; they come here and are dropped (the
 * reason the caller prints is ours). */
static void xml_silent(void *ctx, const char *msg, ...) {
  (void)ctx;
  (void)msg;
}

int cpix_reply_parse(const struct cpix_request *q, const void *xml, size_t len,
                     struct cpix_reply *ret, char *why) {
  struct rd p = {.why = why};
  struct cpix_reply *out = NULL;
  xmlDocPtr doc = NULL;
  xmlParserCtxtPtr ctxt = NULL;
  const char *s;
  int r;

  why[0] = 0;
  if (!request_ok(q))
    return fail(&p, -EINVAL, "invalid request");
  if (len > CPIX_REPLY_MAX)
    return fail(&p, -AMP_ETOOBIG, "reply over %u bytes", CPIX_REPLY_MAX);
  if (len == 0)
    return fail(&p, -AMP_EPROTO, "empty reply");
  out = calloc(1, sizeof(*out));
  ctxt = out ? xmlNewParserCtxt() : NULL;
  if (!ctxt) {
    r = fail(&p, -ENOMEM, "out of memory");
    goto done;
  }
  /* No XML_PARSE_NOENT (entities stay unexpanded), no DTDLOAD/DTDATTR/DTDVALID, no HUGE. */
  xmlGenericErrorFunc old_fn = xmlGenericError;
  void *old_ctx = xmlGenericErrorContext;
  xmlSetGenericErrorFunc(NULL, xml_silent);
  doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, NULL,
                          XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                              XML_PARSE_NOCDATA);
  xmlSetGenericErrorFunc(old_ctx, old_fn);
  if (!doc || !ctxt->wellFormed) {
    r = fail(&p, -AMP_EPROTO, "the reply is not well-formed XML");
    goto done;
  }
  if (doc->intSubset || doc->extSubset) {
    r = fail(&p, -AMP_EPROTO, "the reply has a DOCTYPE");
    goto done;
  }
  xmlNode *root = xmlDocGetRootElement(doc);
  if (!is(root, CPIX_NS, "CPIX")) {
    r = fail(&p, -AMP_EPROTO, "the reply is not a CPIX document");
    goto done;
  }
  if ((r = attr_of(&p, root, "contentId", &s)) < 0)
    goto done;
  if (!s || strcmp(s, q->content_id)) {
    r = fail(&p, -AMP_EPROTO, "the reply is for another contentId");
    goto done;
  }
  if ((r = attr_of(&p, root, "version", &s)) < 0)
    goto done;
  if (s && strcmp(s, "2.3")) {
    r = fail(&p, -AMP_EPROTO, "the reply is not CPIX 2.3"); /* s is not shown: any bytes */
    goto done;
  }
  out->n_keys = q->n_keys;
  out->encrypted = q->cert_der != NULL;
  if ((r = parse_keys(&p, q, root, out)) < 0 || (r = parse_drms(&p, q, root, out)) < 0)
    goto done;
  if (q->cert_der && (r = parse_delivery(&p, root, out)) < 0)
    goto done;
  memcpy(ret, out, sizeof(*out));
done:
  xmlFree(p.tmp);
  if (doc)
    xmlFreeDoc(doc);
  if (ctxt)
    xmlFreeParserCtxt(ctxt);
  if (out) {
    mbedtls_platform_zeroize(out, sizeof(*out));
    free(out);
  }
  return r;
}

/* ---- content key encryption --------------------------------------------------------- */

static int rsa_oaep(struct mbedtls_pk_context *pk, const uint8_t *in, size_t n, uint8_t *out,
                    size_t max, size_t *ret_len, int (*rng)(void *, unsigned char *, size_t),
                    void *rng_ctx) {
  if (mbedtls_pk_get_type(pk) != MBEDTLS_PK_RSA)
    return -EINVAL;
  mbedtls_rsa_context *rsa = mbedtls_pk_rsa(*pk);
  /* xmlenc rsa-oaep-mgf1p: OAEP with SHA-1 and MGF1-SHA-1, no label */
  mbedtls_rsa_set_padding(rsa, MBEDTLS_RSA_PKCS_V21, MBEDTLS_MD_SHA1);
  if (n != mbedtls_rsa_get_len(rsa))
    return -AMP_EPROTO;
  if (mbedtls_rsa_rsaes_oaep_decrypt(rsa, rng, rng_ctx, MBEDTLS_RSA_PRIVATE, NULL, 0, ret_len, in,
                                     out, max) != 0)
    return -AMP_EPROTO;
  return 0;
}

int cpix_reply_decrypt(struct cpix_reply *r, struct mbedtls_pk_context *pk,
                       int (*rng)(void *, unsigned char *, size_t), void *rng_ctx, char *why) {
  struct rd p = {.why = why};
  uint8_t doc_key[CPIX_RSA_MAX], mac_key[CPIX_RSA_MAX], keys[CPIX_MAX_KEYS][CPIX_KEY_LEN];
  size_t doc_len = 0, mac_len = 0;
  int ret = 0;
  mbedtls_aes_context aes;
  const mbedtls_md_info_t *sha512 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);

  why[0] = 0;
  mbedtls_aes_init(&aes);
  if (!r->encrypted || r->n_keys == 0 || r->n_keys > CPIX_MAX_KEYS || !sha512) {
    ret = fail(&p, -EINVAL, "nothing to decrypt");
    goto out;
  }
  if (rsa_oaep(pk, r->doc_key_enc, r->doc_key_enc_len, doc_key, sizeof(doc_key), &doc_len, rng,
               rng_ctx) < 0 ||
      doc_len != CPIX_DOC_KEY_LEN) {
    ret = fail(&p, -AMP_EPROTO, "the DocumentKey does not decrypt to an AES-256 key");
    goto out;
  }
  if (rsa_oaep(pk, r->mac_key_enc, r->mac_key_enc_len, mac_key, sizeof(mac_key), &mac_len, rng,
               rng_ctx) < 0 ||
      mac_len < CPIX_MAC_KEY_MIN || mac_len > CPIX_MAC_KEY_MAX) {
    ret = fail(&p, -AMP_EPROTO, "the MAC key does not decrypt to %d..%d bytes", CPIX_MAC_KEY_MIN,
               CPIX_MAC_KEY_MAX);
    goto out;
  }
  if (mbedtls_aes_setkey_dec(&aes, doc_key, 256) != 0) {
    ret = fail(&p, -AMP_EPROTO, "the DocumentKey is not an AES-256 key");
    goto out;
  }
  for (size_t i = 0; i < r->n_keys; i++) {
    struct cpix_key *k = &r->keys[i];
    uint8_t mac[CPIX_MAC_LEN], iv[16], plain[CPIX_WRAPPED_LEN - 16];
    uint8_t diff = 0;
    if (mbedtls_md_hmac(sha512, mac_key, mac_len, k->wrapped, CPIX_WRAPPED_LEN, mac) != 0) {
      ret = fail(&p, -ENOMEM, "HMAC failed");
      goto out;
    }
    for (size_t b = 0; b < CPIX_MAC_LEN; b++) /* constant time */
      diff |= (uint8_t)(mac[b] ^ k->mac[b]);
    if (diff) {
      ret = fail(&p, -AMP_EPROTO, "ContentKey %zu: the ValueMAC does not match", i + 1);
      goto out;
    }
    memcpy(iv, k->wrapped, 16);
    if (mbedtls_aes_crypt_cbc(&aes, MBEDTLS_AES_DECRYPT, sizeof(plain), iv, k->wrapped + 16,
                              plain) != 0) {
      ret = fail(&p, -AMP_EPROTO, "ContentKey %zu does not decrypt", i + 1);
      goto out;
    }
    /* PKCS#7: a 16-byte key is followed by a whole block of 0x10 */
    uint8_t bad = 0;
    for (size_t b = CPIX_KEY_LEN; b < sizeof(plain); b++)
      bad |= (uint8_t)(plain[b] ^ 0x10);
    if (bad) {
      mbedtls_platform_zeroize(plain, sizeof(plain));
      ret = fail(&p, -AMP_EPROTO, "ContentKey %zu: not a 16-byte key (padding)", i + 1);
      goto out;
    }
    memcpy(keys[i], plain, CPIX_KEY_LEN);
    mbedtls_platform_zeroize(plain, sizeof(plain));
  }
  for (size_t i = 0; i < r->n_keys; i++) {
    memcpy(r->keys[i].key, keys[i], CPIX_KEY_LEN);
    mbedtls_platform_zeroize(r->keys[i].wrapped, CPIX_WRAPPED_LEN);
    mbedtls_platform_zeroize(r->keys[i].mac, CPIX_MAC_LEN);
  }
  r->encrypted = 0;
out:
  mbedtls_aes_free(&aes);
  mbedtls_platform_zeroize(doc_key, sizeof(doc_key));
  mbedtls_platform_zeroize(mac_key, sizeof(mac_key));
  mbedtls_platform_zeroize(keys, sizeof(keys));
  return ret;
}
