/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fuzz campaign's self-test harness (tests/fuzz/selftest.sh), built only under the
 * fuzz preset and never part of a campaign: it traps on any input that starts with
 * "BOOM", a crash libFuzzer finds from the seed "BOOK" in a fraction of a second (one
 * byte to change, the comparison traced). Every other input must pass, so that its seed
 * and the merged corpus replay clean.
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  CHECK(!(size >= 4 && data[0] == 'B' && data[1] == 'O' && data[2] == 'O' && data[3] == 'M'));
  return 0;
}
