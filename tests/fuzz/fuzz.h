/* SPDX-License-Identifier: Apache-2.0 */
#ifndef AMPD_TESTS_FUZZ_FUZZ_H
#define AMPD_TESTS_FUZZ_FUZZ_H

/*
 * What every harness shares: libFuzzer's entry point (replay.c calls it in non-fuzz
 * builds) and CHECK, which stops on a broken invariant with a trap, so that libFuzzer
 * saves the input and a replay under ASan/UBSan fails.
 */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
  do {                                                                                             \
    if (!(c))                                                                                      \
      __builtin_trap();                                                                            \
  } while (0)

#endif
