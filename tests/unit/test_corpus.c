/*  test_corpus - replays the seed corpus of the protocol fuzzer.

    Every file in tests/corpus/proto goes through the fuzz target itself
    (tests/fuzz/fuzz_proto.c), so `make test` applies the same round-trip
    checks the fuzzer does. On top of that, file names carry an
    expectation: "ok-*" must decode, "bad-*" must be refused, and the
    corpus holds a valid message of every type and at least one bad one.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../fuzz/fuzz_proto.c"
#include "corpus.h"

static size_t s_bad;
static bool s_type_seen [256];

static void
s_check (const char *name, const uint8_t *data, size_t size)
{
    zp_msg_t msg;
    const char *reason = NULL;
    int rc = zp_msg_decode (data, size, &msg, &reason);
    if (strncmp (name, "ok-", 3) == 0) {
        cr_assert_eq (rc, 0, "%s: refused: %s", name, reason);
        s_type_seen [msg.type] = true;
    }
    else
    if (strncmp (name, "bad-", 4) == 0) {
        cr_assert_eq (rc, -1, "%s: accepted, but its name says it is bad", name);
        s_bad++;
    }
}

Test (corpus, replay)
{
    corpus_replay ("tests/corpus/proto", 5, s_check);
    cr_assert (s_type_seen [ZP_READY] && s_type_seen [ZP_TASKS] && s_type_seen [ZP_RESULTS]
            && s_type_seen [ZP_BATCH] && s_type_seen [ZP_ACK] && s_type_seen [ZP_STATS],
               "the corpus lacks a valid message of some type");
    cr_assert_gt (s_bad, 0, "the corpus has no bad-* file");
}
