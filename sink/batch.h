/*  batch - one batch as the sink puts it together: every result by task id,
    who did what, and the times. Results are kept in one growing byte store
    and a record array indexed by task id, so accepting a result allocates
    nothing once the store has grown.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef BATCH_H_INCLUDED
#define BATCH_H_INCLUDED

#include "zp_proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

//  Results a batch may hold before its BATCH message said how many to expect,
//  and how many bytes of them.
#define BATCH_UNANNOUNCED_LIMIT (UINT64_C (1) << 20)
#define BATCH_UNANNOUNCED_BYTES (UINT64_C (64) << 20)
//  A batch announced without its total (a stream still being read) takes
//  task ids up to this many beyond the count of tasks its BATCH said exist
//  so far: results can overtake the BATCH that counts their task.
#define BATCH_STREAM_AHEAD (UINT64_C (1) << 20)

typedef struct {
    uint64_t offset;            //  in the store: input bytes, then output bytes
    uint32_t input_size;
    uint32_t output_size;
    uint32_t worker;            //  index in the batch's worker table
    uint8_t status;
    uint8_t attempts;           //  times its handler started it (RESULTS)
    bool have;
} batch_record_t;

typedef struct {
    char host [256];
    uint32_t pid;
    uint64_t tasks;
    uint64_t busy_ns;
} batch_worker_t;

//  What a batch is besides its results: what BATCH messages said, and the
//  counters of the ventilators that ran it before the current one. The
//  sink's journal records it (journal.h).
typedef struct {
    uint64_t digest;
    bool total_known;
    uint64_t total;
    uint64_t iterations;
    uint64_t rejected;
    bool started;
    double start_wall;
    uint64_t redelivered;       //  the current ventilator's counters
    uint64_t worker_restarts;
    uint64_t redelivered_before;
    uint64_t worker_restarts_before;
} batch_meta_t;

typedef struct {
    uint64_t id;
    bool announced;             //  a BATCH message came
    uint64_t digest;            //  content digest (docs/protocol.md, BATCH)
    uint64_t redelivered;       //  the current ventilator's counters
    uint64_t worker_restarts;
    uint64_t redelivered_before;    //  its predecessors' (--resume)
    uint64_t worker_restarts_before;
    batch_meta_t journaled;     //  the meta last written to the journal
    bool total_known;
    uint64_t total;
    uint64_t so_far;            //  without the total: tasks that exist so far
    uint64_t iterations;
    uint64_t rejected;          //  input lines the ventilator refused
    bool started;
    double start_wall, end_wall;

    batch_record_t *records;    //  by task id
    uint64_t records_capacity;
    uint8_t *store;
    size_t store_size, store_capacity;
    uint64_t accepted, duplicates, steps;

    batch_worker_t *workers;
    size_t workers_size, workers_capacity;

    uint8_t ventilator [256];   //  routing id to send ACKs to
    size_t ventilator_size;
    int64_t ventilator_heard_us;    //  its last BATCH (monotonic), 0 never
    bool ventilator_silent;     //  said so in the log
    uint64_t *unacked;          //  ids accepted since the last ACK
    size_t unacked_size, unacked_capacity;

    //  The sink's counters since it started, copied in for the summary.
    uint64_t rejected_messages;
    uint64_t refused_connections;
} batch_t;

//  Create an empty batch with that id; NULL if out of memory.
batch_t *
    batch_new (uint64_t id);

//  Destroy; safe on NULL and twice.
void
    batch_destroy (batch_t **self_p);

//  Take what a BATCH message says. now_wall is the sink's clock.
//  Returns 0, or -1 if the total contradicts results already held.
int
    batch_announce (batch_t *self, const zp_batch_t *message, double now_wall);

//  A new ventilator took the batch over (--resume): what the last one
//  counted becomes part of the batch's totals.
void
    batch_carry_counters (batch_t *self);

//  The meta of a batch, and a batch restored from it (the journal).
void
    batch_meta (const batch_t *self, batch_meta_t *meta);
void
    batch_restore (batch_t *self, const batch_meta_t *meta);
bool
    batch_meta_equal (const batch_meta_t *a, const batch_meta_t *b);

//  Accept one result from (host, pid). Returns 1 if accepted, 0 if it was
//  a duplicate (counted), -1 if the task id is out of range or memory ran out
//  (the caller logs and counts it). now_wall is when the sink accepted it
//  (the journal's time, when the batch is read back).
int
    batch_accept (batch_t *self, const char *host, uint32_t pid,
                  const zp_result_t *result, double now_wall);

//  True when every task of the batch is in.
bool
    batch_complete (const batch_t *self);

//  Write the summary JSON document (README, "Output") to file. Returns 0,
//  or -1 on a write error (errno set).
int
    batch_write_summary (const batch_t *self, FILE *file, bool complete);

//  sink --format ndjson (README, "Output"). One result as one line,
//  {"batch", "task", "input" or "input_base64", "hash" or "error"}; every
//  result the batch holds so, in task order; and the summary as one line,
//  the members of batch_write_summary's document without "data". They
//  return 0, or -1 on a write error (errno set); only the summary flushes.
int
    batch_write_result_line (uint64_t batch, const zp_result_t *result, FILE *file);
int
    batch_write_result_lines (const batch_t *self, FILE *file);
int
    batch_write_summary_line (const batch_t *self, FILE *file, bool complete);

#endif
