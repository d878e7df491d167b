/*  crashy - a handler library for tests/e2e/handlers.sh that misbehaves on
    purpose: the input "segfault" kills its process with SIGSEGV, "sleep"
    takes 5 s (longer than the ventilator's heartbeat timeout), "fail"
    fails the task with a reason, "binary" answers bytes that are not
    UTF-8; any other input is answered reversed, prefixed with the
    --handler-arg prefix=... (default none).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zpipe_handler.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char prefix [64];
    uint8_t *output;
} state_t;

static void *
s_init (const zpipe_handler_arg_t *args, size_t args_n, char *error, size_t error_size)
{
    state_t *state = (state_t *) calloc (1, sizeof (state_t));
    if (!state)
        return NULL;
    for (size_t i = 0; i < args_n; i++) {
        if (strcmp (args [i].key, "prefix") != 0) {
            snprintf (error, error_size, "unknown argument '%s'", args [i].key);
            free (state);
            return NULL;
        }
        snprintf (state->prefix, sizeof state->prefix, "%s", args [i].value);
    }
    return state;
}

static int
s_process (void *argument, zpipe_task_t *task)
{
    state_t *state = (state_t *) argument;
    if (task->input_size == 8 && memcmp (task->input, "segfault", 8) == 0) {
        //  The kernel's default action, not a sanitizer's report and exit:
        //  the crash is what the test wants, and `make check` takes any
        //  sanitizer report for a bug.
        signal (SIGSEGV, SIG_DFL);
        raise (SIGSEGV);
    }
    if (task->input_size == 5 && memcmp (task->input, "sleep", 5) == 0) {
        //  Longer than the ventilator's heartbeat timeout (3 s)
        struct timespec left = { 5, 0 };
        while (nanosleep (&left, &left) == -1)
            ;
    }
    if (task->input_size == 4 && memcmp (task->input, "fail", 4) == 0) {
        task->error = "crashy: told to fail";
        return -1;
    }
    if (task->input_size == 6 && memcmp (task->input, "binary", 6) == 0) {
        static const uint8_t bytes [] = { 0xff, 0x00, 0xfe };
        task->output = bytes;
        task->output_size = sizeof bytes;
        return 0;
    }
    size_t prefix = strlen (state->prefix);
    free (state->output);
    state->output = (uint8_t *) malloc (prefix + task->input_size + 1);
    if (!state->output) {
        task->error = "out of memory";
        return -1;
    }
    memcpy (state->output, state->prefix, prefix);
    for (size_t i = 0; i < task->input_size; i++)
        state->output [prefix + i] = task->input [task->input_size - 1 - i];
    task->output = state->output;
    task->output_size = prefix + task->input_size;
    return 0;
}

#ifdef CRASHY_BATCH
//  Built with -DCRASHY_BATCH=N (libcrashy-batch.so): the same, through
//  process_batch, N tasks a call. Outputs live until the next call, so each
//  task of a call gets its own copy.
static void
s_process_batch (void *argument, zpipe_task_t *tasks, size_t count)
{
    static uint8_t *outputs [CRASHY_BATCH];
    for (size_t i = 0; i < count; i++) {
        free (outputs [i]);
        outputs [i] = NULL;
        if (s_process (argument, &tasks [i]) == 0 && tasks [i].output_size) {
            outputs [i] = (uint8_t *) malloc (tasks [i].output_size);
            if (outputs [i])
                memcpy (outputs [i], tasks [i].output, tasks [i].output_size);
            tasks [i].output = outputs [i];
        }
    }
}
#endif

static void
s_fini (void *argument)
{
    state_t *state = (state_t *) argument;
    free (state->output);
    free (state);
}

static const zpipe_handler_t s_handler = {
    .abi_version = ZPIPE_HANDLER_ABI_VERSION,
    .name = "crashy",
    .init = s_init,
    .process = s_process,
#ifdef CRASHY_BATCH
    .process_batch = s_process_batch,
    .max_batch = CRASHY_BATCH,
#endif
    .fini = s_fini
};

const zpipe_handler_t *zpipe_handler (void);

const zpipe_handler_t *
zpipe_handler (void)
{
    return &s_handler;
}
