/*  stats - the sink's table of worker processes (see stats.h).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "stats.h"
#include "zp_util.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct _stats_t {
    stats_row_t *rows;
    size_t size;
    size_t last;                //  the row found last: results come in runs
    int64_t tick_us;            //  the last stats_tick
    uint64_t gone_total;
    zp_ratelimit_t full;
};

stats_t *
stats_new (void)
{
    stats_t *self = (stats_t *) calloc (1, sizeof (stats_t));
    if (self)
        self->rows = (stats_row_t *) calloc (STATS_MAX_ROWS, sizeof (stats_row_t));
    if (self && !self->rows) {
        free (self);
        self = NULL;
    }
    return self;
}

void
stats_destroy (stats_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        free ((*self_p)->rows);
        free (*self_p);
        *self_p = NULL;
    }
}

//  The row of (host, pid), made if there is none (evicting the row heard
//  from least recently that is not alive, when the table is full). NULL
//  when every row is a live process.
static stats_row_t *
s_row (stats_t *self, const char *host, uint32_t pid, int64_t now_us)
{
    if (self->last < self->size && self->rows [self->last].pid == pid
    &&  streq (self->rows [self->last].host, host))
        return &self->rows [self->last];
    for (size_t i = 0; i < self->size; i++)
        if (self->rows [i].pid == pid && streq (self->rows [i].host, host)) {
            self->last = i;
            return &self->rows [i];
        }
    if (self->size == STATS_MAX_ROWS) {
        size_t victim = STATS_MAX_ROWS;
        for (size_t i = 0; i < self->size; i++)
            if (self->rows [i].state != STATS_ALIVE
            &&  (victim == STATS_MAX_ROWS || self->rows [i].last_us < self->rows [victim].last_us))
                victim = i;
        if (victim == STATS_MAX_ROWS) {
            zp_warn_limited (&self->full, "more than %d worker processes: %s/%u is not"
                             " shown", STATS_MAX_ROWS, host, pid);
            return NULL;
        }
        memmove (&self->rows [victim], &self->rows [victim + 1],
                 (self->size - victim - 1) * sizeof (stats_row_t));
        self->size--;
    }
    stats_row_t *row = &self->rows [self->size];
    memset (row, 0, sizeof *row);
    snprintf (row->host, sizeof row->host, "%s", host);
    row->pid = pid;
    row->state = STATS_ALIVE;
    row->interval_ms = STATS_DEFAULT_INTERVAL_MS;
    row->first_us = row->last_us = now_us;
    self->last = self->size++;
    return row;
}

//  A message from the process: it is alive (again).
static void
s_heard (stats_row_t *row, int64_t now_us)
{
    if (row->state == STATS_GONE)
        zp_info ("worker process %s/%u is back", row->host, row->pid);
    row->state = STATS_ALIVE;
    row->last_us = now_us;
}

int
stats_report (stats_t *self, const zp_msg_t *msg, int64_t now_us)
{
    assert (self);
    assert (msg && msg->type == ZP_STATS);
    const zp_stats_t *stats = &msg->u.stats;
    stats_row_t *row = s_row (self, stats->host, stats->pid, now_us);
    if (!row)
        return -1;
    s_heard (row, now_us);
    row->reported = true;
    snprintf (row->engine, sizeof row->engine, "%s", stats->engine);
    row->interval_ms = stats->interval_ms;
    row->uptime_ms = stats->uptime_ms;
    row->tasks = stats->tasks;
    row->steps = stats->steps;
    row->steps_per_s = stats->steps_per_s;
    row->rss_bytes = stats->rss_bytes;
    row->held = stats->held;
    row->running = stats->running;
    for (uint32_t i = 0; i < stats->running && i < STATS_MAX_RUNNING; i++)
        row->running_tasks [i] = zp_msg_stats_running (msg, i);
    if (stats->flags & ZP_STATS_LEAVING) {
        row->state = STATS_LEFT;
        row->steps_per_s = 0;
        row->running = 0;
    }
    return 0;
}

int
stats_results (stats_t *self, const char *host, uint32_t pid, uint64_t accepted,
               int64_t now_us)
{
    assert (self);
    stats_row_t *row = s_row (self, host, pid, now_us);
    if (!row)
        return -1;
    //  A result that was on its way when the process said goodbye does
    //  not bring it back.
    if (row->state != STATS_LEFT)
        s_heard (row, now_us);
    row->results += accepted;
    return 0;
}

size_t
stats_tick (stats_t *self, int64_t now_us)
{
    assert (self);
    //  A sink that was not looking (its loop busy writing a summary of a
    //  million results, or stopped) has reports queued unread: the time it
    //  was away is not the processes' silence.
    int64_t away_us = self->tick_us && now_us - self->tick_us > STATS_TICK_GAP_US
                    ? now_us - self->tick_us : 0;
    self->tick_us = now_us;
    size_t went = 0;
    for (size_t i = 0; i < self->size; i++) {
        stats_row_t *row = &self->rows [i];
        if (away_us > 0)
            row->last_us += away_us;
        int64_t silent_us = now_us - row->last_us;
        if (row->state == STATS_ALIVE
        &&  silent_us > (int64_t) row->interval_ms * 1000 * STATS_GONE_INTERVALS) {
            row->state = STATS_GONE;
            row->steps_per_s = 0;
            self->gone_total++;
            went++;
            zp_info ("worker process %s/%u is gone: nothing from it for %.1f s", row->host,
                     row->pid, (double) silent_us / 1e6);
        }
    }
    return went;
}

size_t
stats_size (const stats_t *self)
{
    assert (self);
    return self->size;
}

const stats_row_t *
stats_row (const stats_t *self, size_t index)
{
    assert (self);
    assert (index < self->size);
    return &self->rows [index];
}

size_t
stats_count (const stats_t *self, stats_state_t state)
{
    assert (self);
    size_t count = 0;
    for (size_t i = 0; i < self->size; i++)
        if (self->rows [i].state == state)
            count++;
    return count;
}

uint64_t
stats_gone_total (const stats_t *self)
{
    assert (self);
    return self->gone_total;
}

uint64_t
stats_rate (const stats_t *self)
{
    assert (self);
    uint64_t rate = 0;
    for (size_t i = 0; i < self->size; i++)
        if (self->rows [i].state == STATS_ALIVE)
            rate += self->rows [i].steps_per_s;
    return rate;
}

const char *
stats_state_name (stats_state_t state)
{
    switch (state) {
        case STATS_ALIVE: return "alive";
        case STATS_LEFT:  return "left";
        case STATS_GONE:  return "gone";
        default:          return "unknown";
    }
}
