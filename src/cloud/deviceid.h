/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_CLOUD_DEVICEID_H
#define AMPD_CLOUD_DEVICEID_H

#include <stddef.h>

/*
 * deviceid: the value of the X-Amzn-Device-Id header (docs/service.md §5). It is stable
 * across restarts and never the raw machine id.
 *
 * Form. DEVICEID_LEN (32) lower-case hex digits (128 bits), no dashes, no UUID version
 * bits. The persisted file `<state_dir>/device-id` holds exactly those 32 digits and one
 * newline, mode 0600 (core/statefile.h).
 *
 * Derivation. An app-specific hash of the machine id, in the spirit of systemd's
 * sd_id128_get_machine_app_specific(): HMAC-SHA256 keyed by the 16 bytes of the machine
 * id over the 16 bytes of DEVICEID_APP_ID, truncated to the first 16 bytes. The machine id
 * file must hold exactly 32 lower-case hex digits and one newline (machine-id(5)); an
 * all-zero id, upper case, a missing newline, trailing bytes or systemd's "uninitialized"
 * are -EINVAL. When the machine id file is absent or unreadable (ENOENT, ENOTDIR, EACCES,
 * EPERM, ELOOP, EISDIR) the id is 16 random bytes from getrandom() instead; it is just as
 * stable once persisted, but a lost state dir then means a new id.
 *
 * Which wins. A well-formed persisted id always wins: a changed machine id, or a state
 * dir copied to another machine, keeps the persisted id. Only when the file is absent or
 * refused is the id derived (or drawn) again and written: refused means malformed content,
 * a mode looser than 0600, another owner, a symlink, not a regular file or too large
 * (statefile_read's -EPERM, -ELOOP, -EINVAL, -AMP_ETOOBIG); the new file replaces it.
 * Other read errors (-EIO, -ENOMEM, -EACCES, ...) are returned and the file is kept, so a
 * passing fault never replaces a random id. Likewise a transient error reading the machine
 * id (-EMFILE, -EIO, ...) is returned rather than drawing a random id.
 *
 * Logging. Neither the machine id nor the device id is ever logged, at any level; this
 * module logs nothing. Machine id bytes and the HMAC are wiped after use.
 *
 * One caller at a time per state dir (statefile's one writer per name).
 */

#define DEVICEID_LEN 32 /* hex digits; a caller's buffer needs DEVICEID_LEN + 1 */
#define DEVICEID_FILE "device-id"
#define DEVICEID_MACHINE_ID_PATH "/etc/machine-id"

/* The fixed ampd application id, the HMAC message (16 bytes, drawn once at random:
 * efa22d1cd34745cca2a0289a01497043). */
#define DEVICEID_APP_ID                                                                            \
  { 0xef, 0xa2, 0x2d, 0x1c, 0xd3, 0x47, 0x45, 0xcc, 0xa2, 0xa0, 0x28, 0x9a, 0x01, 0x49, 0x70, 0x43 }

/*
 * Put the device id, NUL-terminated, into out (n bytes). machine_id_path NULL means
 * DEVICEID_MACHINE_ID_PATH (tests pass their own). Returns 0, or: -EINVAL (NULL state_dir
 * or out, malformed machine id), -AMP_ETOOBIG (n < DEVICEID_LEN + 1, checked first),
 * -errno of reading the machine id or the persisted file (see above), of getrandom() or of
 * statefile_write() (an id that could not be persisted is not returned). out is written
 * only on success.
 */
int deviceid_get(const char *state_dir, const char *machine_id_path, char *out, size_t n);

#endif
