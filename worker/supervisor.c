/*  worker - the supervisor: forks the worker processes, restarts those that
    die (telling each new one whom it replaces, so the ventilator sends the
    dead one's tasks again at once), and stops them all on SIGINT, SIGTERM
    or SIGHUP: they drain, and a second signal makes them stop at once.

    The supervisor never touches ZeroMQ: a ZeroMQ context does not survive
    fork (its I/O threads stay behind in the parent), so each process makes
    its own after the fork. Signals are blocked and taken synchronously with
    sigtimedwait, so there is no handler to race with waitpid.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "worker.h"
#include "zp_util.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

//  Restart backoff: 100 ms, doubled on each quick death (within 250 ms of
//  its start: a process that cannot start), at most 5 s; a process that
//  lived longer was killed in its work and comes back after 100 ms.
#define BACKOFF_MIN_US    100000
#define BACKOFF_MAX_US    5000000
#define HEALTHY_US        250000

typedef struct {
    pid_t pid;                  //  0 when not running
    pid_t died;                 //  the last one that died here, or 0
    int64_t started_us;
    int64_t restart_at_us;      //  when to start it again
    int64_t backoff_us;
} child_t;

static pid_t
s_spawn (const worker_config_t *config, const sigset_t *original_mask, pid_t parent,
         pid_t replaces)
{
    pid_t pid = fork ();
    if (pid == 0) {
        //  Die with the supervisor, whatever kills it: no orphans. If it
        //  died before prctl took effect, getppid shows it; the process
        //  also looks at getppid in its loop and then stops at once.
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (0);
        sigprocmask (SIG_SETMASK, original_mask, NULL);
        worker_config_t mine = *config;
        mine.replaces = (uint32_t) replaces;
        mine.supervisor = parent;
        int status = worker_process_run (&mine);
        //  The process's copy: its watchers must stop before exit tears
        //  the ZeroMQ context down.
        zp_curve_t *curve = config->curve;
        zp_curve_destroy (&curve);
        exit (status);
    }
    if (pid < 0)
        zp_error ("fork: %s", strerror (errno));
    return pid;
}

static const char *
s_describe (int status, char *buffer, size_t size)
{
    if (WIFSIGNALED (status))
        snprintf (buffer, size, "was killed by signal %d (%s)", WTERMSIG (status),
                  strsignal (WTERMSIG (status)));
    else
        snprintf (buffer, size, "exited with status %d", WEXITSTATUS (status));
    return buffer;
}

int
worker_run (const worker_config_t *config)
{
    if (!zp_engine_supported ((zp_engine_kind_t) config->engine)) {
        zp_error ("--engine: this CPU can't run the %s engine",
                  config->engine == ZP_ENGINE_AVX512 ? "avx512" : "avx2");
        return EX_CONFIG;
    }
    sigset_t signals, original_mask;
    sigemptyset (&signals);
    sigaddset (&signals, SIGCHLD);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    sigaddset (&signals, SIGHUP);
    sigprocmask (SIG_BLOCK, &signals, &original_mask);

    size_t count = (size_t) config->processes;
    child_t *children = (child_t *) calloc (count, sizeof (child_t));
    if (!children) {
        zp_error ("out of memory");
        return EX_OSERR;
    }
    pid_t self = getpid ();
    int status = 0;
    bool stopping = false;
    int64_t stop_deadline = 0;
    //  The processes drain for half of --task-timeout; what is still there
    //  at 9/10 is killed, so the worker is gone within --task-timeout.
    int64_t stop_grace_us = (int64_t) config->task_timeout_s * 900000;
    for (size_t i = 0; i < count; i++)
        children [i].backoff_us = BACKOFF_MIN_US;
    zp_info ("starting %zu worker processes for %s -> %s", count, config->ventilator,
             config->sink);

    while (true) {
        int64_t now = zp_mono_us ();
        size_t running = 0;
        for (size_t i = 0; i < count; i++) {
            child_t *child = &children [i];
            if (!child->pid && !stopping && now >= child->restart_at_us) {
                child->pid = s_spawn (config, &original_mask, self, child->died);
                child->started_us = now;
                if (child->pid < 0) {
                    child->pid = 0;
                    child->restart_at_us = now + BACKOFF_MAX_US;
                }
            }
            if (child->pid)
                running++;
        }
        if (stopping && running == 0)
            break;
        if (stopping && now > stop_deadline) {
            for (size_t i = 0; i < count; i++)
                if (children [i].pid)
                    kill (children [i].pid, SIGKILL);
            stop_deadline = INT64_MAX;
        }
        struct timespec wait = { 0, 100 * 1000 * 1000 };
        siginfo_t info;
        int signal_number = sigtimedwait (&signals, &info, &wait);
        if (signal_number == SIGINT || signal_number == SIGTERM || signal_number == SIGHUP) {
            if (!stopping) {
                zp_info ("stopping the worker processes (%s): they finish what they run"
                         " and hand back the rest", strsignal (signal_number));
                stopping = true;
                stop_deadline = zp_mono_us () + stop_grace_us;
            }
            else
                zp_info ("stopping the worker processes now (%s again)",
                         strsignal (signal_number));
            //  Once to drain, twice to hand everything back now.
            for (size_t i = 0; i < count; i++)
                if (children [i].pid)
                    kill (children [i].pid, SIGTERM);
        }
        //  Reap whatever ended, whether or not SIGCHLD was the signal taken.
        pid_t pid;
        int wstatus;
        while ((pid = waitpid (-1, &wstatus, WNOHANG)) > 0) {
            for (size_t i = 0; i < count; i++) {
                child_t *child = &children [i];
                if (child->pid != pid)
                    continue;
                child->pid = 0;
                child->died = pid;
                if (stopping)
                    break;
                int code = WIFEXITED (wstatus) ? WEXITSTATUS (wstatus) : 0;
                if (code == EX_USAGE || code == EX_UNAVAILABLE || code == EX_CONFIG) {
                    //  It could not start (bad endpoint, engine): so will
                    //  every other. It said why; stop with its status.
                    status = code;
                    stopping = true;
                    stop_deadline = zp_mono_us () + stop_grace_us;
                    for (size_t j = 0; j < count; j++)
                        if (children [j].pid)
                            kill (children [j].pid, SIGTERM);
                    break;
                }
                int64_t lived = zp_mono_us () - child->started_us;
                if (lived > HEALTHY_US)
                    child->backoff_us = BACKOFF_MIN_US;
                char why [128];
                zp_warn ("worker process %d %s; restarting it in %.1f s", (int) pid,
                         s_describe (wstatus, why, sizeof why),
                         (double) child->backoff_us / 1e6);
                child->restart_at_us = zp_mono_us () + child->backoff_us;
                child->backoff_us = child->backoff_us * 2 > BACKOFF_MAX_US
                                  ? BACKOFF_MAX_US : child->backoff_us * 2;
                break;
            }
        }
    }
    free (children);
    zp_info ("all worker processes stopped");
    return status;
}
