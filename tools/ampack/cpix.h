/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_CPIX_H
#define AMPACK_CPIX_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/*
 * The CPIX 2.3 documents of a SPEKE v2.0 exchange (docs/speke.md): the request ampack
 * sends for one key variant of one track, and the parser of the provider's reply.
 *
 * The request names each KID (ContentKey, commonEncryptionScheme "cenc"), asks for the
 * PSSH box of two systems per KID (Widevine and the W3C common system: the two boxes
 * ampack's init segments and MPD carry), ties each key to the audio (a
 * ContentKeyUsageRule with intendedTrackType "AUDIO" and an AudioFilter) and, with a
 * certificate, asks for content key encryption (a DeliveryData with the certificate).
 *
 * The parser reads the reply with libxml2 without network, DTD or entity loading (a
 * DOCTYPE is refused), finds every element by namespace URI (any prefix), and bounds
 * every field. It refuses, with -AMP_EPROTO and a one-line reason in why: a reply for
 * another contentId, a KID not asked for, a KID twice, a missing key or PSSH, a key that
 * is not 16 bytes, a PSSH box that is not a whole 'pssh' box of its system naming its
 * KID, keys in the clear when encryption was asked for (or encrypted when it was not),
 * and a DeliveryData without its document key or MAC key. Elements the parser does not
 * need are ignored. Nothing here logs or prints; why never holds key material.
 */

#define CPIX_MAX_KEYS 64             /* ContentKeys of one document (the mock's bound too) */
#define CPIX_MAX_DRMSYSTEMS 256      /* DRMSystem elements read from a reply */
#define CPIX_REPLY_MAX (1u << 20)    /* bytes of a reply document */
#define CPIX_REQUEST_MAX (64u << 10) /* bytes of a request document */
#define CPIX_CONTENT_ID_MAX 64       /* bytes of contentId (ampack's track id bound) */
#define CPIX_CERT_MAX 4096           /* DER bytes of the delivery certificate */
#define CPIX_PSSH_MAX 256            /* bytes of one PSSH box (ampack's MP4W_MAX_PSSH) */
#define CPIX_RSA_MAX 512             /* bytes of an RSA-encrypted key (up to 4096-bit RSA) */
#define CPIX_TEXT_MAX 8192           /* bytes of any one text or attribute value read */
/* Bytes of the reason, with its NUL: an HTTP status line and 120 bytes of message fit. */
#define CPIX_WHY_MAX 192
#define CPIX_KEY_LEN 16
#define CPIX_WRAPPED_LEN 48 /* IV + AES-256-CBC of a 16-byte key (PKCS#7: 32) */
#define CPIX_MAC_LEN 64     /* HMAC-SHA512 */
#define CPIX_DOC_KEY_LEN 32 /* AES-256 */
#define CPIX_MAC_KEY_MIN 16
#define CPIX_MAC_KEY_MAX 128

extern const char CPIX_NS[];   /* urn:dashif:org:cpix */
extern const char PSKC_NS[];   /* urn:ietf:params:xml:ns:keyprov:pskc */
extern const char XMLENC_NS[]; /* http://www.w3.org/2001/04/xmlenc# */
extern const char DSIG_NS[];   /* http://www.w3.org/2000/09/xmldsig# */

enum cpix_system { CPIX_WIDEVINE, CPIX_COMMON, CPIX_N_SYSTEMS };
extern const uint8_t CPIX_SYSTEM_ID[CPIX_N_SYSTEMS][16];

struct cpix_request {
  const char *content_id; /* 1..CPIX_CONTENT_ID_MAX bytes of 0x21..0x7e, no markup */
  size_t n_keys;          /* 1..CPIX_MAX_KEYS */
  uint8_t kid[CPIX_MAX_KEYS][16];
  uint32_t max_channels;   /* AudioFilter@maxChannels, 1..64 */
  const uint8_t *cert_der; /* the encryptor's certificate (DER), or NULL: keys in the clear */
  size_t cert_len;         /* 1..CPIX_CERT_MAX with cert_der */
};

struct cpix_key {
  uint8_t kid[16];
  uint8_t key[CPIX_KEY_LEN]; /* the content key; with encryption only after cpix_reply_decrypt */
  uint8_t wrapped[CPIX_WRAPPED_LEN]; /* encrypted: IV || AES-256-CBC(key) */
  uint8_t mac[CPIX_MAC_LEN];         /* encrypted: HMAC-SHA512 of wrapped */
  uint8_t pssh[CPIX_N_SYSTEMS][CPIX_PSSH_MAX];
  size_t pssh_len[CPIX_N_SYSTEMS]; /* > 0 for each system */
};

struct cpix_reply {
  size_t n_keys;                       /* the request's, keys[] in the request's order */
  int encrypted;                       /* keys[].key not yet known: cpix_reply_decrypt */
  struct cpix_key keys[CPIX_MAX_KEYS]; /* */
  uint8_t doc_key_enc[CPIX_RSA_MAX];   /* encrypted: the RSA-OAEP document key */
  size_t doc_key_enc_len;              /* */
  uint8_t mac_key_enc[CPIX_RSA_MAX];   /* encrypted: the RSA-OAEP MAC key */
  size_t mac_key_enc_len;              /* */
};

/* The request document of q, replacing out's content (out->max should allow
 * CPIX_REQUEST_MAX). 0, -EINVAL (q outside the bounds above, a KID twice), -ENOMEM,
 * -AMP_ETOOBIG. */
int cpix_request_write(const struct cpix_request *q, struct buf *out);

/* Parse the reply to q: xml is len bytes (<= CPIX_REPLY_MAX), not NUL-terminated.
 * 0 and *ret filled; or -AMP_EPROTO (a malformed or lying reply), -AMP_ETOOBIG, -EINVAL
 * (q invalid), -ENOMEM, with a reason in why (CPIX_WHY_MAX bytes) and *ret untouched. */
int cpix_reply_parse(const struct cpix_request *q, const void *xml, size_t len,
                     struct cpix_reply *ret, char *why);

/* Is box (n bytes) a whole ISO/IEC 23001-7 'pssh' box (version 0 or 1, flags 0) of
 * system_id naming kid (in its v1 KID list, or for v0 inside its data)? 0 or -AMP_EPROTO. */
int cpix_pssh_check(const uint8_t *box, size_t n, const uint8_t system_id[16],
                    const uint8_t kid[16]);

/* Content key encryption (docs/speke.md §6): decrypt the document key and the MAC key
 * with the private key pk (an mbedtls_pk_context holding the RSA key of the request's
 * certificate; RSA-OAEP with SHA-1 and MGF1-SHA-1), check each key's HMAC-SHA512 over
 * its IV and ciphertext (constant time) before decrypting it (AES-256-CBC, PKCS#7), and
 * fill keys[].key. rng is an mbedtls RNG for the RSA blinding. Then r->encrypted is 0 and
 * the encrypted copies are wiped. 0, or -AMP_EPROTO (a key that does not decrypt, a MAC
 * mismatch, bad padding, wrong lengths), -EINVAL (r not encrypted), with why; r's keys
 * stay unset on failure. */
struct mbedtls_pk_context;
int cpix_reply_decrypt(struct cpix_reply *r, struct mbedtls_pk_context *pk,
                       int (*rng)(void *, unsigned char *, size_t), void *rng_ctx, char *why);

#endif
