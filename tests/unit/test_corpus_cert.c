/*  test_corpus_cert - replays the seed corpus of the certificate reader's fuzzer.

    Every file in tests/corpus/cert goes through the fuzz target itself
    (tests/fuzz/fuzz_cert.c), so `make test` applies the same checks the
    fuzzer does: what is accepted holds valid keys that read the same when
    written back. On top of that, file names carry an expectation: "ok-*"
    must parse as a public certificate, "bad-*" must be refused.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../fuzz/fuzz_cert.c"
#include "corpus.h"

static void
s_check (const char *name, const uint8_t *data, size_t size)
{
    char public_txt [ZP_CURVE_KEY_TEXT];
    const char *reason = NULL;
    int rc = zp_curve_parse ((const char *) data, size, public_txt, NULL, &reason);
    if (strncmp (name, "ok-", 3) == 0)
        cr_expect_eq (rc, 0, "%s refused: %s", name, reason);
    if (strncmp (name, "bad-", 4) == 0)
        cr_expect_eq (rc, -1, "%s accepted", name);
}

Test (corpus_cert, replay)
{
    corpus_replay ("tests/corpus/cert", 5, s_check);
}
