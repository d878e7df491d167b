/*  handler - what a worker process runs for a task: the built-in SHA-512
    chain (sha512-chain, driven by the multi-lane engine in process.c), a
    shared library (zpipe_handler.h) or a command (exec.h).

    The supervisor loads a library once, before it forks (handler_load),
    so that a bad one is refused with one message. Each process then runs
    its handler in a runner: a thread of its own that takes a few tasks at
    a time and signals an eventfd when they are done, so that the process's
    main thread keeps its ZeroMQ loop (heartbeats, stops) while a task runs
    for as long as it takes.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef HANDLER_H_INCLUDED
#define HANDLER_H_INCLUDED

#include "zpipe_handler.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HANDLER_BUILTIN   "sha512-chain"
#define HANDLER_MAX_ARGS  64
//  Most tasks in one runner call (process_batch), and in the crash marks.
#define HANDLER_MAX_BATCH 64

typedef struct {
    const char *name;           //  --handler: HANDLER_BUILTIN or a library path
    const char *exec;           //  --exec command, or NULL
    bool persistent;            //  --exec-persistent
    zpipe_handler_arg_t args [HANDLER_MAX_ARGS];
    size_t args_n;
    //  Set by handler_load for a library:
    const zpipe_handler_t *library;
    void *dl;
} handler_spec_t;

//  True if spec runs the built-in chain in the engine.
bool
    handler_is_builtin (const handler_spec_t *spec);

//  Split "KEY=VALUE" into arg (key is allocated, value points into text).
//  Returns 0, or -1 for text without '=' or with an empty key.
int
    handler_arg_parse (const char *text, zpipe_handler_arg_t *arg);

//  Load a library handler: dlopen, the zpipe_handler symbol, its ABI
//  version, and one init/fini with the arguments. Returns 0, or EX_CONFIG
//  after logging one line that says what is wrong. Nothing to do (0) for
//  the built-in handler and --exec.
int
    handler_load (handler_spec_t *spec);

//  The name a process reports (READY's engine field).
const char *
    handler_name (const handler_spec_t *spec);

typedef struct _runner_t runner_t;

//  One finished task, from runner_take.
typedef struct {
    uint64_t tag;
    bool ok;
    const uint8_t *output;      //  the result or the reason; valid until the
    size_t output_size;         //  next runner_start
    uint64_t busy_ns;           //  its share of the call's time
} runner_result_t;

//  Start the handler's thread (init runs here, in the calling thread).
//  Returns NULL after logging why. timeout_s bounds an --exec command;
//  group (or NULL) is where its process group is published (exec_new).
runner_t *
    runner_new (const handler_spec_t *spec, uint64_t timeout_s, atomic_int *group);

//  Stop the thread and tear the handler down. A library call that is still
//  running is not waited for (it cannot be interrupted): the thread is
//  left to the process's exit, and fini is not called.
void
    runner_destroy (runner_t **self_p);

//  Most tasks one call takes, and how many more can be loaded now (0 while
//  a call runs or results wait to be taken).
size_t
    runner_lanes (const runner_t *self);
size_t
    runner_free (const runner_t *self);

//  Add a task to the next call; input must stay valid until it is taken.
//  Returns 0, or -1 if no room.
int
    runner_load (runner_t *self, const uint8_t *input, size_t size, uint64_t id,
                 uint64_t iterations, uint64_t tag);

//  True while no call runs and no result waits: tasks loaded now go with
//  the next runner_start.
bool
    runner_idle (const runner_t *self);

//  Hand the loaded tasks to the thread. Returns how many (0: none loaded,
//  or a call runs).
size_t
    runner_start (runner_t *self);

//  A file descriptor that polls readable when a call has finished.
int
    runner_fd (const runner_t *self);

//  Tasks loaded or running or not yet taken.
size_t
    runner_busy (const runner_t *self);

//  Take one finished task. Returns 0, or -1 if none is finished.
int
    runner_take (runner_t *self, runner_result_t *result);

#endif
