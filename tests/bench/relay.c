/*  relay - the messaging ceiling for tiny tasks: a bare libzmq
    PUSH -> PULL -> PUSH -> PULL relay over the same transport, with the
    same message sizes as zpipe's one-task TASKS and one-result RESULTS
    messages, and no protocol, credit, bookkeeping or hashing at all.

        build/bench/relay -a ENDPOINT -b ENDPOINT [-n MESSAGES] [-p RELAYS]
                          [-t TASK_BYTES] [-r RESULT_BYTES]

    Like a pipeline run it uses processes, not threads: a collector (PULL,
    binds -b, the sink's place), RELAYS middle processes (PULL connected to
    -a, PUSH connected to -b, the workers' place) and a sender (PUSH, binds
    -a, the ventilator's place). The collector and the relays are started
    first and are idle; the clock starts when the sender is forked and stops
    when the collector has the last message, the way scripts/bench times a
    pipeline from starting the ventilator to the sink's summary. Prints one
    JSON object on stdout.

    The default sizes are what zp_proto encodes for one 36-byte UUID input
    (one task) and for its result with a 128-character hash from this host,
    so the relay moves exactly the bytes zpipe would move per task if it
    sent one task per message.

    Every process it starts it stops by PID (SIGTERM) and reaps.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "zp_hash.h"
#include "zp_proto.h"
#include "zp_util.h"

#define MAX_RELAYS   64
#define MAX_BYTES    65536
//  How long the collector may take for the whole run before we give up.
#define TIMEOUT_MS   120000

typedef struct {
    const char *task_endpoint;      //  -a: sender binds, relays connect
    const char *result_endpoint;    //  -b: collector binds, relays connect
    unsigned long messages;
    unsigned relays;
    size_t task_bytes;
    size_t result_bytes;
} config_t;

static double
s_mono (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

//  The sizes zpipe uses for one task of a UUID string and its result.
static void
s_zpipe_sizes (size_t *task_bytes, size_t *result_bytes)
{
    static const char uuid [] = "2f1c0a6e-8d7e-4a53-9d0e-4c1f3b0e6a11";
    char hash [ZP_HASH_HEX_SIZE];
    memset (hash, 'a', sizeof hash);
    zchunk_t *chunk = zchunk_new (NULL, 1024);
    zp_tasks_begin (chunk, 1);
    zp_tasks_add (chunk, 0, 1, uuid, sizeof uuid - 1);
    *task_bytes = zchunk_size (chunk);
    zp_results_begin (chunk, (uint32_t) getpid (), zp_hostname (), 1);
    zp_result_t result = {
        .task = 0, .status = ZP_STATUS_OK, .iterations = 1, .elapsed_ns = 1000,
        .input = (const uint8_t *) uuid, .input_size = sizeof uuid - 1,
        .output = (const uint8_t *) hash, .output_size = sizeof hash
    };
    zp_results_add (chunk, &result);
    *result_bytes = zchunk_size (chunk);
    zchunk_destroy (&chunk);
}

static void
s_fail (const char *who, const char *call, const char *endpoint)
{
    fprintf (stderr, "relay: %s: %s %s: %s\n", who, call, endpoint ? endpoint : "",
             zmq_strerror (zmq_errno ()));
    _exit (EX_UNAVAILABLE);
}

//  The collector: the sink's place. Writes its clock when it has them all.
static void
s_collector (const config_t *config, int ready_fd, int done_fd)
{
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    if (zmq_bind (pull, config->result_endpoint))
        s_fail ("collector", "bind", config->result_endpoint);
    if (write (ready_fd, "c", 1) != 1)
        _exit (EX_OSERR);
    char buffer [MAX_BYTES];
    unsigned long received = 0, short_ones = 0;
    while (received < config->messages) {
        int size = zmq_recv (pull, buffer, sizeof buffer, 0);
        if (size == -1)
            s_fail ("collector", "zmq_recv", NULL);
        short_ones += (size_t) size != config->result_bytes;
        received++;
    }
    double done = s_mono ();
    if (short_ones)
        fprintf (stderr, "relay: collector: %lu messages of the wrong size\n", short_ones);
    if (write (done_fd, &done, sizeof done) != (ssize_t) sizeof done)
        _exit (EX_OSERR);
    zmq_close (pull);
    zmq_ctx_term (ctx);
    _exit (short_ones ? 1 : 0);
}

//  A relay: a worker's place. Every task becomes one result, as big as
//  zpipe's, carrying the task's bytes at its start.
static void
s_relay (const config_t *config, int ready_fd)
{
    void *ctx = zmq_ctx_new ();
    void *pull = zmq_socket (ctx, ZMQ_PULL);
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    if (zmq_connect (pull, config->task_endpoint))
        s_fail ("relay", "connect", config->task_endpoint);
    if (zmq_connect (push, config->result_endpoint))
        s_fail ("relay", "connect", config->result_endpoint);
    if (write (ready_fd, "r", 1) != 1)
        _exit (EX_OSERR);
    char task [MAX_BYTES];
    char result [MAX_BYTES];
    memset (result, 'r', config->result_bytes);
    while (true) {
        int size = zmq_recv (pull, task, sizeof task, 0);
        if (size == -1)
            s_fail ("relay", "zmq_recv", NULL);
        memcpy (result, task, (size_t) size < config->result_bytes
                              ? (size_t) size : config->result_bytes);
        if (zmq_send (push, result, config->result_bytes, 0) == -1)
            s_fail ("relay", "zmq_send", NULL);
    }
}

//  The sender: the ventilator's place.
static void
s_sender (const config_t *config)
{
    void *ctx = zmq_ctx_new ();
    void *push = zmq_socket (ctx, ZMQ_PUSH);
    int linger = -1;            //  everything must get out before we exit
    zmq_setsockopt (push, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind (push, config->task_endpoint))
        s_fail ("sender", "bind", config->task_endpoint);
    char task [MAX_BYTES];
    memset (task, 't', config->task_bytes);
    for (unsigned long i = 0; i < config->messages; i++) {
        memcpy (task, &i, sizeof i);
        if (zmq_send (push, task, config->task_bytes, 0) == -1)
            s_fail ("sender", "zmq_send", NULL);
    }
    zmq_close (push);
    zmq_ctx_term (ctx);
    _exit (0);
}

static pid_t
s_fork (void)
{
    fflush (stdout);
    fflush (stderr);
    pid_t pid = fork ();
    if (pid < 0) {
        fprintf (stderr, "relay: fork: %s\n", strerror (errno));
        exit (EX_OSERR);
    }
    return pid;
}

static void
s_usage (FILE *file)
{
    fprintf (file, "usage: relay -a ENDPOINT -b ENDPOINT [-n MESSAGES] [-p RELAYS]"
                   " [-t TASK_BYTES] [-r RESULT_BYTES]\n");
}

int
main (int argc, char *argv [])
{
    config_t config = { .messages = 200000, .relays = 1 };
    s_zpipe_sizes (&config.task_bytes, &config.result_bytes);
    int opt;
    while ((opt = getopt (argc, argv, "a:b:n:p:t:r:h")) != -1) {
        switch (opt) {
            case 'a': config.task_endpoint = optarg; break;
            case 'b': config.result_endpoint = optarg; break;
            case 'n': config.messages = strtoul (optarg, NULL, 10); break;
            case 'p': config.relays = (unsigned) strtoul (optarg, NULL, 10); break;
            case 't': config.task_bytes = strtoul (optarg, NULL, 10); break;
            case 'r': config.result_bytes = strtoul (optarg, NULL, 10); break;
            case 'h': s_usage (stdout); return 0;
            default: s_usage (stderr); return EX_USAGE;
        }
    }
    if (optind != argc || !config.task_endpoint || !config.result_endpoint
    ||  config.messages == 0 || config.relays == 0 || config.relays > MAX_RELAYS
    ||  config.task_bytes < sizeof (unsigned long) || config.task_bytes > MAX_BYTES
    ||  config.result_bytes == 0 || config.result_bytes > MAX_BYTES) {
        s_usage (stderr);
        return EX_USAGE;
    }

    int ready [2], done [2];
    if (pipe (ready) || pipe (done)) {
        fprintf (stderr, "relay: pipe: %s\n", strerror (errno));
        return EX_OSERR;
    }
    //  No ZeroMQ context exists in this process: each child makes its own.
    pid_t pids [MAX_RELAYS + 2];
    size_t started = 0;
    pid_t collector = s_fork ();
    if (collector == 0)
        s_collector (&config, ready [1], done [1]);
    pids [started++] = collector;
    for (unsigned i = 0; i < config.relays; i++) {
        pid_t pid = s_fork ();
        if (pid == 0)
            s_relay (&config, ready [1]);
        pids [started++] = pid;
    }
    close (ready [1]);
    close (done [1]);
    int status = 0;
    for (unsigned i = 0; i < config.relays + 1; i++) {
        char byte;
        if (read (ready [0], &byte, 1) != 1) {
            fprintf (stderr, "relay: a collector or relay process failed to start\n");
            status = 1;
            break;
        }
    }
    //  Let the relays' connections to the collector come up; their task
    //  connections wait for the sender, as workers wait for a ventilator.
    usleep (200000);

    double start = s_mono (), end = 0;
    pid_t sender = 0;
    if (status == 0) {
        sender = s_fork ();
        if (sender == 0)
            s_sender (&config);
        pids [started++] = sender;
        struct pollfd item = { .fd = done [0], .events = POLLIN };
        if (poll (&item, 1, TIMEOUT_MS) != 1
        ||  read (done [0], &end, sizeof end) != (ssize_t) sizeof end) {
            fprintf (stderr, "relay: the collector did not get %lu messages in %d s\n",
                     config.messages, TIMEOUT_MS / 1000);
            status = 1;
        }
    }
    //  The collector and the sender leave by themselves once the run is
    //  done (the sender's queue is empty when the collector has it all);
    //  the relays never do. On failure everyone gets SIGTERM. By PID only.
    for (size_t i = 0; i < started; i++) {
        if (status || (pids [i] != collector && pids [i] != sender))
            kill (pids [i], SIGTERM);
        int child_status;
        if (waitpid (pids [i], &child_status, 0) == collector
        &&  !(WIFEXITED (child_status) && WEXITSTATUS (child_status) == 0))
            status = 1;
    }
    if (status)
        return status;
    double seconds = end - start;
    printf ("{\"messages\": %lu, \"relays\": %u, \"task_bytes\": %zu, \"result_bytes\": %zu,"
            " \"seconds\": %.6f, \"messages_per_s\": %.1f}\n", config.messages,
            config.relays, config.task_bytes, config.result_bytes, seconds,
            (double) config.messages / seconds);
    return 0;
}
