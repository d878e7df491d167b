/*  fuzz_input - libFuzzer target for zp_input, the input splitter.

    The fuzzer picks the bytes, max_length and how the bytes are cut into
    feeds; the lines, rejections and line numbers that come out must be
    what a splitter that sees the whole input at once (s_reference) gives,
    and each must come out as soon as its LF has been fed, no sooner and no
    later. Any difference aborts, which is what libFuzzer reports.

    Layout of a fuzzer input:
        byte 0      max_length: 0..254, or 255 for SIZE_MAX (no limit)
        byte 1      n, the number of cut bytes that follow
        n bytes     cuts, used in turn and again from the first: the low 7
                    bits are the size of the next feed (0 is an empty
                    feed), bit 7 says "feed again before taking lines"
        the rest    the input proper
    With n = 0, or all cut sizes 0, the input goes in one feed. Shorter
    inputs are all payload with max_length 8, so any bytes are valid.

    Build and run (from the repo root):
        clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 \
            -D_DEFAULT_SOURCE -D_GNU_SOURCE -Ishared \
            tests/fuzz/fuzz_input.c shared/zp_input.c -o /tmp/fuzz_input
        mkdir -p /tmp/corpus_input
        /tmp/fuzz_input -max_total_time=60 /tmp/corpus_input tests/corpus/input
    (new inputs go to the first directory, so the seed corpus stays as is).

    tests/unit/test_corpus_input.c includes this file and replays the seed
    corpus through LLVMFuzzerTestOneInput under `make test`.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_input.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_input"
#include "fuzz.h"

//  One expected event. Lines point into the payload, which outlives them.
typedef struct {
    int kind;                   //  ZP_INPUT_LINE or ZP_INPUT_TOO_LONG
    uint64_t lineno;
    const uint8_t *line;
    size_t size;
    size_t end;                 //  offset of its LF, or the payload size
} event_t;

//  The whole input at once: split on LF, the bytes after the last LF are a
//  line if there are any, one trailing CR goes, then too long or empty.
//  Returns the number of events written to events (which has room for one
//  per byte, the most there can be).
static size_t
s_reference (const uint8_t *data, size_t size, size_t max_length, event_t *events)
{
    size_t count = 0;
    uint64_t lineno = 0;
    size_t begin = 0;
    while (begin < size) {
        const uint8_t *newline = (const uint8_t *) memchr (data + begin, '\n', size - begin);
        size_t end = newline ? (size_t) (newline - data) : size;
        size_t length = end - begin;
        lineno++;
        if (length > 0 && data [begin + length - 1] == '\r')
            length--;
        if (length > max_length || length > 0) {
            event_t *event = &events [count++];
            event->kind = length > max_length ? ZP_INPUT_TOO_LONG : ZP_INPUT_LINE;
            event->lineno = lineno;
            event->line = data + begin;
            event->size = length;
            event->end = end;
        }
        begin = end + 1;
    }
    return count;
}

//  Takes lines until NONE and checks each against the next expected event;
//  fed is how many bytes have gone in, or SIZE_MAX after the end. Returns
//  the new count of events taken.
static size_t
s_drain (zp_input_t *input, const event_t *want, size_t wanted, size_t taken, size_t fed)
{
    const uint8_t *line;
    size_t size;
    uint64_t lineno;
    int kind;
    while ((kind = zp_input_next (input, &line, &size, &lineno)) != ZP_INPUT_NONE) {
        s_require (kind == ZP_INPUT_LINE || kind == ZP_INPUT_TOO_LONG,
                   "zp_input_next returned an unknown kind");
        s_require (taken < wanted, "more events than the reference");
        const event_t *expected = &want [taken++];
        s_require (fed == SIZE_MAX || expected->end < fed,
                   "an event came out before its LF was fed");
        s_require (kind == expected->kind, "kind differs from the reference");
        s_require (lineno == expected->lineno, "line number differs from the reference");
        if (kind == ZP_INPUT_LINE)
            //  Checked now: the line is valid only until the next call
            s_require (size == expected->size
                    && memcmp (line, expected->line, size) == 0,
                       "line differs from the reference");
    }
    //  Every line whose LF is in has come out
    s_require (fed == SIZE_MAX ? taken == wanted
                               : taken == wanted || want [taken].end >= fed,
               "a complete line was held back");
    return taken;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    size_t max_length = 8;
    const uint8_t *cuts = NULL;
    size_t cut_count = 0;
    const uint8_t *payload = data;
    size_t payload_size = size;
    if (size >= 2 && (size_t) data [1] <= size - 2) {
        max_length = data [0] == 255 ? SIZE_MAX : data [0];
        cut_count = data [1];
        cuts = data + 2;
        payload = data + 2 + cut_count;
        payload_size = size - 2 - cut_count;
    }
    bool cuts_move = false;
    for (size_t index = 0; index < cut_count; index++)
        if (cuts [index] & 0x7f)
            cuts_move = true;

    event_t *want = (event_t *) malloc ((payload_size + 1) * sizeof (event_t));
    s_require (want != NULL, "out of memory");
    size_t wanted = s_reference (payload, payload_size, max_length, want);

    zp_input_t *input = zp_input_new (max_length);
    s_require (input != NULL, "out of memory");
    size_t taken = 0;
    size_t fed = 0;
    size_t cut = 0;
    while (fed < payload_size) {
        size_t chunk = payload_size - fed;
        bool hold = false;
        if (cuts_move) {
            uint8_t each = cuts [cut++ % cut_count];
            hold = (each & 0x80) != 0;
            if ((size_t) (each & 0x7f) < chunk)
                chunk = each & 0x7f;
        }
        s_require (zp_input_feed (input, payload + fed, chunk) == 0, "feed failed");
        fed += chunk;
        if (!hold)
            taken = s_drain (input, want, wanted, taken, fed);
    }
    zp_input_end (input);
    taken = s_drain (input, want, wanted, taken, SIZE_MAX);
    s_require (taken == wanted, "fewer events than the reference");
    //  Drained after the end: nothing more, however often asked
    const uint8_t *line;
    size_t line_size;
    uint64_t lineno;
    s_require (zp_input_next (input, &line, &line_size, &lineno) == ZP_INPUT_NONE,
               "an event after the last");
    zp_input_destroy (&input);
    s_require (input == NULL, "destroy left the pointer set");
    free (want);
    return 0;
}
