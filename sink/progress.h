/*  progress - the sink's progress bar on a terminal: the batch's done /
    total, the rate in hashes per second, the time left and the worker
    processes alive, redrawn on one line of stderr at most four times a
    second. Off unless stderr is a terminal (and not with -q); stdout, the
    summary's, never sees it. Log lines clear the bar first (zp_log_hook)
    and it is drawn again below them.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef PROGRESS_H_INCLUDED
#define PROGRESS_H_INCLUDED

#include "observe.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct _progress_t progress_t;

//  Create the bar; NULL (no bar, nothing to do) when stderr is not a
//  terminal or verbosity is 0. The caller destroys it.
progress_t *
    progress_new (int verbosity);

//  Destroy: a bar left on the line is ended with a newline. Safe on NULL
//  and twice.
void
    progress_destroy (progress_t **self_p);

//  Draw the batch the view shows, unless the bar was drawn less than a
//  quarter of a second ago. Safe on NULL.
void
    progress_update (progress_t *self, const observe_view_t *view, const stats_t *stats);

//  The batch is done: draw its final state now and end the line, so the
//  next batch's bar starts on a line of its own. Safe on NULL.
void
    progress_finish (progress_t *self, const observe_view_t *view, const stats_t *stats);

#endif
