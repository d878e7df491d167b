/*  handler - library loading and the handler thread of a worker process.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "handler.h"
#include "exec.h"
#include "zp_util.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <unistd.h>

bool
handler_is_builtin (const handler_spec_t *spec)
{
    return !spec->exec && strcmp (spec->name, HANDLER_BUILTIN) == 0;
}

int
handler_arg_parse (const char *text, zpipe_handler_arg_t *arg)
{
    const char *equals = strchr (text, '=');
    if (!equals || equals == text)
        return -1;
    char *key = strndup (text, (size_t) (equals - text));
    if (!key)
        return -1;
    arg->key = key;
    arg->value = equals + 1;
    return 0;
}

const char *
handler_name (const handler_spec_t *spec)
{
    if (spec->exec)
        return spec->persistent ? "exec-persistent" : "exec";
    if (spec->library && spec->library->name)
        return spec->library->name;
    return spec->name;
}

int
handler_load (handler_spec_t *spec)
{
    if (spec->exec || handler_is_builtin (spec))
        return 0;
    //  RTLD_NOW: an unresolved symbol is refused here, not in a task.
    spec->dl = dlopen (spec->name, RTLD_NOW | RTLD_LOCAL);
    if (!spec->dl) {
        zp_error ("--handler: can't load %s: %s", spec->name, dlerror ());
        return EX_CONFIG;
    }
    zpipe_handler_fn entry;
    //  The ISO C way to turn dlsym's object pointer into a function pointer
    *(void **) (&entry) = dlsym (spec->dl, ZPIPE_HANDLER_SYMBOL);
    const zpipe_handler_t *library = entry ? entry () : NULL;
    if (!library) {
        zp_error ("--handler: %s is not a zpipe handler: it exports no %s() that returns"
                  " a descriptor", spec->name, ZPIPE_HANDLER_SYMBOL);
        return EX_CONFIG;
    }
    if (library->abi_version != ZPIPE_HANDLER_ABI_VERSION) {
        zp_error ("--handler: %s is built for handler ABI version %u, this worker takes"
                  " version %d: rebuild it against this zpipe_handler.h", spec->name,
                  library->abi_version, ZPIPE_HANDLER_ABI_VERSION);
        return EX_CONFIG;
    }
    if (!library->process && !library->process_batch) {
        zp_error ("--handler: %s has neither process nor process_batch", spec->name);
        return EX_CONFIG;
    }
    if (library->process_batch && (library->max_batch < 1 || library->max_batch > HANDLER_MAX_BATCH)) {
        zp_error ("--handler: %s: max_batch %zu is not in 1...%d", spec->name,
                  library->max_batch, HANDLER_MAX_BATCH);
        return EX_CONFIG;
    }
    spec->library = library;
    //  Arguments it refuses are a configuration error: said once, here.
    if (library->init) {
        char error [256] = "";
        void *state = library->init (spec->args, spec->args_n, error, sizeof error);
        if (!state) {
            zp_error ("--handler-arg: %s refused its arguments: %s", spec->name,
                      *error ? error : "(it gave no reason)");
            return EX_CONFIG;
        }
        if (library->fini)
            library->fini (state);
    }
    return 0;
}

//  --- The runner ----------------------------------------------------------------

#define RUNNER_IDLE    0        //  the main thread loads tasks
#define RUNNER_RUNNING 1        //  the thread runs them
#define RUNNER_DONE    2        //  the main thread takes the results

struct _runner_t {
    const handler_spec_t *spec;
    void *state;                //  the library's
    exec_t *exec;
    pthread_t thread;
    bool started;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    atomic_int phase;
    atomic_bool stop;
    int done_fd;                //  eventfd: a call has finished
    size_t lanes;
    zpipe_task_t tasks [HANDLER_MAX_BATCH];
    uint64_t tags [HANDLER_MAX_BATCH];
    size_t loaded, taken;
    uint64_t call_ns;
};

static void
s_run_call (runner_t *self)
{
    const zpipe_handler_t *library = self->spec->library;
    for (size_t i = 0; i < self->loaded; i++) {
        self->tasks [i].output = NULL;
        self->tasks [i].output_size = 0;
        self->tasks [i].error = NULL;
    }
    int64_t begin = zp_mono_us ();
    if (self->exec)
        for (size_t i = 0; i < self->loaded && !atomic_load (&self->stop); i++)
            exec_run (self->exec, &self->tasks [i]);
    else
    if (library->process_batch)
        library->process_batch (self->state, self->tasks, self->loaded);
    else
        for (size_t i = 0; i < self->loaded; i++)
            if (library->process (self->state, &self->tasks [i]) && !self->tasks [i].error)
                self->tasks [i].error = "the handler failed and gave no reason";
    self->call_ns = (uint64_t) (zp_mono_us () - begin) * 1000;
}

static void *
s_thread (void *argument)
{
    runner_t *self = (runner_t *) argument;
    //  The stop signals are the main thread's; a handler's own (SIGSEGV,
    //  SIGABRT, raise) must still end the process.
    sigset_t stops;
    sigemptyset (&stops);
    sigaddset (&stops, SIGTERM);
    sigaddset (&stops, SIGINT);
    sigaddset (&stops, SIGHUP);
    pthread_sigmask (SIG_BLOCK, &stops, NULL);
    pthread_mutex_lock (&self->mutex);
    while (!atomic_load (&self->stop)) {
        if (atomic_load (&self->phase) != RUNNER_RUNNING) {
            pthread_cond_wait (&self->wake, &self->mutex);
            continue;
        }
        pthread_mutex_unlock (&self->mutex);
        s_run_call (self);
        pthread_mutex_lock (&self->mutex);
        //  The eventfd first: whoever sees DONE then finds it to read, so it
        //  is never left readable (the loop would spin) after the results
        //  are taken.
        uint64_t one = 1;
        if (write (self->done_fd, &one, sizeof one) != sizeof one)
            zp_error ("write to the handler's eventfd: %s", strerror (errno));
        atomic_store (&self->phase, RUNNER_DONE);
    }
    pthread_mutex_unlock (&self->mutex);
    return NULL;
}

runner_t *
runner_new (const handler_spec_t *spec, uint64_t timeout_s, atomic_int *group)
{
    runner_t *self = (runner_t *) calloc (1, sizeof (runner_t));
    if (!self) {
        zp_error ("out of memory");
        return NULL;
    }
    self->spec = spec;
    self->done_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->wake, NULL);
    atomic_init (&self->phase, RUNNER_IDLE);
    atomic_init (&self->stop, false);
    self->lanes = 1;
    if (self->done_fd == -1) {
        zp_error ("eventfd: %s", strerror (errno));
        runner_destroy (&self);
        return NULL;
    }
    if (spec->exec) {
        //  A command that exits without reading its input must not kill us.
        signal (SIGPIPE, SIG_IGN);
        self->exec = exec_new (spec->exec, spec->persistent, timeout_s, &self->stop, group);
        if (!self->exec) {
            zp_error ("out of memory");
            runner_destroy (&self);
            return NULL;
        }
    }
    else {
        const zpipe_handler_t *library = spec->library;
        if (library->process_batch)
            self->lanes = library->max_batch;
        self->state = self;     //  any non-NULL pointer, for a handler without init
        if (library->init) {
            char error [256] = "";
            self->state = library->init (spec->args, spec->args_n, error, sizeof error);
            if (!self->state) {
                zp_error ("--handler-arg: %s refused its arguments: %s", spec->name, error);
                runner_destroy (&self);
                return NULL;
            }
        }
    }
    int rc = pthread_create (&self->thread, NULL, s_thread, self);
    if (rc) {
        zp_error ("pthread_create: %s", strerror (rc));
        runner_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
runner_destroy (runner_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    runner_t *self = *self_p;
    bool in_library = self->started && !self->exec
                   && atomic_load (&self->phase) == RUNNER_RUNNING;
    if (self->started) {
        pthread_mutex_lock (&self->mutex);
        atomic_store (&self->stop, true);
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->mutex);
        if (in_library) {
            //  It cannot be interrupted; the process's exit ends it.
            pthread_detach (self->thread);
            *self_p = NULL;
            return;
        }
        pthread_join (self->thread, NULL);
    }
    exec_destroy (&self->exec);
    const zpipe_handler_t *library = self->spec->library;
    if (library && library->fini && self->state && self->state != self)
        library->fini (self->state);
    if (self->done_fd >= 0)
        close (self->done_fd);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->mutex);
    free (self);
    *self_p = NULL;
}

size_t
runner_lanes (const runner_t *self)
{
    return self->lanes;
}

size_t
runner_free (const runner_t *self)
{
    if (atomic_load (&self->phase) != RUNNER_IDLE)
        return 0;
    return self->lanes - self->loaded;
}

int
runner_load (runner_t *self, const uint8_t *input, size_t size, uint64_t id,
             uint64_t iterations, uint64_t tag)
{
    if (runner_free (self) == 0)
        return -1;
    self->tasks [self->loaded] = (zpipe_task_t) {
        .id = id, .iterations = iterations, .input = input, .input_size = size
    };
    self->tags [self->loaded++] = tag;
    return 0;
}

bool
runner_idle (const runner_t *self)
{
    return atomic_load (&self->phase) == RUNNER_IDLE;
}

size_t
runner_start (runner_t *self)
{
    if (atomic_load (&self->phase) != RUNNER_IDLE || self->loaded == 0)
        return 0;
    pthread_mutex_lock (&self->mutex);
    self->taken = 0;
    atomic_store (&self->phase, RUNNER_RUNNING);
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->mutex);
    return self->loaded;
}

int
runner_fd (const runner_t *self)
{
    return self->done_fd;
}

size_t
runner_busy (const runner_t *self)
{
    return self->loaded - self->taken;
}

int
runner_take (runner_t *self, runner_result_t *result)
{
    if (atomic_load (&self->phase) != RUNNER_DONE)
        return -1;
    if (self->taken == 0) {
        uint64_t count;
        if (read (self->done_fd, &count, sizeof count) < 0 && errno != EAGAIN)
            zp_error ("read from the handler's eventfd: %s", strerror (errno));
    }
    zpipe_task_t *task = &self->tasks [self->taken];
    result->tag = self->tags [self->taken];
    result->busy_ns = self->call_ns / self->loaded;
    self->taken++;
    result->ok = task->error == NULL;
    if (result->ok) {
        result->output = task->output;
        result->output_size = task->output ? task->output_size : 0;
    }
    else {
        result->output = (const uint8_t *) task->error;
        result->output_size = strlen (task->error);
    }
    if (self->taken == self->loaded) {
        //  All taken: the outputs stay valid until the next runner_start.
        self->loaded = self->taken = 0;
        atomic_store (&self->phase, RUNNER_IDLE);
    }
    return 0;
}
