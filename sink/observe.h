/*  observe - what the sink shows of itself: a plain view of the batch it is
    collecting and of its counters, which the sink's loop fills in, and the
    texts made from it and the process table (stats.h) for `--http`:
    /status as JSON and /metrics in the Prometheus text format (0.0.4).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef OBSERVE_H_INCLUDED
#define OBSERVE_H_INCLUDED

#include "stats.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    //  The batch shown: the open one announced last, else the last finished.
    bool have_batch;
    uint64_t batch;
    bool complete;
    bool started;
    bool total_known;           //  a streaming batch may not know it yet
    uint64_t total;
    uint64_t results;
    uint64_t iterations;
    uint64_t hashes;            //  chain steps of its accepted results
    uint64_t duplicates;
    uint64_t redelivered;
    uint64_t worker_restarts;
    double start_wall;          //  with started (or a first result)
    double end_wall;            //  with complete: the last result
    //  The sink's counters since it started.
    uint64_t results_total;
    uint64_t hashes_total;
    uint64_t failed_total;
    uint64_t duplicates_total;
    uint64_t redelivered_total;
    uint64_t batches_completed;
    uint64_t rejected_messages;
    uint64_t refused_connections;
    double sink_start_wall;
} observe_view_t;

//  Hashes per second for the batch: what the live worker processes report
//  now while it runs, the average over the batch once it is complete (or
//  when no process reports). 0 when nothing is known.
double
    observe_rate (const observe_view_t *view, const stats_t *stats, double now_wall);

//  Seconds left at that rate; negative when unknown (no total, no rate).
double
    observe_eta (const observe_view_t *view, double rate);

//  /status: the batch, the counters and one row per worker process, as a
//  NUL-terminated JSON text. The caller frees it; NULL if out of memory.
char *
    observe_status_json (const observe_view_t *view, const stats_t *stats, double now_wall,
                         int64_t now_us);

//  /metrics: the same in the Prometheus text format. The caller frees it;
//  NULL if out of memory.
char *
    observe_metrics (const observe_view_t *view, const stats_t *stats, double now_wall);

#endif
