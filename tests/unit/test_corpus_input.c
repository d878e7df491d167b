/*  test_corpus_input - replays the seed corpus of the input splitter's fuzzer.

    Every file in tests/corpus/input goes through the fuzz target itself
    (tests/fuzz/fuzz_input.c), so `make test` applies the same checks the
    fuzzer does: the lines, the rejections and their line numbers match the
    one-piece reference, however the file's cut bytes split the input.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../fuzz/fuzz_input.c"
#include "corpus.h"

Test (corpus_input, replay)
{
    corpus_replay ("tests/corpus/input", 5, NULL);
}
