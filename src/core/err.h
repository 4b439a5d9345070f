/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CORE_ERR_H
#define AMPD_CORE_ERR_H

/*
 * One error convention for all of ampd: a function returns int, 0 on success and a
 * negative number on failure. The negative number is either -errno or one of the
 * project codes below, which live beyond the errno range. amp_strerror() names both.
 */
enum amp_err {
  AMP_ERR_BASE = 10000,
  AMP_EHTTP,        /* the server answered with an HTTP error status */
  AMP_ETLS,         /* TLS handshake or certificate verification failed */
  AMP_EINSECURE,    /* a plain-http URL or redirect was refused by the TLS policy */
  AMP_ENORANGE,     /* the server ignored a Range request (200 instead of 206) */
  AMP_EBADRANGE,    /* Content-Range missing or not the range asked for, or 416 */
  AMP_ETRUNCATED,   /* the connection closed before the whole body arrived */
  AMP_ENETWORK,     /* connect, DNS, reset or other transport failure */
  AMP_ETOOBIG,      /* input exceeds a stated bound */
  AMP_EJSON,        /* malformed or unexpected JSON */
  AMP_EMANIFEST,    /* malformed or unsupported DASH manifest */
  AMP_EMP4,         /* malformed ISO BMFF / fragmented MP4 */
  AMP_EUNSUPPORTED, /* valid input that uses a feature ampd does not implement */
  AMP_EDRM,         /* a CDM operation failed */
  AMP_ENOKEY,       /* no usable key for the KID */
  AMP_EKEYEXPIRED,  /* the key exists but its license has expired */
  AMP_ELICENSE,     /* malformed or refused license */
  AMP_EDECODE,      /* the codec rejected the data */
  AMP_EAUDIO,       /* the audio output failed or cannot do what was asked */
  AMP_EPROTO,       /* a peer broke its protocol (control socket, service reply) */
  AMP_EABI,         /* a plugin has an incompatible ABI version */
  AMP_EREDIRECT,    /* a redirect the request's policy does not allow (another origin) */
  AMP_EDECRYPT,     /* a decrypted sample did not decode: most likely a wrong key */
  AMP_EGAP,         /* the media timeline jumps: a fragment missing, repeated or misplaced */
  AMP_ESHORT,       /* the media ends before its declared duration (truncated content) */
  AMP_EREPORT,      /* the service answered with a general error report (a 409) */
  AMP_ERR_END
};

/* A static string for err (negative errno, negative AMP_E*, or 0). Never NULL. */
const char *amp_strerror(int err);

#endif
