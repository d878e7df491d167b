/*  stats - the sink's table of worker processes: the latest STATS report of
    each (docs/protocol.md), the results the sink accepted from it, and
    whether it is alive, left (said so) or gone (silent for three of its
    report intervals). Rows stay after a process leaves or goes, so that
    an operator sees what happened; the table is bounded, and when it is
    full the row heard from least recently that is not alive makes room.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef STATS_H_INCLUDED
#define STATS_H_INCLUDED

#include "zp_proto.h"

#include <stdbool.h>
#include <stdint.h>

//  Most rows kept, and most running task ids kept per row.
#define STATS_MAX_ROWS    1024
#define STATS_MAX_RUNNING 64
//  Silent for this many report intervals: gone.
#define STATS_GONE_INTERVALS 3
//  stats_tick is called often (every 10 ms); a longer gap between two
//  calls, beyond this, is time the sink was away, not silence.
#define STATS_TICK_GAP_US 250000
//  The interval assumed for a process that has sent results but no STATS.
#define STATS_DEFAULT_INTERVAL_MS 1000

typedef enum {
    STATS_ALIVE = 0,
    STATS_LEFT,                 //  its last STATS said LEAVING
    STATS_GONE                  //  silent for three intervals
} stats_state_t;

typedef struct {
    char host [256];
    uint32_t pid;
    char engine [256];          //  "" until it reports
    stats_state_t state;
    bool reported;              //  a STATS came (otherwise only results)
    int64_t first_us, last_us;  //  monotonic: first and latest message from it
    uint32_t interval_ms;
    uint64_t uptime_ms;
    uint64_t tasks;             //  as it reports them
    uint64_t steps;
    uint64_t steps_per_s;
    uint64_t rss_bytes;
    uint32_t held;
    uint32_t running;           //  in the engine now (its report)
    zp_ref_t running_tasks [STATS_MAX_RUNNING];     //  the first of them
    uint64_t results;           //  results this sink accepted from it
} stats_row_t;

typedef struct _stats_t stats_t;

//  Create an empty table; NULL if out of memory. The caller destroys it.
stats_t *
    stats_new (void);

//  Destroy; safe on NULL and twice.
void
    stats_destroy (stats_t **self_p);

//  Take a decoded STATS message (msg->type is ZP_STATS) received at now_us
//  (monotonic). Returns 0, or -1 when the table is full of live processes.
int
    stats_report (stats_t *self, const zp_msg_t *msg, int64_t now_us);

//  Count results accepted from (host, pid): a sign of life too. Returns 0,
//  or -1 when the table is full of live processes.
int
    stats_results (stats_t *self, const char *host, uint32_t pid, uint64_t accepted,
                   int64_t now_us);

//  Mark the processes silent for STATS_GONE_INTERVALS of their interval as
//  gone (logged). Call it often: a gap between calls longer than
//  STATS_TICK_GAP_US (the caller was busy) does not count as silence.
//  Returns how many went now.
size_t
    stats_tick (stats_t *self, int64_t now_us);

//  Rows, in the order processes were first heard from.
size_t
    stats_size (const stats_t *self);
const stats_row_t *
    stats_row (const stats_t *self, size_t index);

//  Processes in a state now; processes taken as gone since the sink started.
size_t
    stats_count (const stats_t *self, stats_state_t state);
uint64_t
    stats_gone_total (const stats_t *self);

//  Sum of steps_per_s over the live processes that report.
uint64_t
    stats_rate (const stats_t *self);

//  "alive", "left" or "gone".
const char *
    stats_state_name (stats_state_t state);

#endif
