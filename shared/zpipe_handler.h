/*  zpipe_handler.h - the C ABI of a zpipe task handler (a shared library).

    `worker --handler ./libmytask.so` loads the library with dlopen and calls
    the one function it must export, zpipe_handler (), for the descriptor
    below. The worker refuses, before it starts any process, a library it
    cannot load, one without the symbol, and one whose descriptor's
    abi_version is not the ZPIPE_HANDLER_ABI_VERSION it was built with.

    The worker calls init and fini once at start, to try the arguments.
    Then each worker process (one per core, forked) calls init once from
    its main thread, process (or process_batch) for its tasks one call at a
    time from a thread of its own (so that the process goes on heartbeating
    while a call runs), and fini when it stops. A handler keeps its state in
    what init returns; it needs no locking of its own. A call that is still
    running when the process stops at once is not waited for, and fini is
    then not called.

    A handler that crashes (a segfault, abort) kills only its worker
    process: the worker starts a new one, the tasks that were in that call
    are counted as attempted and handed out again, and a task that crashed
    the handler --max-attempts times is reported as failed.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef ZPIPE_HANDLER_H_INCLUDED
#define ZPIPE_HANDLER_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Raised whenever a field below changes meaning or place.
#define ZPIPE_HANDLER_ABI_VERSION 1

//  The symbol the worker looks up.
#define ZPIPE_HANDLER_SYMBOL "zpipe_handler"

//  One --handler-arg KEY=VALUE, in the order given on the command line.
typedef struct {
    const char *key;
    const char *value;
} zpipe_handler_arg_t;

//  One task. The worker fills the first four fields; the handler sets
//  output (and output_size) on success, or error on failure. Both point
//  to memory the handler owns, which must stay valid until its next
//  process, process_batch or fini call.
typedef struct {
    uint64_t id;                //  the task's position in its batch
    uint64_t iterations;        //  the task's iterations (ventilator -N), >= 1
    const uint8_t *input;       //  the task's bytes (its input line, no newline)
    size_t input_size;
    const uint8_t *output;      //  out: the result, any bytes
    size_t output_size;
    const char *error;          //  out: NULL, or why the task failed
} zpipe_task_t;

typedef struct {
    //  ZPIPE_HANDLER_ABI_VERSION: first, so that it can always be read.
    uint32_t abi_version;
    //  Short name, shown in logs and sent to the ventilator.
    const char *name;
    //  Set up from the --handler-arg pairs. Returns the handler's state
    //  (any non-NULL pointer), or NULL after writing one line that says
    //  why into error (error_size bytes, NUL-terminated). Optional.
    void *(*init) (const zpipe_handler_arg_t *args, size_t args_n,
                   char *error, size_t error_size);
    //  Run one task. Returns 0 with output set, or -1 with error set.
    int (*process) (void *state, zpipe_task_t *task);
    //  Optional: run count tasks (1 ... max_batch) in one call; each one
    //  succeeds (output set, error NULL) or fails (error set) on its own.
    //  When it is set, the worker uses it instead of process.
    void (*process_batch) (void *state, zpipe_task_t *tasks, size_t count);
    size_t max_batch;           //  with process_batch: at most this many (<= 64)
    //  Tear down what init made. Optional.
    void (*fini) (void *state);
} zpipe_handler_t;

//  What a handler library exports, by this name:
//      const zpipe_handler_t *zpipe_handler (void);
typedef const zpipe_handler_t *(*zpipe_handler_fn) (void);

#ifdef __cplusplus
}
#endif

#endif
