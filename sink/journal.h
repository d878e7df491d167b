/*  journal - the sink's record of what it has, one JSON object per line
    (NDJSON, docs/protocol.md "The sink's journal"), so that a sink
    restarted on it continues its batches without redoing anything.

    Every record is written and flushed to the kernel at once: a sink that
    is killed loses nothing it wrote. journal_sync makes it survive a power
    loss too; the sink calls it before every acknowledgement or once a
    second, as --fsync says.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef JOURNAL_H_INCLUDED
#define JOURNAL_H_INCLUDED

#include "batch.h"
#include "zp_proto.h"

#include <stdbool.h>
#include <stdint.h>

#define JOURNAL_BATCH    1
#define JOURNAL_RESULT   2
#define JOURNAL_COMPLETE 3

//  One record, as read back. The result's input and output point into
//  the journal's buffers and are valid until the next journal_next.
typedef struct {
    int type;
    uint64_t batch;
    batch_meta_t meta;          //  JOURNAL_BATCH
    zp_result_t result;         //  JOURNAL_RESULT, and:
    char host [256];
    uint32_t pid;
    double time;                //  when the sink accepted it (wall clock)
} journal_record_t;

typedef struct _journal_t journal_t;

//  Open (create, mode 0600) the journal at path for reading it back and then
//  appending. NULL after logging why.
journal_t *
    journal_open (const char *path);

//  Close; safe on NULL and twice.
void
    journal_destroy (journal_t **self_p);

//  The next record of what the file held when it was opened. Returns 1 and
//  fills record; 0 at the end (a last line cut short by a crash is dropped
//  and cut off the file, so appending starts on a fresh line); -1 after
//  logging the line number and what is wrong with it.
int
    journal_next (journal_t *self, journal_record_t *record);

//  Append one record. Return 0, or -1 after logging why (the file is then
//  unusable: a journal with a hole would lie).
int
    journal_write_batch (journal_t *self, uint64_t batch, const batch_meta_t *meta);
int
    journal_write_result (journal_t *self, uint64_t batch, const char *host, uint32_t pid,
                          double time, const zp_result_t *result);
int
    journal_write_complete (journal_t *self, uint64_t batch);

//  Sync what was written to the disk, if anything was since the last sync.
//  Returns 0, or -1 after logging why.
int
    journal_sync (journal_t *self);

//  True when records were written since the last sync.
bool
    journal_dirty (journal_t *self);

#endif
