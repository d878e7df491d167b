/*  exec - run a shell command per task (--exec), or one long-lived command
    that answers one line per task (--exec-persistent).

    The task's bytes go to the command's stdin, its stdout is the result
    (at most EXEC_MAX_OUTPUT bytes; one trailing newline is stripped), a
    non-zero exit, a death by signal or a timeout fails the task, with the
    last EXEC_TAIL bytes of its stderr as the reason. The command runs as
    `/bin/sh -c CMD` in a process group of its own, so that a timeout kills
    everything it started (SIGTERM, then SIGKILL 2 s later).

    Calls block, so they are made from the worker process's handler thread
    (runner.c); they look at *stop at least every 100 ms and give up (and
    kill the command) when it is set.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef EXEC_H_INCLUDED
#define EXEC_H_INCLUDED

#include "zpipe_handler.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EXEC_MAX_OUTPUT (UINT64_C (64) << 20)
#define EXEC_TAIL       1024

//  The last EXEC_TAIL bytes written to a stream.
typedef struct {
    char data [EXEC_TAIL];
    size_t start, size;
} exec_tail_t;

//  Append bytes, keeping only the last EXEC_TAIL.
void
    exec_tail_append (exec_tail_t *self, const void *data, size_t size);

//  Write the tail into buffer as one line: NUL-terminated, newlines and
//  other control bytes shown as spaces, surrounding blanks trimmed.
//  Returns the string's length.
size_t
    exec_tail_text (const exec_tail_t *self, char *buffer, size_t size);

//  The size of output without one trailing "\n".
size_t
    exec_output_trim (const uint8_t *output, size_t size);

typedef struct _exec_t exec_t;

//  A runner of command (copied). timeout_s: longest a task may take.
//  stop: set by another thread to make a running call give up. group, if
//  not NULL, holds the running command's process group (0 when none), for
//  whoever must kill it if this process dies. Returns NULL if out of memory.
exec_t *
    exec_new (const char *command, bool persistent, uint64_t timeout_s,
              atomic_bool *stop, atomic_int *group);

//  Kill a persistent command, free everything; safe on NULL and twice.
void
    exec_destroy (exec_t **self_p);

//  Run one task: sets task->output (the runner's memory, valid until the
//  next call) and returns 0, or sets task->error and returns -1.
int
    exec_run (exec_t *self, zpipe_task_t *task);

#endif
