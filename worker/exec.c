/*  exec - run a shell command per task, or one persistent command.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "exec.h"
#include "zp_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

//  After SIGTERM, how long a timed-out command has before SIGKILL.
#define KILL_GRACE_US 2000000
//  The longest poll, so that a stop is seen soon.
#define POLL_MS 100

struct _exec_t {
    char *command;
    bool persistent;
    uint64_t timeout_s;
    atomic_bool *stop;
    atomic_int *group;          //  where the command's group is published
    uint8_t *output;            //  stdout read so far
    size_t output_size, output_allocated;
    exec_tail_t tail;           //  of stderr
    char error [EXEC_TAIL + 256];
    char **envp;                //  environ and our two variables
    size_t envp_ours;           //  index of ZPIPE_TASK in envp
    char task_var [64], iterations_var [64];
    //  The command now running (a persistent one between tasks, too)
    pid_t pid;
    int in, out, err;           //  our ends of its pipes, or -1
};

void
exec_tail_append (exec_tail_t *self, const void *data, size_t size)
{
    const char *bytes = (const char *) data;
    if (size >= EXEC_TAIL) {
        memcpy (self->data, bytes + size - EXEC_TAIL, EXEC_TAIL);
        self->start = 0;
        self->size = EXEC_TAIL;
        return;
    }
    for (size_t i = 0; i < size; i++) {
        self->data [(self->start + self->size) % EXEC_TAIL] = bytes [i];
        if (self->size < EXEC_TAIL)
            self->size++;
        else
            self->start = (self->start + 1) % EXEC_TAIL;
    }
}

size_t
exec_tail_text (const exec_tail_t *self, char *buffer, size_t size)
{
    if (size == 0)
        return 0;
    size_t used = 0;
    for (size_t i = 0; i < self->size && used + 1 < size; i++) {
        unsigned char c = (unsigned char) self->data [(self->start + i) % EXEC_TAIL];
        char shown = (c < 0x20 || c == 0x7f) ? ' ' : (char) c;
        if (shown == ' ' && (used == 0 || buffer [used - 1] == ' '))
            continue;           //  no leading or repeated blanks
        buffer [used++] = shown;
    }
    while (used && buffer [used - 1] == ' ')
        used--;
    buffer [used] = 0;
    return used;
}

size_t
exec_output_trim (const uint8_t *output, size_t size)
{
    return size && output [size - 1] == '\n' ? size - 1 : size;
}

exec_t *
exec_new (const char *command, bool persistent, uint64_t timeout_s, atomic_bool *stop,
          atomic_int *group)
{
    exec_t *self = (exec_t *) calloc (1, sizeof (exec_t));
    if (!self)
        return NULL;
    self->command = strdup (command);
    self->persistent = persistent;
    self->timeout_s = timeout_s;
    self->stop = stop;
    self->group = group;
    self->in = self->out = self->err = -1;
    size_t count = 0;
    while (environ && environ [count])
        count++;
    self->envp = (char **) calloc (count + 4, sizeof (char *));
    if (!self->command || !self->envp) {
        exec_destroy (&self);
        return NULL;
    }
    size_t kept = 0;
    bool python_set = false;
    for (size_t i = 0; i < count; i++)
        if (strncmp (environ [i], "ZPIPE_TASK=", 11) != 0
        &&  strncmp (environ [i], "ZPIPE_ITERATIONS=", 17) != 0) {
            python_set |= strncmp (environ [i], "PYTHONUNBUFFERED=", 17) == 0;
            self->envp [kept++] = environ [i];
        }
    //  Python buffers its stdout on a pipe: a persistent Python command
    //  would never answer (issue 15). Unless the user said otherwise.
    if (!python_set)
        self->envp [kept++] = (char *) "PYTHONUNBUFFERED=1";
    self->envp_ours = kept;
    self->envp [kept] = self->task_var;
    self->envp [kept + 1] = self->iterations_var;
    return self;
}

static void
s_close (int *fd)
{
    if (*fd >= 0)
        close (*fd);
    *fd = -1;
}

//  Wait for the command to end until deadline_us (0: forever). Returns its
//  wait status, or -1 if it is still running.
static int
s_reap (exec_t *self, int64_t deadline_us)
{
    while (true) {
        int status;
        pid_t pid = waitpid (self->pid, &status, WNOHANG);
        if (pid == self->pid || (pid == -1 && errno != EINTR)) {
            self->pid = 0;
            if (self->group)
                atomic_store (self->group, 0);
            return pid == -1 ? 0 : status;
        }
        if (deadline_us && zp_mono_us () >= deadline_us)
            return -1;
        usleep (10000);
    }
}

//  Kill the command and everything it started (its process group), and
//  reap it. Returns its wait status.
static int
s_kill (exec_t *self)
{
    s_close (&self->in);
    s_close (&self->out);
    s_close (&self->err);
    if (self->pid <= 0)
        return 0;
    pid_t group = self->pid;
    kill (-group, SIGTERM);
    int status = s_reap (self, zp_mono_us () + KILL_GRACE_US);
    if (status == -1) {
        kill (-group, SIGKILL);
        status = s_reap (self, 0);
    }
    //  What the command started may outlive it: the group goes too. (A
    //  group id is not reused while any member is alive.)
    kill (-group, SIGKILL);
    return status;
}

static int
s_spawn (exec_t *self, const zpipe_task_t *task)
{
    int in [2] = { -1, -1 }, out [2] = { -1, -1 }, err [2] = { -1, -1 };
    if (pipe2 (in, O_CLOEXEC) || pipe2 (out, O_CLOEXEC) || pipe2 (err, O_CLOEXEC)) {
        snprintf (self->error, sizeof self->error, "pipe: %s", strerror (errno));
        for (int i = 0; i < 2; i++) {
            s_close (&in [i]);
            s_close (&out [i]);
            s_close (&err [i]);
        }
        return -1;
    }
    snprintf (self->task_var, sizeof self->task_var, "ZPIPE_TASK=%" PRIu64, task->id);
    snprintf (self->iterations_var, sizeof self->iterations_var, "ZPIPE_ITERATIONS=%" PRIu64,
              task->iterations);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, in [0], 0);
    posix_spawn_file_actions_adddup2 (&actions, out [1], 1);
    posix_spawn_file_actions_adddup2 (&actions, err [1], 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init (&attr);
    sigset_t none, defaults;
    sigemptyset (&none);
    sigemptyset (&defaults);
    sigaddset (&defaults, SIGPIPE);
    sigaddset (&defaults, SIGINT);
    sigaddset (&defaults, SIGHUP);
    sigaddset (&defaults, SIGTERM);
    posix_spawnattr_setsigmask (&attr, &none);
    posix_spawnattr_setsigdefault (&attr, &defaults);
    //  A group of its own: a timeout kills what it started too.
    posix_spawnattr_setpgroup (&attr, 0);
    posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK
                                   | POSIX_SPAWN_SETSIGDEF);
    char *argv [] = { (char *) "/bin/sh", (char *) "-c", self->command, NULL };
    pid_t pid;
    int rc = posix_spawn (&pid, "/bin/sh", &actions, &attr, argv, self->envp);
    posix_spawn_file_actions_destroy (&actions);
    posix_spawnattr_destroy (&attr);
    close (in [0]);
    close (out [1]);
    close (err [1]);
    if (rc) {
        close (in [1]);
        close (out [0]);
        close (err [0]);
        snprintf (self->error, sizeof self->error, "posix_spawn /bin/sh: %s", strerror (rc));
        return -1;
    }
    self->pid = pid;
    if (self->group)
        atomic_store (self->group, (int) pid);
    self->in = in [1];
    self->out = out [0];
    self->err = err [0];
    fcntl (self->in, F_SETFL, O_NONBLOCK);
    fcntl (self->out, F_SETFL, O_NONBLOCK);
    fcntl (self->err, F_SETFL, O_NONBLOCK);
    self->tail.size = self->tail.start = 0;
    return 0;
}

//  Why the command failed, with its stderr's tail.
static void
s_fail_status (exec_t *self, const char *what, int status)
{
    char tail [EXEC_TAIL + 1];
    size_t tail_size = exec_tail_text (&self->tail, tail, sizeof tail);
    char how [96];
    if (WIFSIGNALED (status))
        snprintf (how, sizeof how, "was killed by signal %d (%s)", WTERMSIG (status),
                  strsignal (WTERMSIG (status)));
    else
        snprintf (how, sizeof how, "exited with status %d", WEXITSTATUS (status));
    snprintf (self->error, sizeof self->error, "%s %s%s%s", what, how,
              tail_size ? ": " : "", tail);
}

static void
s_fail (exec_t *self, const char *format, const char *detail)
{
    char tail [EXEC_TAIL + 1];
    size_t tail_size = exec_tail_text (&self->tail, tail, sizeof tail);
    char head [160];
    snprintf (head, sizeof head, format, detail);
    snprintf (self->error, sizeof self->error, "%s%s%s", head, tail_size ? ": " : "", tail);
}

//  Read what fd has into the output buffer (stdout) or the tail (stderr).
//  Returns 1 at end of file, -1 when stdout grows past the limit, else 0.
static int
s_drain (exec_t *self, int fd, bool is_output)
{
    uint8_t chunk [65536];
    while (true) {
        ssize_t got = read (fd, chunk, sizeof chunk);
        if (got == 0)
            return 1;
        if (got < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : 1;
        if (!is_output) {
            exec_tail_append (&self->tail, chunk, (size_t) got);
            continue;
        }
        if (self->output_size + (size_t) got > EXEC_MAX_OUTPUT)
            return -1;
        if (self->output_size + (size_t) got > self->output_allocated) {
            size_t allocated = self->output_allocated ? self->output_allocated : 65536;
            while (allocated < self->output_size + (size_t) got)
                allocated *= 2;
            uint8_t *output = (uint8_t *) realloc (self->output, allocated);
            if (!output)
                return -1;
            self->output = output;
            self->output_allocated = allocated;
        }
        memcpy (self->output + self->output_size, chunk, (size_t) got);
        self->output_size += (size_t) got;
    }
}

//  Poll the command's pipes until done () says so, the deadline passes
//  (returns 1), stdout is too big (2), stdout ends (3) or we are stopped (4).
//  Writes pending input as the command takes it.
static int
s_pump (exec_t *self, const uint8_t *input, size_t input_size, size_t *written,
        int64_t deadline_us, bool until_line, size_t *line_end)
{
    while (true) {
        if (until_line) {
            uint8_t *newline = self->output_size
                             ? (uint8_t *) memchr (self->output, '\n', self->output_size) : NULL;
            if (newline) {
                *line_end = (size_t) (newline - self->output);
                return 0;
            }
        }
        if (self->in >= 0 && *written == input_size && !self->persistent)
            s_close (&self->in);    //  end of input: the command sees EOF
        if (!until_line && self->out < 0 && self->err < 0)
            return 0;
        if (atomic_load (self->stop))
            return 4;
        int64_t left_us = deadline_us - zp_mono_us ();
        if (left_us <= 0)
            return 1;
        struct pollfd fds [3];
        nfds_t n = 0;
        int in_at = -1, out_at = -1, err_at = -1;
        if (self->in >= 0 && *written < input_size) {
            in_at = (int) n;
            fds [n++] = (struct pollfd) { self->in, POLLOUT, 0 };
        }
        if (self->out >= 0) {
            out_at = (int) n;
            fds [n++] = (struct pollfd) { self->out, POLLIN, 0 };
        }
        if (self->err >= 0) {
            err_at = (int) n;
            fds [n++] = (struct pollfd) { self->err, POLLIN, 0 };
        }
        int timeout = left_us / 1000 + 1 > POLL_MS ? POLL_MS : (int) (left_us / 1000 + 1);
        if (poll (fds, n, timeout) < 0 && errno != EINTR) {
            s_fail (self, "poll: %s", strerror (errno));
            return 1;
        }
        if (in_at >= 0 && fds [in_at].revents) {
            ssize_t sent = write (self->in, input + *written, input_size - *written);
            if (sent > 0)
                *written += (size_t) sent;
            else
            if (errno != EAGAIN && errno != EINTR) {
                //  It does not read its input (EPIPE): its exit says the rest.
                s_close (&self->in);
                *written = input_size;
            }
        }
        if (err_at >= 0 && fds [err_at].revents && s_drain (self, self->err, false) == 1)
            s_close (&self->err);
        if (out_at >= 0 && fds [out_at].revents) {
            int rc = s_drain (self, self->out, true);
            if (rc == -1)
                return 2;
            if (rc == 1) {
                s_close (&self->out);
                if (until_line)
                    return 3;
            }
        }
    }
}

static int
s_run_once (exec_t *self, zpipe_task_t *task)
{
    self->output_size = 0;
    if (s_spawn (self, task)) {
        task->error = self->error;
        return -1;
    }
    int64_t deadline_us = zp_mono_us () + (int64_t) self->timeout_s * 1000000;
    size_t written = 0;
    int rc = s_pump (self, task->input, task->input_size, &written, deadline_us, false, NULL);
    int status = rc ? -1 : s_reap (self, deadline_us);
    if (rc == 0 && status == -1)
        rc = 1;                 //  closed its output, did not exit in time
    if (rc) {
        s_kill (self);
        if (rc == 1)
            snprintf (self->error, sizeof self->error, "timed out after %" PRIu64 " s",
                      self->timeout_s);
        else
        if (rc == 2)
            s_fail (self, "output larger than %s", "64 MiB");
        else
            s_fail (self, "%s", "the worker is stopping");
        task->error = self->error;
        return -1;
    }
    s_close (&self->in);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
        s_fail_status (self, "the command", status);
        task->error = self->error;
        return -1;
    }
    task->output = self->output;
    task->output_size = exec_output_trim (self->output, self->output_size);
    return 0;
}

static int
s_run_persistent (exec_t *self, zpipe_task_t *task)
{
    if (memchr (task->input, '\n', task->input_size)) {
        task->error = "the input contains a newline; --exec-persistent passes one line per task";
        return -1;
    }
    if (self->pid == 0) {
        self->output_size = 0;
        if (s_spawn (self, task)) {
            task->error = self->error;
            return -1;
        }
    }
    int64_t deadline_us = zp_mono_us () + (int64_t) self->timeout_s * 1000000;
    //  The line and its newline, written as the command reads them.
    uint8_t *line = (uint8_t *) malloc (task->input_size + 1);
    if (!line) {
        task->error = "out of memory";
        return -1;
    }
    if (task->input_size)
        memcpy (line, task->input, task->input_size);
    line [task->input_size] = '\n';
    size_t written = 0, line_end = 0;
    int rc = s_pump (self, line, task->input_size + 1, &written, deadline_us, true, &line_end);
    free (line);
    if (rc == 0) {
        //  The answer is the line; what came after it stays for the next.
        task->output = self->output;
        task->output_size = line_end;
        return 0;
    }
    int status = rc == 3 ? s_reap (self, zp_mono_us () + KILL_GRACE_US) : -1;
    if (status == -1)
        status = s_kill (self);
    else
        s_kill (self);
    if (rc == 1)
        snprintf (self->error, sizeof self->error, "timed out after %" PRIu64 " s with no"
                  " line back: a persistent command must flush each answer line (stdbuf"
                  " -oL, fflush; Python gets PYTHONUNBUFFERED=1)", self->timeout_s);
    else
    if (rc == 2)
        s_fail (self, "output larger than %s without a newline", "64 MiB");
    else
    if (rc == 3)
        s_fail_status (self, "the persistent command", status);
    else
        s_fail (self, "%s", "the worker is stopping");
    self->output_size = 0;
    task->error = self->error;
    return -1;
}

int
exec_run (exec_t *self, zpipe_task_t *task)
{
    task->output = NULL;
    task->output_size = 0;
    task->error = NULL;
    if (!self->persistent)
        return s_run_once (self, task);
    //  Drop the line answered last time.
    if (self->output_size) {
        uint8_t *newline = (uint8_t *) memchr (self->output, '\n', self->output_size);
        if (newline) {
            size_t used = (size_t) (newline - self->output) + 1;
            memmove (self->output, self->output + used, self->output_size - used);
            self->output_size -= used;
        }
    }
    return s_run_persistent (self, task);
}

void
exec_destroy (exec_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    exec_t *self = *self_p;
    s_kill (self);
    free (self->command);
    free (self->output);
    free (self->envp);
    free (self);
    *self_p = NULL;
}
