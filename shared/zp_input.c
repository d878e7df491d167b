/*  zp_input - splits the ventilator's input into task strings.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_input.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct _zp_input_t {
    size_t max_length;
    uint8_t *buffer;            //  bytes fed and not yet taken
    size_t start;               //  first byte not taken
    size_t size;                //  end of the bytes fed
    size_t capacity;
    size_t scanned;             //  bytes after start known to hold no LF
    uint64_t lineno;            //  number of the line being read (1-based)
    bool skipping;              //  dropping the rest of a line that is too long
    bool ended;
};

zp_input_t *
zp_input_new (size_t max_length)
{
    zp_input_t *self = (zp_input_t *) calloc (1, sizeof (zp_input_t));
    if (self) {
        self->max_length = max_length;
        self->lineno = 1;
    }
    return self;
}

void
zp_input_destroy (zp_input_t **self_p)
{
    if (self_p && *self_p) {
        free ((*self_p)->buffer);
        free (*self_p);
        *self_p = NULL;
    }
}

int
zp_input_feed (zp_input_t *self, const void *data, size_t size)
{
    //  Move what is left to the front before growing, so the buffer holds at
    //  most one partial line plus the new bytes.
    if (self->start > 0) {
        memmove (self->buffer, self->buffer + self->start, self->size - self->start);
        self->size -= self->start;
        self->start = 0;
    }
    //  A size that would wrap size_t, or a doubling that would, is out of
    //  memory; without these checks the doubling loop could spin forever.
    if (size > SIZE_MAX - self->size)
        return -1;
    if (self->size + size > self->capacity) {
        size_t needed = self->size + size;
        size_t capacity = self->capacity ? self->capacity : 65536;
        while (capacity < needed)
            capacity = capacity > SIZE_MAX / 2 ? needed : capacity * 2;
        uint8_t *buffer = (uint8_t *) realloc (self->buffer, capacity);
        if (!buffer)
            return -1;
        self->buffer = buffer;
        self->capacity = capacity;
    }
    if (size)
        memcpy (self->buffer + self->size, data, size);
    self->size += size;
    return 0;
}

void
zp_input_end (zp_input_t *self)
{
    self->ended = true;
}

int
zp_input_next (zp_input_t *self, const uint8_t **line, size_t *size, uint64_t *lineno)
{
    while (self->start < self->size) {
        uint8_t *begin = self->buffer + self->start;
        size_t available = self->size - self->start;
        uint8_t *newline = (uint8_t *) memchr (begin + self->scanned, '\n',
                                               available - self->scanned);
        size_t length;
        if (newline)
            length = (size_t) (newline - begin);
        else
        if (self->ended)
            length = available;
        else {
            //  No LF yet. A partial line already past max_length (and its
            //  possible CR) cannot become valid: drop it now rather than
            //  hold an unbounded line in memory. Written as available - 1
            //  (available is at least 1 here) because max_length + 1 wraps
            //  to 0 for max_length SIZE_MAX and would drop every line.
            if (!self->skipping && available - 1 > self->max_length)
                self->skipping = true;
            if (self->skipping) {
                self->start = self->size;
                self->scanned = 0;
            }
            else
                self->scanned = available;
            return ZP_INPUT_NONE;
        }
        self->start += newline ? length + 1 : length;
        self->scanned = 0;
        uint64_t number = self->lineno++;
        if (length > 0 && begin [length - 1] == '\r')
            length--;
        if (self->skipping || length > self->max_length) {
            self->skipping = false;
            *lineno = number;
            return ZP_INPUT_TOO_LONG;
        }
        if (length == 0)
            continue;           //  empty lines are skipped
        *line = begin;
        *size = length;
        *lineno = number;
        return ZP_INPUT_LINE;
    }
    if (self->ended && self->skipping) {
        //  The input ended inside a line that was too long.
        self->skipping = false;
        *lineno = self->lineno++;
        return ZP_INPUT_TOO_LONG;
    }
    return ZP_INPUT_NONE;
}
