/* SPDX-License-Identifier: Apache-2.0 */
#include "core/err.h"

#include <limits.h>
#include <string.h>

static const char *const amp_err_names[] = {
    [AMP_EHTTP - AMP_ERR_BASE] = "HTTP error status",
    [AMP_ETLS - AMP_ERR_BASE] = "TLS handshake or certificate verification failed",
    [AMP_EINSECURE - AMP_ERR_BASE] = "refused by the TLS policy (not https)",
    [AMP_ENORANGE - AMP_ERR_BASE] = "server ignored the Range request",
    [AMP_EBADRANGE - AMP_ERR_BASE] = "bad or unsatisfiable byte range",
    [AMP_ETRUNCATED - AMP_ERR_BASE] = "body ended before its declared length",
    [AMP_ENETWORK - AMP_ERR_BASE] = "network failure",
    [AMP_ETOOBIG - AMP_ERR_BASE] = "input exceeds a limit",
    [AMP_EJSON - AMP_ERR_BASE] = "malformed JSON",
    [AMP_EMANIFEST - AMP_ERR_BASE] = "malformed DASH manifest",
    [AMP_EMP4 - AMP_ERR_BASE] = "malformed MP4",
    [AMP_EUNSUPPORTED - AMP_ERR_BASE] = "unsupported feature",
    [AMP_EDRM - AMP_ERR_BASE] = "CDM failure",
    [AMP_ENOKEY - AMP_ERR_BASE] = "no usable key",
    [AMP_EKEYEXPIRED - AMP_ERR_BASE] = "key expired",
    [AMP_ELICENSE - AMP_ERR_BASE] = "bad or refused license",
    [AMP_EDECODE - AMP_ERR_BASE] = "decode error",
    [AMP_EAUDIO - AMP_ERR_BASE] = "audio output error",
    [AMP_EPROTO - AMP_ERR_BASE] = "protocol error",
    [AMP_EABI - AMP_ERR_BASE] = "incompatible plugin ABI",
    [AMP_EREDIRECT - AMP_ERR_BASE] = "redirect refused (another origin)",
    [AMP_EDECRYPT - AMP_ERR_BASE] = "decrypted data does not decode: wrong key or damaged content",
    [AMP_EGAP - AMP_ERR_BASE] = "media timeline is not continuous: a fragment is missing, "
                                "repeated or out of place",
    [AMP_ESHORT - AMP_ERR_BASE] = "media ends before its declared duration: truncated content",
    [AMP_EREPORT - AMP_ERR_BASE] = "the service answered with an error report",
};

const char *amp_strerror(int err) {
  if (err == 0)
    return "success";
  if (err == INT_MIN)
    return "unknown error"; /* -INT_MIN would overflow */
  if (err < 0)
    err = -err;
  if (err > AMP_ERR_BASE && err < AMP_ERR_END)
    return amp_err_names[err - AMP_ERR_BASE];
  /* strerrordesc_np is thread-safe and never formats into a shared buffer. */
  const char *s = strerrordesc_np(err);
  return s ? s : "unknown error";
}
