/*  zp_input - splits the ventilator's input into task strings.

    The rules (README, "Input"): bytes are split on LF; one trailing CR is
    removed; every other byte, NUL included, is data; empty lines are
    skipped; a line longer than max_length bytes is rejected (reported with
    its line number, its bytes dropped) and reading goes on.

    It is a push parser: the caller feeds it whatever it read (a whole file
    or bytes from a pipe as they arrive) and takes out the complete lines,
    so the same code serves files, stdin and streams, and the parser itself
    is a pure function of the bytes (fuzzed by tests/fuzz/fuzz_input.c).
    Memory stays bounded by max_length plus the largest chunk fed.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZP_INPUT_H_INCLUDED
#define ZP_INPUT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

typedef struct _zp_input_t zp_input_t;

#define ZP_INPUT_NONE     0     //  no complete line yet (or none left after end)
#define ZP_INPUT_LINE     1     //  a line: *line, *size, *lineno are set
#define ZP_INPUT_TOO_LONG 2     //  line *lineno was longer than max_length, dropped

//  Create a parser. Returns NULL if out of memory. The caller owns it.
zp_input_t *
    zp_input_new (size_t max_length);

//  Destroy; safe on NULL and twice; sets *self_p to NULL.
void
    zp_input_destroy (zp_input_t **self_p);

//  Feed bytes read from the input. Returns 0, or -1 if out of memory.
int
    zp_input_feed (zp_input_t *self, const void *data, size_t size);

//  The input has ended: a last line without LF counts as a line.
void
    zp_input_end (zp_input_t *self);

//  Take the next line. The line stays valid until the next call to
//  zp_input_feed, zp_input_next or zp_input_destroy.
int
    zp_input_next (zp_input_t *self, const uint8_t **line, size_t *size, uint64_t *lineno);

#endif
