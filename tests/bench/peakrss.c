/*  peakrss - run a command and write its peak resident set size (KiB) and
    the CPU seconds it used (user, system) to a file when it exits, as one
    line "KIB USER SYSTEM"; the command's exit status becomes ours. Both
    count the command's descendants that it waited for, as wait4 does.

        build/bench/peakrss FILE COMMAND [ARG]...

    scripts/bench starts the sink and the ventilator through it. Their own
    ru_maxrss, taken by the Python harness that forks them, would be wrong:
    Linux carries the high-water mark of the memory the process had before
    exec into the new program's ru_maxrss, so a stage forked from a 20 MiB
    Python would never report less than 20 MiB. Forked from this small
    program, the floor is about one MiB, and /usr/bin/time, which does the
    same, would not pass SIGTERM on to the command: this does, so the
    harness can still stop the stage by the PID it started.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

static volatile sig_atomic_t s_child;

static void
s_forward (int signal_number)
{
    if (s_child > 0)
        kill ((pid_t) s_child, signal_number);
}

int
main (int argc, char *argv [])
{
    if (argc < 3) {
        fprintf (stderr, "usage: peakrss FILE COMMAND [ARG]...\n");
        return EX_USAGE;
    }
    //  Handlers first, so that a signal that comes right after the fork is
    //  passed on, not lost.
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_forward;
    sigemptyset (&action.sa_mask);
    sigaction (SIGTERM, &action, NULL);
    sigaction (SIGINT, &action, NULL);
    sigaction (SIGHUP, &action, NULL);

    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "peakrss: fork: %s\n", strerror (errno));
        return EX_OSERR;
    }
    if (pid == 0) {
        signal (SIGTERM, SIG_DFL);
        signal (SIGINT, SIG_DFL);
        signal (SIGHUP, SIG_DFL);
        execvp (argv [2], argv + 2);
        fprintf (stderr, "peakrss: can't run %s: %s\n", argv [2], strerror (errno));
        _exit (127);
    }
    s_child = pid;

    int status;
    struct rusage usage;
    while (wait4 (pid, &status, 0, &usage) == -1) {
        if (errno != EINTR) {
            fprintf (stderr, "peakrss: wait4: %s\n", strerror (errno));
            return EX_OSERR;
        }
    }
    FILE *file = fopen (argv [1], "w");
    if (!file
    ||  fprintf (file, "%ld %ld.%06ld %ld.%06ld\n", usage.ru_maxrss,
                 (long) usage.ru_utime.tv_sec, (long) usage.ru_utime.tv_usec,
                 (long) usage.ru_stime.tv_sec, (long) usage.ru_stime.tv_usec) < 0
    ||  fclose (file) != 0) {
        fprintf (stderr, "peakrss: can't write %s: %s\n", argv [1], strerror (errno));
        return EX_IOERR;
    }
    if (WIFSIGNALED (status))
        return 128 + WTERMSIG (status);
    return WEXITSTATUS (status);
}
