/*  test_input - the input splitter: every rule of README "Input" on small
    inputs, the edges of max_length, and the push-parser contract: the same
    bytes give the same lines and line numbers however they are cut into
    chunks, a line comes out as soon as its LF is fed, and a line too long
    to accept is dropped as it arrives instead of being held in memory.

    The property tests compare the parser with s_reference, a splitter that
    sees the whole input at once and is simple enough to be right by
    inspection.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_input.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>


//  --------------------------------------------------------------------------
//  Events: what zp_input_next returned, with the line copied at once, since
//  it is only valid until the next call.

typedef struct {
    int kind;                   //  ZP_INPUT_LINE or ZP_INPUT_TOO_LONG
    uint64_t lineno;
    uint8_t *bytes;             //  a copy of the line, NULL for TOO_LONG
    size_t size;
    size_t end;                 //  reference only: offset of its LF, or the input size
} event_t;

typedef struct {
    event_t *event;
    size_t count;
    size_t capacity;
} events_t;

static void
s_events_add (events_t *self, int kind, uint64_t lineno,
              const uint8_t *bytes, size_t size, size_t end)
{
    if (self->count == self->capacity) {
        self->capacity = self->capacity? self->capacity * 2: 16;
        self->event = realloc (self->event, self->capacity * sizeof (event_t));
        cr_assert_not_null (self->event);
    }
    event_t *event = &self->event [self->count++];
    event->kind = kind;
    event->lineno = lineno;
    event->bytes = NULL;
    event->size = size;
    event->end = end;
    if (kind == ZP_INPUT_LINE) {
        event->bytes = malloc (size? size: 1);
        cr_assert_not_null (event->bytes);
        memcpy (event->bytes, bytes, size);
    }
}

static void
s_events_free (events_t *self)
{
    for (size_t index = 0; index < self->count; index++)
        free (self->event [index].bytes);
    free (self->event);
    memset (self, 0, sizeof *self);
}

//  Takes lines until NONE; returns how many it took.
static size_t
s_drain (zp_input_t *input, events_t *events)
{
    size_t taken = 0;
    const uint8_t *line;
    size_t size;
    uint64_t lineno;
    int kind;
    while ((kind = zp_input_next (input, &line, &size, &lineno)) != ZP_INPUT_NONE) {
        cr_assert (kind == ZP_INPUT_LINE || kind == ZP_INPUT_TOO_LONG,
                   "zp_input_next returned %d", kind);
        if (kind == ZP_INPUT_LINE) {
            cr_assert_not_null (line);
            cr_assert_gt (size, 0, "an empty line came out");
        }
        //  TOO_LONG sets only *lineno
        s_events_add (events, kind, lineno, line, kind == ZP_INPUT_LINE? size: 0, 0);
        taken++;
    }
    return taken;
}

//  The whole input at once: split on LF, the bytes after the last LF are a
//  line if there are any, one trailing CR goes, then too long or empty.
static void
s_reference (const uint8_t *data, size_t size, size_t max_length, events_t *events)
{
    uint64_t lineno = 0;
    size_t begin = 0;
    while (begin < size) {
        const uint8_t *newline = memchr (data + begin, '\n', size - begin);
        size_t end = newline? (size_t) (newline - data): size;
        size_t length = end - begin;
        lineno++;
        if (length > 0 && data [begin + length - 1] == '\r')
            length--;
        if (length > max_length)
            s_events_add (events, ZP_INPUT_TOO_LONG, lineno, NULL, 0, end);
        else
        if (length > 0)
            s_events_add (events, ZP_INPUT_LINE, lineno, data + begin, length, end);
        begin = end + 1;
    }
}

static void
s_expect_same (const events_t *got, const events_t *want, const char *what)
{
    cr_assert_eq (got->count, want->count, "%s: %zu events, expected %zu",
                  what, got->count, want->count);
    for (size_t index = 0; index < got->count; index++) {
        const event_t *a = &got->event [index], *b = &want->event [index];
        cr_assert_eq (a->kind, b->kind, "%s: event %zu: kind %d, expected %d",
                      what, index, a->kind, b->kind);
        cr_assert_eq (a->lineno, b->lineno, "%s: event %zu: line %llu, expected %llu",
                      what, index, (unsigned long long) a->lineno,
                      (unsigned long long) b->lineno);
        cr_assert_eq (a->size, b->size, "%s: event %zu: %zu bytes, expected %zu",
                      what, index, a->size, b->size);
        if (a->kind == ZP_INPUT_LINE)
            cr_assert (memcmp (a->bytes, b->bytes, a->size) == 0,
                       "%s: event %zu: bytes differ", what, index);
    }
}

//  Runs the parser over data cut into chunks by next_chunk (NULL: one
//  piece), draining after every feed, then ends it. After every drain the
//  lines whose LF has been fed must all be out, and no other.
typedef size_t (chunker_fn) (void *state, size_t remaining);

static void
s_run (const uint8_t *data, size_t size, size_t max_length,
       chunker_fn *next_chunk, void *state, events_t *events, const events_t *want)
{
    zp_input_t *input = zp_input_new (max_length);
    cr_assert_not_null (input);
    size_t fed = 0;
    while (fed < size) {
        size_t chunk = next_chunk? next_chunk (state, size - fed): size - fed;
        if (chunk > size - fed)
            chunk = size - fed;
        cr_assert_eq (zp_input_feed (input, data + fed, chunk), 0);
        fed += chunk;
        s_drain (input, events);
        if (want) {
            size_t complete = 0;
            while (complete < want->count && want->event [complete].end < fed)
                complete++;
            cr_assert_eq (events->count, complete,
                          "after %zu bytes: %zu events out, expected %zu",
                          fed, events->count, complete);
        }
    }
    zp_input_end (input);
    s_drain (input, events);
    //  Ended and drained: nothing more, however often asked
    const uint8_t *line;
    size_t line_size;
    uint64_t lineno;
    cr_assert_eq (zp_input_next (input, &line, &line_size, &lineno), ZP_INPUT_NONE);
    cr_assert_eq (zp_input_next (input, &line, &line_size, &lineno), ZP_INPUT_NONE);
    zp_input_destroy (&input);
}

static size_t
s_byte_by_byte (void *state, size_t remaining)
{
    (void) state;
    (void) remaining;
    return 1;
}

//  xorshift64*, seeded per test so that a failure is reproducible
static uint64_t
s_random (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * UINT64_C (2685821657736338717);
}

static size_t
s_random_chunk (void *state, size_t remaining)
{
    (void) remaining;
    uint64_t *seed = (uint64_t *) state;
    //  Mostly small, sometimes empty, sometimes large
    uint64_t pick = s_random (seed) % 16;
    if (pick == 0)
        return 0;
    if (pick == 1)
        return (size_t) (s_random (seed) % 4096);
    return (size_t) (1 + s_random (seed) % 12);
}

//  Checks data against the reference, fed in one piece, byte by byte and in
//  random chunks.
static void
s_check_all_ways (const uint8_t *data, size_t size, size_t max_length, uint64_t seed)
{
    events_t want = { 0 };
    s_reference (data, size, max_length, &want);

    events_t got = { 0 };
    s_run (data, size, max_length, NULL, NULL, &got, &want);
    s_expect_same (&got, &want, "one piece");
    s_events_free (&got);

    s_run (data, size, max_length, s_byte_by_byte, NULL, &got, &want);
    s_expect_same (&got, &want, "byte by byte");
    s_events_free (&got);

    uint64_t state = seed | 1;
    s_run (data, size, max_length, s_random_chunk, &state, &got, &want);
    s_expect_same (&got, &want, "random chunks");
    s_events_free (&got);

    s_events_free (&want);
}

//  For the tests on fixed input: one piece, then the expected events given
//  as kind, lineno, line (NULL for TOO_LONG), terminated by kind 0.
typedef struct {
    int kind;
    uint64_t lineno;
    const char *line;
    size_t size;                //  0: strlen (line); set it for lines with NUL
} expect_t;

static void
s_expect (const void *data, size_t size, size_t max_length, const expect_t *expected)
{
    events_t want = { 0 };
    for (const expect_t *each = expected; each->kind; each++) {
        size_t line_size = each->line? (each->size? each->size: strlen (each->line)): 0;
        s_events_add (&want, each->kind, each->lineno,
                      (const uint8_t *) each->line, line_size, 0);
    }
    //  The reference must agree with the hand-written expectation, or the
    //  property tests would prove nothing.
    events_t reference = { 0 };
    s_reference (data, size, max_length, &reference);
    s_expect_same (&reference, &want, "reference");
    s_events_free (&reference);

    events_t got = { 0 };
    s_run (data, size, max_length, NULL, NULL, &got, NULL);
    s_expect_same (&got, &want, "one piece");
    s_events_free (&got);
    s_run (data, size, max_length, s_byte_by_byte, NULL, &got, NULL);
    s_expect_same (&got, &want, "byte by byte");
    s_events_free (&got);
    s_events_free (&want);
}

#define S(text)     text, sizeof (text) - 1
#define LINE(n, text) { ZP_INPUT_LINE, n, text, sizeof (text) - 1 }
#define TOO_LONG(n) { ZP_INPUT_TOO_LONG, n, NULL, 0 }
#define END         { 0, 0, NULL, 0 }


//  --------------------------------------------------------------------------
//  Lifecycle and the NONE contract

Test (input, new_and_destroy_twice)
{
    zp_input_t *input = zp_input_new (16);
    cr_assert_not_null (input);
    zp_input_destroy (&input);
    cr_assert_null (input);
    zp_input_destroy (&input);
    zp_input_destroy (NULL);
}

Test (input, none_until_a_line_is_complete)
{
    zp_input_t *input = zp_input_new (100);
    const uint8_t *line = NULL;
    size_t size = 0;
    uint64_t lineno = 0;
    //  Nothing fed
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_NONE);
    cr_assert_eq (zp_input_feed (input, "", 0), 0);
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_NONE);
    //  A partial line, asked for more than once
    cr_assert_eq (zp_input_feed (input, "abc", 3), 0);
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_NONE);
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_NONE);
    cr_assert_eq (zp_input_feed (input, "de\r", 3), 0);
    //  Not yet: the CR may be data or the end of a CRLF
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_NONE);
    cr_assert_eq (zp_input_feed (input, "\nf", 2), 0);
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_LINE);
    cr_assert_eq (size, 5);
    cr_assert (memcmp (line, "abcde", 5) == 0);
    cr_assert_eq (lineno, 1);
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_NONE);
    zp_input_end (input);
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_LINE);
    cr_assert_eq (size, 1);
    cr_assert_eq (line [0], 'f');
    cr_assert_eq (lineno, 2);
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_NONE);
    zp_input_destroy (&input);
}

Test (input, empty_input)
{
    expect_t none [] = { END };
    s_expect ("", 0, 10, none);
}

Test (input, several_feeds_before_taking)
{
    //  The caller may feed more than once before it takes lines
    zp_input_t *input = zp_input_new (100);
    cr_assert_eq (zp_input_feed (input, S ("one\ntw")), 0);
    cr_assert_eq (zp_input_feed (input, S ("o\r\nthr")), 0);
    cr_assert_eq (zp_input_feed (input, S ("ee")), 0);
    zp_input_end (input);
    events_t got = { 0 };
    s_drain (input, &got);
    events_t want = { 0 };
    s_events_add (&want, ZP_INPUT_LINE, 1, (const uint8_t *) "one", 3, 0);
    s_events_add (&want, ZP_INPUT_LINE, 2, (const uint8_t *) "two", 3, 0);
    s_events_add (&want, ZP_INPUT_LINE, 3, (const uint8_t *) "three", 5, 0);
    s_expect_same (&got, &want, "several feeds");
    s_events_free (&got);
    s_events_free (&want);
    zp_input_destroy (&input);
}

Test (input, feed_size_that_wraps_is_refused)
{
    //  1 + SIZE_MAX bytes cannot be held: refused as out of memory, before
    //  any byte is read or anything allocated, and the parser goes on.
    zp_input_t *input = zp_input_new (100);
    cr_assert_eq (zp_input_feed (input, "a", 1), 0);
    cr_assert_eq (zp_input_feed (input, "b", SIZE_MAX), -1);
    cr_assert_eq (zp_input_feed (input, "\n", 1), 0);
    const uint8_t *line;
    size_t size;
    uint64_t lineno;
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_LINE);
    cr_assert_eq (size, 1);
    cr_assert_eq (line [0], 'a');
    zp_input_destroy (&input);
}


//  --------------------------------------------------------------------------
//  The rules

Test (input, lines_split_on_lf)
{
    expect_t expected [] = {
        LINE (1, "alpha"), LINE (2, "b"), LINE (3, "gamma delta"), END
    };
    s_expect (S ("alpha\nb\ngamma delta\n"), 100, expected);
}

Test (input, last_line_without_lf)
{
    expect_t expected [] = { LINE (1, "a"), LINE (2, "last"), END };
    s_expect (S ("a\nlast"), 100, expected);
}

Test (input, crlf_removed_once)
{
    expect_t expected [] = {
        LINE (1, "a"), LINE (2, "b\r"), LINE (3, "c"), END
    };
    s_expect (S ("a\r\nb\r\r\nc\r\n"), 100, expected);
}

Test (input, cr_elsewhere_is_data)
{
    //  A CR in the middle, at the start, before a CRLF: all kept
    expect_t expected [] = {
        LINE (1, "a\rb"), LINE (2, "\rc"), LINE (3, "d\r\re"), LINE (4, "\r\r"), END
    };
    s_expect (S ("a\rb\n\rc\nd\r\re\r\n\r\r\r\n"), 100, expected);
}

Test (input, trailing_cr_of_last_line_removed)
{
    //  The last line follows the same rule, LF or not
    expect_t expected [] = { LINE (1, "a"), LINE (2, "b"), END };
    s_expect (S ("a\nb\r"), 100, expected);
}

Test (input, nul_bytes_are_data)
{
    expect_t expected [] = {
        LINE (1, "\0a\0"), LINE (2, "\0"), LINE (3, "\0\r\0"), LINE (4, "\0"), END
    };
    s_expect (S ("\0a\0\n\0\r\n\0\r\0\n\0"), 100, expected);
}

Test (input, empty_lines_skipped_but_counted)
{
    expect_t expected [] = { LINE (3, "a"), LINE (6, "b"), LINE (9, "c"), END };
    s_expect (S ("\n\r\na\n\n\r\nb\n\r\n\nc\n\n\r\n\r"), 100, expected);
}

Test (input, only_empty_lines)
{
    expect_t none [] = { END };
    s_expect (S ("\n\n\r\n\n"), 100, none);
    s_expect (S ("\r"), 100, none);
    s_expect (S ("\n"), 0, none);
}


//  --------------------------------------------------------------------------
//  max_length

Test (input, exactly_max_length_accepted)
{
    expect_t expected [] = { LINE (1, "abcd"), LINE (2, "wxyz"), END };
    s_expect (S ("abcd\nwxyz"), 4, expected);
}

Test (input, max_length_plus_one_rejected)
{
    expect_t expected [] = { TOO_LONG (1), LINE (2, "ok"), TOO_LONG (3), END };
    s_expect (S ("abcde\nok\nvwxyz"), 4, expected);
}

Test (input, max_length_plus_cr_accepted)
{
    //  The CR is not part of the line, so it does not count
    expect_t expected [] = { LINE (1, "abcd"), LINE (2, "wxyz"), END };
    s_expect (S ("abcd\r\nwxyz\r"), 4, expected);
}

Test (input, max_length_plus_one_plus_cr_rejected)
{
    expect_t expected [] = { TOO_LONG (1), TOO_LONG (2), LINE (3, "abc\r"), END };
    s_expect (S ("abcde\r\nabcd\r\r\nabc\r\r\n"), 4, expected);
}

Test (input, line_numbers_after_rejected_lines)
{
    expect_t expected [] = {
        LINE (1, "ok"), TOO_LONG (2), LINE (3, "fine"), TOO_LONG (4), TOO_LONG (5),
        LINE (7, "last"), END
    };
    s_expect (S ("ok\nmuch too long\nfine\ntoo long too\nstill too long\n\nlast\n"),
              8, expected);
}

Test (input, ends_inside_a_too_long_line)
{
    expect_t expected [] = { LINE (1, "a"), TOO_LONG (3), END };
    s_expect (S ("a\n\nthis line never ends"), 5, expected);
    //  Ending right after its CR too
    expect_t with_cr [] = { LINE (1, "a"), TOO_LONG (2), END };
    s_expect (S ("a\nabcdef\r"), 5, with_cr);
}

Test (input, max_length_zero_rejects_every_byte)
{
    expect_t expected [] = { TOO_LONG (1), TOO_LONG (3), TOO_LONG (4), END };
    s_expect (S ("a\n\r\n\0\nb"), 0, expected);
}

Test (input, max_length_huge)
{
    //  No limit in practice: max_length + 1 must not wrap around to 0 and
    //  make every partial line look too long.
    expect_t expected [] = { LINE (1, "abc"), LINE (2, "defg"), END };
    s_expect (S ("abc\ndefg"), SIZE_MAX, expected);
    s_expect (S ("abc\ndefg"), SIZE_MAX - 1, expected);
}

Test (input, too_long_reported_once_in_many_chunks)
{
    //  A too-long line fed in pieces, with NONE asked after each, is one
    //  rejection with the right number, and the lines after it are intact.
    zp_input_t *input = zp_input_new (10);
    events_t got = { 0 };
    cr_assert_eq (zp_input_feed (input, S ("first\n0123")), 0);
    s_drain (input, &got);
    for (int round = 0; round < 100; round++) {
        cr_assert_eq (zp_input_feed (input, S ("0123456789")), 0);
        cr_assert_eq (s_drain (input, &got), 0);
    }
    cr_assert_eq (zp_input_feed (input, S ("\r\nsecond\n")), 0);
    s_drain (input, &got);
    zp_input_end (input);
    s_drain (input, &got);
    events_t want = { 0 };
    s_events_add (&want, ZP_INPUT_LINE, 1, (const uint8_t *) "first", 5, 0);
    s_events_add (&want, ZP_INPUT_TOO_LONG, 2, NULL, 0, 0);
    s_events_add (&want, ZP_INPUT_LINE, 3, (const uint8_t *) "second", 6, 0);
    s_expect_same (&got, &want, "chunks");
    s_events_free (&got);
    s_events_free (&want);
    zp_input_destroy (&input);
}

Test (input, long_lines_grow_the_buffer)
{
    //  Lines longer than the first buffer (64 KiB), fed in odd chunks
    size_t size = 3 * 200003 + 2;
    uint8_t *data = malloc (size);
    cr_assert_not_null (data);
    for (size_t index = 0; index < size; index++)
        data [index] = (uint8_t) ('a' + index % 26);
    data [200000] = '\n';
    data [400001] = '\r';
    data [400002] = '\n';
    data [size - 1] = '\n';
    s_check_all_ways (data, size, 1 << 20, 42);
    s_check_all_ways (data, size, 200000, 43);
    s_check_all_ways (data, size, 199999, 44);
    free (data);
}


//  --------------------------------------------------------------------------
//  Lines stay valid until the next call

Test (input, lines_valid_until_next_call)
{
    //  Each line is checked in place, right after it comes out, including
    //  lines whose bytes came from several feeds and the last line before
    //  NONE. A SANITIZE=address build catches a line outside the buffer.
    zp_input_t *input = zp_input_new (64);
    const char *pieces [] = { "alpha\nbe", "ta\ngam", "ma\r", "\ndelta", "\n", "epsilon" };
    const char *lines [] = { "alpha", "beta", "gamma", "delta", "epsilon" };
    size_t taken = 0;
    const uint8_t *line;
    size_t size;
    uint64_t lineno;
    for (size_t piece = 0; piece <= 6; piece++) {
        if (piece < 6)
            cr_assert_eq (zp_input_feed (input, pieces [piece], strlen (pieces [piece])), 0);
        else
            zp_input_end (input);
        int kind;
        while ((kind = zp_input_next (input, &line, &size, &lineno)) == ZP_INPUT_LINE) {
            cr_assert_lt (taken, 5);
            cr_assert_eq (size, strlen (lines [taken]));
            cr_assert (memcmp (line, lines [taken], size) == 0,
                       "line %zu is '%.*s'", taken + 1, (int) size, line);
            cr_assert_eq (lineno, taken + 1);
            taken++;
        }
        cr_assert_eq (kind, ZP_INPUT_NONE);
    }
    cr_assert_eq (taken, 5);
    zp_input_destroy (&input);
}


//  --------------------------------------------------------------------------
//  Property: any cut of any input gives what the reference gives

Test (input, chunking_never_changes_the_result)
{
    //  Inputs from a small alphabet, so that LF, CR, CRLF, NUL, empty lines
    //  and lines around max_length are all common.
    static const uint8_t alphabet [] = { 'a', 'b', '\n', '\r', '\0', 'a', 'a', '\n' };
    uint64_t seed = UINT64_C (0x9e3779b97f4a7c15);
    uint8_t data [300];
    for (int round = 0; round < 3000; round++) {
        size_t size = (size_t) (s_random (&seed) % sizeof data);
        //  Some inputs are long runs with few line breaks
        bool sparse = s_random (&seed) % 4 == 0;
        for (size_t index = 0; index < size; index++) {
            uint64_t pick = s_random (&seed);
            data [index] = sparse && pick % 16? 'x': alphabet [(pick >> 8) % sizeof alphabet];
        }
        size_t max_length = (size_t) (s_random (&seed) % 12);
        if (round % 10 == 0)
            max_length = (size_t) (s_random (&seed) % 400);
        if (round % 97 == 0)
            max_length = SIZE_MAX;
        s_check_all_ways (data, size, max_length, s_random (&seed));
    }
}


//  --------------------------------------------------------------------------
//  Bounded memory: a huge line is dropped as it arrives

static long
s_max_rss_kib (void)
{
    struct rusage usage;
    cr_assert_eq (getrusage (RUSAGE_SELF, &usage), 0);
    return usage.ru_maxrss;
}

Test (input, huge_line_in_bounded_memory, .timeout = 60)
{
    //  100 MiB of one line in 64 KiB chunks, as the ventilator reads it, with
    //  max_length 1 KiB. Held whole it would take 100 MiB or more; dropped as
    //  it comes, the buffer stays near 64 KiB + 1 KiB. Peak RSS is the only
    //  window we have on that.
    enum { CHUNK = 65536, MAX_LENGTH = 1024 };
    const size_t total = (size_t) 100 << 20;
    static uint8_t chunk [CHUNK];
    memset (chunk, 'x', sizeof chunk);

    long rss_before = s_max_rss_kib ();
    struct timespec start, stop;
    clock_gettime (CLOCK_MONOTONIC, &start);

    zp_input_t *input = zp_input_new (MAX_LENGTH);
    events_t got = { 0 };
    cr_assert_eq (zp_input_feed (input, S ("before\n")), 0);
    s_drain (input, &got);
    for (size_t fed = 0; fed < total; fed += CHUNK) {
        cr_assert_eq (zp_input_feed (input, chunk, CHUNK), 0);
        cr_assert_eq (s_drain (input, &got), 0, "a partial line came out");
    }
    cr_assert_eq (zp_input_feed (input, S ("\r\nafter\n")), 0);
    s_drain (input, &got);
    //  And once more, ending inside it
    for (size_t fed = 0; fed < total / 4; fed += CHUNK) {
        cr_assert_eq (zp_input_feed (input, chunk, CHUNK), 0);
        cr_assert_eq (s_drain (input, &got), 0, "a partial line came out");
    }
    zp_input_end (input);
    s_drain (input, &got);
    zp_input_destroy (&input);

    clock_gettime (CLOCK_MONOTONIC, &stop);
    double seconds = (double) (stop.tv_sec - start.tv_sec)
                   + (double) (stop.tv_nsec - start.tv_nsec) / 1e9;
    long grown_kib = s_max_rss_kib () - rss_before;

    events_t want = { 0 };
    s_events_add (&want, ZP_INPUT_LINE, 1, (const uint8_t *) "before", 6, 0);
    s_events_add (&want, ZP_INPUT_TOO_LONG, 2, NULL, 0, 0);
    s_events_add (&want, ZP_INPUT_LINE, 3, (const uint8_t *) "after", 5, 0);
    s_events_add (&want, ZP_INPUT_TOO_LONG, 4, NULL, 0, 0);
    s_expect_same (&got, &want, "huge line");
    s_events_free (&got);
    s_events_free (&want);

    cr_log_info ("125 MiB in 64 KiB chunks: %.3f s, peak RSS grew %ld KiB",
                 seconds, grown_kib);
    cr_assert_lt (grown_kib, 16 * 1024, "peak RSS grew by %ld KiB: the line was held",
                  grown_kib);
    cr_assert_lt (seconds, 10.0, "%.1f s for 125 MiB: something is quadratic", seconds);
}


Test (input, long_line_in_tiny_chunks_is_linear, .timeout = 60)
{
    //  A 2 MiB line that is accepted, fed a byte at a time with NONE asked
    //  after each: the parser must remember how far it has looked for the
    //  LF, or it scans the line again on every call (two terabytes of
    //  memchr here).
    enum { LENGTH = 2 << 20 };
    zp_input_t *input = zp_input_new (LENGTH);
    struct timespec start, stop;
    clock_gettime (CLOCK_MONOTONIC, &start);
    const uint8_t *line;
    size_t size;
    uint64_t lineno;
    for (size_t fed = 0; fed < LENGTH; fed++) {
        cr_assert_eq (zp_input_feed (input, "y", 1), 0);
        cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_NONE);
    }
    cr_assert_eq (zp_input_feed (input, "\n", 1), 0);
    cr_assert_eq (zp_input_next (input, &line, &size, &lineno), ZP_INPUT_LINE);
    clock_gettime (CLOCK_MONOTONIC, &stop);
    cr_assert_eq (size, LENGTH);
    cr_assert (line [0] == 'y' && line [LENGTH - 1] == 'y');
    zp_input_destroy (&input);
    double seconds = (double) (stop.tv_sec - start.tv_sec)
                   + (double) (stop.tv_nsec - start.tv_nsec) / 1e9;
    cr_assert_lt (seconds, 5.0, "%.1f s for 2 MiB: the line is scanned again and again",
                  seconds);
}
