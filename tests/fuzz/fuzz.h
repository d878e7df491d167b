/*  fuzz.h - what every libFuzzer target here shares: the entry point's
    prototype, where the input came from, and a check that aborts with both.

    Define FUZZ_NAME (the target's name, for the abort message) before
    including it. The corpus replays in tests/unit/ set s_origin to the file
    being replayed.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
    LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Where the input came from, for the abort message.
static const char *s_origin = "fuzzer input";

//  Not assert: the checks must hold in a -DNDEBUG build too.
static void
s_require (bool ok, const char *what)
{
    if (!ok) {
        fprintf (stderr, FUZZ_NAME ": %s: %s\n", s_origin, what);
        abort ();
    }
}
