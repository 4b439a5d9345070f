/* SPDX-License-Identifier: Apache-2.0 */
/*
 * include/ampd/client.h compiles on its own: this file includes nothing else and is built
 * with -std=c11 -Wall -Wextra -Wpedantic -Werror. The library it loads implements the ABI
 * of this header.
 */
#include <ampd/client.h>

_Static_assert(AMPD_CLIENT_ABI_VERSION == 1, "ABI 1: libampd-client.so.1");
_Static_assert(AMPD_CLIENT_LINE_MAX >= 1024 * 1024 + 64,
               "a line holds the daemon's largest reply (1 MiB) and its envelope");
_Static_assert(AMPD_CLIENT_PENDING_MAX == 16, "the daemon's requests in flight");

int main(void) {
  if (ampd_client_abi_version() != AMPD_CLIENT_ABI_VERSION)
    return 1;
  const char *v = ampd_client_version();
  return v && v[0] ? 0 : 1;
}
