/*  progress - the sink's progress bar (see progress.h).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "progress.h"
#include "zp_util.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define REDRAW_US 250000
#define BAR_WIDTH 24

struct _progress_t {
    int64_t drawn_us;           //  when the bar was last drawn
    uint64_t batch;             //  the batch whose bar is on the line, finished or not
    bool finished;              //  that batch's bar is ended
};

//  Whether a bar is on the line now; log lines can come from other
//  threads (the CURVE handler), hence atomic.
static atomic_bool s_on_line;

//  Before a log line: clear the bar, so the line starts at column 0; the
//  next update draws the bar again below it.
static void
s_before_log (void)
{
    if (atomic_exchange (&s_on_line, false))
        fputs ("\r\033[K", stderr);
}

progress_t *
progress_new (int verbosity)
{
    if (verbosity < 1 || !isatty (STDERR_FILENO))
        return NULL;
    progress_t *self = (progress_t *) calloc (1, sizeof (progress_t));
    if (self)
        zp_log_hook (s_before_log);
    return self;
}

void
progress_destroy (progress_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        zp_log_hook (NULL);
        if (atomic_exchange (&s_on_line, false))
            fputc ('\n', stderr);
        free (*self_p);
        *self_p = NULL;
    }
}

//  "12.3 M" for 12345678: three significant digits and an SI prefix.
static void
s_si (char *dest, size_t size, double value)
{
    const char *prefixes [] = { "", " k", " M", " G", " T", " P" };
    size_t prefix = 0;
    while (value >= 1000 && prefix < 5) {
        value /= 1000;
        prefix++;
    }
    snprintf (dest, size, value < 10 && prefix ? "%.2f%s" : value < 100 && prefix ? "%.1f%s"
              : "%.0f%s", value, prefixes [prefix]);
}

static void
s_duration (char *dest, size_t size, double seconds)
{
    uint64_t s = (uint64_t) (seconds + 0.5);
    if (s >= 3600)
        snprintf (dest, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
    else
        snprintf (dest, size, "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
}

static void
s_draw (progress_t *self, const observe_view_t *view, const stats_t *stats)
{
    char line [256], rate_text [32], eta_text [48] = "";
    double now = zp_wall_s ();
    double rate = observe_rate (view, stats, now);
    s_si (rate_text, sizeof rate_text, rate);
    size_t alive = stats_count (stats, STATS_ALIVE);
    if (view->total_known) {
        double fraction = view->total ? (double) view->results / (double) view->total : 1.0;
        if (view->complete)
            fraction = 1.0;
        char bar [BAR_WIDTH + 1];
        size_t full = (size_t) (fraction * BAR_WIDTH);
        for (size_t i = 0; i < BAR_WIDTH; i++)
            bar [i] = i < full ? '#' : '.';
        bar [BAR_WIDTH] = 0;
        double eta = observe_eta (view, rate);
        if (view->complete)
            snprintf (eta_text, sizeof eta_text, ", done");
        else
        if (eta >= 0) {
            char duration [32];
            s_duration (duration, sizeof duration, eta);
            snprintf (eta_text, sizeof eta_text, ", ETA %s", duration);
        }
        snprintf (line, sizeof line, "[%s] %5.1f %% %" PRIu64 "/%" PRIu64 " tasks, %sH/s%s, %zu"
                  " worker process%s", bar, fraction * 100, view->results, view->total,
                  rate_text, eta_text, alive, alive == 1 ? "" : "es");
    }
    else
        //  A batch whose total is not known yet (streaming): no bar, no ETA.
        snprintf (line, sizeof line, "%" PRIu64 " tasks done, %sH/s, %zu worker process%s",
                  view->results, rate_text, alive, alive == 1 ? "" : "es");
    fprintf (stderr, "\r\033[K%s", line);
    atomic_store (&s_on_line, true);
    self->drawn_us = zp_mono_us ();
    self->batch = view->batch;
}

void
progress_update (progress_t *self, const observe_view_t *view, const stats_t *stats)
{
    if (!self || !view->have_batch || (!view->started && !view->results))
        return;
    if (view->batch == self->batch && self->finished)
        return;                 //  its final line is out
    if (zp_mono_us () - self->drawn_us < REDRAW_US)
        return;
    if (view->batch != self->batch)
        self->finished = false;
    s_draw (self, view, stats);
}

void
progress_finish (progress_t *self, const observe_view_t *view, const stats_t *stats)
{
    if (!self || !view->have_batch)
        return;
    s_draw (self, view, stats);
    fputc ('\n', stderr);
    atomic_store (&s_on_line, false);
    self->finished = true;
}
