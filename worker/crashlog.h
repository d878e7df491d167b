/*  crashlog - which tasks crashed a handler, and how often.

    Shared memory (MAP_SHARED, made by the supervisor before it forks), so
    that it survives the process that crashed:

    * each worker process marks the tasks it has inside a handler call
      (crashlog_running) and clears the marks when the call returns, so
      only those tasks, not the ones waiting in the same process, are
      blamed when the process dies;
    * the supervisor, on a process's death, counts one attempt for each
      marked task (crashlog_reap);
    * every process looks a task up when it arrives (crashlog_attempts) and
      fails it, instead of running it, once it crashed --max-attempts times.

    Only the supervisor writes the table; the processes only read it. It
    holds the last CRASHLOG_TASKS tasks that crashed (older ones are
    forgotten, and would be tried again).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef CRASHLOG_H_INCLUDED
#define CRASHLOG_H_INCLUDED

#include "zp_proto.h"

#include <stddef.h>
#include <stdint.h>

#include <stdatomic.h>

#define CRASHLOG_TASKS 4096
#define CRASHLOG_MARKS 64

typedef struct _crashlog_t crashlog_t;

//  Shared memory for processes worker processes. Returns NULL (logged) on
//  failure. The supervisor owns it; the forked processes inherit it.
crashlog_t *
    crashlog_new (size_t processes);

void
    crashlog_destroy (crashlog_t **self_p);

//  Process `process` is now running refs [0 .. count) in its handler
//  (count <= CRASHLOG_MARKS; 0 clears the marks).
void
    crashlog_running (crashlog_t *self, size_t process, const zp_ref_t *refs, size_t count);

//  Process `process` died (wstatus: its status from waitpid): one more
//  attempt for every task it had marked, and SIGKILL for the process group
//  of its --exec command if it had one. Clears its marks. Returns how many
//  tasks were counted.
size_t
    crashlog_reap (crashlog_t *self, size_t process, int wstatus);

//  True while another process than `process` has ref in its handler call,
//  or died in that call and has not been reaped yet: a copy of the task
//  (the ventilator sends copies for stragglers) waits until then, so two
//  runs of one task never crash at once and count one attempt too many.
bool
    crashlog_running_elsewhere (const crashlog_t *self, size_t process, zp_ref_t ref);

//  Where process `process` keeps the process group of the --exec command it
//  runs (0: none), so that the supervisor can kill what a process that was
//  killed itself leaves behind.
atomic_int *
    crashlog_command_group (crashlog_t *self, size_t process);

//  How many times ref crashed a handler so far (0 if never), and the
//  waitpid status of its last crash.
uint32_t
    crashlog_attempts (const crashlog_t *self, zp_ref_t ref, int *wstatus);

#endif
