/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPACK_SPEKE_H
#define AMPACK_SPEKE_H

#include <stddef.h>
#include <stdint.h>

#include "cpix.h"

/*
 * A SPEKE v2.0 client (docs/speke.md §11): POST the CPIX request of cpix.h to the key
 * provider over src/net/http (its fixed TLS policy: https only, the peer verified against
 * ca_file or the system store; nothing turns that off), check and parse the reply and,
 * with a certificate and key, decrypt the content keys.
 *
 * Every failure is a negative error with one line in why (CPIX_WHY_MAX bytes): an error
 * status prints the provider's message, its first line cut to SPEKE_MESSAGE_MAX bytes
 * and every byte outside 0x20..0x7e shown as '?'. Neither the API key nor any key
 * material is ever put in why.
 */

#define SPEKE_MESSAGE_MAX 120     /* bytes of the provider's error message shown */
#define SPEKE_PEM_MAX (64u << 10) /* bytes of the certificate PEM file */
#define SPEKE_TIMEOUT_MS 30000    /* the whole exchange, per attempt */
#define SPEKE_API_KEY_MAX 256     /* bytes of the X-Api-Key value */

struct speke_opts {
  const char *url;       /* https://.../speke/v2.0/copyProtection */
  const char *ca_file;   /* PEM CA bundle for the provider, NULL: the system store */
  const char *api_key;   /* X-Api-Key (the mock: --speke-api-key) */
  const char *cert_file; /* PEM certificate for content key encryption, or NULL */
  const char *key_file;  /* its RSA private key (PEM, unencrypted); with cert_file */
};

/* Ask for the keys and PSSH boxes of n KIDs of content_id (audio of up to max_channels
 * channels). 0 and *ret filled with the keys in the clear; -EINVAL (options), -errno
 * (reading the PEM files), -AMP_EPROTO (the reply lies), -AMP_EHTTP (an error status),
 * or what the http client returned; why says which. */
int speke_get_keys(const struct speke_opts *o, const char *content_id, const uint8_t (*kids)[16],
                   size_t n, uint32_t max_channels, struct cpix_reply *ret, char *why);

/* The DER certificate inside a PEM file's first CERTIFICATE block. 0, -errno, -EINVAL,
 * -AMP_ETOOBIG (over max). */
int speke_read_cert(const char *path, uint8_t *der, size_t max, size_t *ret_len);

/* The provider's error body as one printable line (see the top); out holds max bytes. */
void speke_sanitise(const uint8_t *body, size_t n, char *out, size_t max);

#endif
