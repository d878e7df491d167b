/*  rogue - a hostile peer for the end-to-end tests (tests/e2e/hostile.sh).

        rogue attack ENDPOINT ventilator|sink SECONDS
            Connects to a zpipe endpoint and sends, in this order: raw TCP
            garbage that is not ZMTP; connections that start a handshake and
            stall; one ZeroMQ connection with a fixed set of invalid frames
            (truncated, wrong signature, version or type, trailing bytes,
            several frames, the wrong message for that endpoint) and valid
            frames with wrong ids; then, until SECONDS have passed, floods
            of garbage frames and frames over the endpoint's size limit.
            Prints "invalid N" once the fixed set is sent (N frames, each of
            which the stage must count as rejected), then "flood N" at the
            end.

        rogue greedy TASK-ENDPOINT SECONDS
            A greedy worker process: asks the ventilator for 2^32-1 tasks
            (READY capacity), keeps every task it is sent and never finishes
            one, heartbeating each second with a HELD list of them all, for
            SECONDS, and printing "tasks N" (task records received so far,
            copies included) each time; then leaves (READY LEAVING, handing
            them all back).

        rogue absurd TASK-ENDPOINT RESULT-ENDPOINT SECONDS
            Plays ventilator and sink to a worker: binds both endpoints,
            waits for a READY, sends one task of 2^40 iterations, and prints
            "status S output" of the result that comes back. Exits 1 if no
            result came within SECONDS.

    Never run against anything but a test's own loopback endpoints.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "zp_proto.h"
#include "zp_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static zchunk_t *s_buf;
static uint64_t s_invalid;

//  --- Raw TCP ---------------------------------------------------------------

//  tcp://HOST:PORT -> a connected TCP socket, or -1.
static int
s_tcp_connect (const char *endpoint)
{
    char host [64];
    const char *colon = strrchr (endpoint, ':');
    if (strncmp (endpoint, "tcp://", 6) != 0 || !colon
    ||  (size_t) (colon - endpoint - 6) >= sizeof host)
        return -1;
    memcpy (host, endpoint + 6, (size_t) (colon - endpoint - 6));
    host [colon - endpoint - 6] = 0;
    long port = strtol (colon + 1, NULL, 10);
    if (port <= 0 || port > 65535)
        return -1;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    if (inet_pton (AF_INET, host, &address.sin_addr) != 1)
        return -1;
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd >= 0 && connect (fd, (struct sockaddr *) &address, sizeof address) != 0) {
        close (fd);
        fd = -1;
    }
    return fd;
}

static void
s_raw_garbage (const char *endpoint, int count)
{
    uint8_t bytes [4096];
    for (int i = 0; i < count; i++) {
        int fd = s_tcp_connect (endpoint);
        if (fd < 0)
            continue;
        for (size_t b = 0; b < sizeof bytes; b++)
            bytes [b] = (uint8_t) (random () & 0xff);
        if (i % 2 == 0) {
            //  A ZMTP 3.0 greeting that asks for a mechanism the stage does
            //  not run (CURVE against plain text, and the other way round:
            //  a mechanism nobody has), then garbage: always a refused
            //  handshake.
            memset (bytes, 0, 64);
            bytes [0] = 0xff;
            bytes [9] = 0x7f;
            bytes [10] = 3;
            memcpy (bytes + 12, i % 4 ? "NOSUCH" : "CURVE", i % 4 ? 6 : 5);
        }
        else
            bytes [0] = 0xff;   //  looks like a greeting, and then is not
        if (write (fd, bytes, sizeof bytes) < 0)
            zsys_debug ("rogue: write: %s", strerror (errno));
        zclock_sleep (20);      //  let the stage read it before we go
        close (fd);
    }
}

//  --- ZeroMQ ------------------------------------------------------------------

static void
s_send (zsock_t *sock, const void *data, size_t size, int flags)
{
    zmq_send (zsock_resolve (sock), data, size, flags);
}

static void
s_send_invalid (zsock_t *sock, const void *data, size_t size)
{
    s_send (sock, data, size, 0);
    s_invalid++;
}

//  Every prefix of a valid message is invalid; so is the message plus a byte.
static void
s_truncations (zsock_t *sock)
{
    const uint8_t *data = zchunk_data (s_buf);
    size_t size = zchunk_size (s_buf);
    uint8_t *copy = (uint8_t *) malloc (size + 1);
    memcpy (copy, data, size);
    for (size_t cut = 0; cut < size; cut += 1 + size / 8)
        s_send_invalid (sock, copy, cut);
    copy [size] = 0;
    s_send_invalid (sock, copy, size + 1);
    free (copy);
}

static void
s_sample_results (uint64_t batch, uint64_t task)
{
    zp_results_begin (s_buf, 1, "rogue", batch);
    zp_result_t result = {
        .task = task, .status = ZP_STATUS_OK, .iterations = 1, .elapsed_ns = 1,
        .input = (const uint8_t *) "x", .input_size = 1,
        .output = (const uint8_t *) "y", .output_size = 1
    };
    zp_results_add (s_buf, &result);
}

static void
s_sample_ready (uint8_t flags, uint64_t received, uint64_t finished)
{
    zp_ready_t ready = {
        .flags = flags, .pid = 1, .capacity = flags & ZP_READY_LEAVING ? 0 : 4,
        .received = received, .finished = finished
    };
    strcpy (ready.host, "rogue");
    strcpy (ready.engine, "none");
    zp_ready_encode (s_buf, &ready, NULL);
}

static void
s_fixed_set (zsock_t *sock, bool to_sink)
{
    uint8_t header [8] = { 'Z', 'P', ZP_PROTO_VERSION, 0x77, 0, 0, 0, 0 };
    s_send_invalid (sock, "", 0);
    s_send_invalid (sock, "ZP", 2);
    s_send_invalid (sock, "XX\x01\x01", 4);
    s_send_invalid (sock, header, sizeof header);       //  unknown type
    header [2] = ZP_PROTO_VERSION + 1;
    header [3] = ZP_READY;
    s_send_invalid (sock, header, sizeof header);       //  a newer version
    //  Two frames where one is expected.
    s_send (sock, "ZP\x02\x01", 4, ZMQ_SNDMORE);
    s_send_invalid (sock, "more", 4);

    //  Each type, truncated and with a trailing byte.
    s_sample_ready (ZP_READY_HELD, 3, 2);
    s_truncations (sock);
    zp_tasks_begin (s_buf, 42);
    zp_tasks_add (s_buf, 0, 10, "abc", 3);
    s_truncations (sock);
    s_sample_results (42, 0);
    s_truncations (sock);
    zp_batch_t batch = { .batch = 42, .flags = ZP_BATCH_TOTAL, .total = 1, .iterations = 1 };
    zp_batch_encode (s_buf, &batch);
    s_truncations (sock);
    zp_ack_begin (s_buf, 42, 0, 1);
    zp_ack_add (s_buf, 0);
    s_truncations (sock);
    zp_stats_t stats = { .pid = 1, .interval_ms = 1000, .held = 1, .running = 1 };
    snprintf (stats.host, sizeof stats.host, "rogue");
    snprintf (stats.engine, sizeof stats.engine, "none");
    zp_ref_t running = { 42, 0 };
    zp_stats_encode (s_buf, &stats, &running);
    s_truncations (sock);
    //  ... and with a field out of range: an interval of 0.
    stats.interval_ms = 0;
    zp_stats_encode (s_buf, &stats, &running);
    s_send_invalid (sock, zchunk_data (s_buf), zchunk_size (s_buf));

    //  A field out of range: more finished than received.
    s_sample_ready (ZP_READY_HELD, 1, 5);
    s_send_invalid (sock, zchunk_data (s_buf), zchunk_size (s_buf));

    //  Valid messages this endpoint does not take.
    zp_ack_begin (s_buf, 42, ZP_ACK_COMPLETE, 1);
    s_send_invalid (sock, zchunk_data (s_buf), zchunk_size (s_buf));
    zp_tasks_begin (s_buf, 42);
    zp_tasks_add (s_buf, 0, 10, "abc", 3);
    s_send_invalid (sock, zchunk_data (s_buf), zchunk_size (s_buf));
    if (to_sink) {
        s_sample_ready (ZP_READY_HELD, 3, 2);
        s_send_invalid (sock, zchunk_data (s_buf), zchunk_size (s_buf));
        //  Valid RESULTS with wrong ids: a task id far past what a batch
        //  nobody announced may hold (refused), and results for 40
        //  invented batches (kept until a real BATCH needs the room).
        s_sample_results (UINT64_C (0xbad0000000000000), UINT64_C (1) << 50);
        s_send_invalid (sock, zchunk_data (s_buf), zchunk_size (s_buf));
        for (uint64_t i = 0; i < 40; i++) {
            s_sample_results (UINT64_C (0xbad0000000000001) + i, i);
            s_send (sock, zchunk_data (s_buf), zchunk_size (s_buf), 0);
        }
    }
    else {
        s_sample_results (42, 0);
        s_send_invalid (sock, zchunk_data (s_buf), zchunk_size (s_buf));
        zp_batch_encode (s_buf, &batch);
        s_send_invalid (sock, zchunk_data (s_buf), zchunk_size (s_buf));
        //  A valid READY that leaves at once: ignored, never a worker.
        s_sample_ready (ZP_READY_LEAVING, 0, 0);
        s_send (sock, zchunk_data (s_buf), zchunk_size (s_buf), 0);
    }
}

static zsock_t *
s_dealer (const char *endpoint)
{
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    zsock_set_sndhwm (sock, 10000);
    zsock_set_sndtimeo (sock, 2000);
    zsock_set_linger (sock, 2000);
    zsock_connect (sock, "%s", endpoint);
    return sock;
}

static int
s_attack (const char *endpoint, bool to_sink, int seconds)
{
    int64_t deadline = zp_mono_us () + (int64_t) seconds * 1000000;
    //  Wait until the stage listens: an attack on nothing proves nothing.
    int probe;
    while ((probe = s_tcp_connect (endpoint)) < 0 && zp_mono_us () < deadline)
        zclock_sleep (20);
    if (probe < 0) {
        fprintf (stderr, "rogue: nobody listens at %s\n", endpoint);
        return 1;
    }
    close (probe);
    s_raw_garbage (endpoint, 20);
    //  Handshakes that start and stall: the stage must drop them after its
    //  handshake limit, not keep them forever.
    int stalled [3];
    for (int i = 0; i < 3; i++) {
        stalled [i] = s_tcp_connect (endpoint);
        if (stalled [i] >= 0 && write (stalled [i], "\xff\0\0\0\0", 5) < 0)
            zsys_debug ("rogue: write: %s", strerror (errno));
    }
    zsock_t *sock = s_dealer (endpoint);
    //  The set goes out once the connection is up, so none of it waits in
    //  our queue when we report it sent.
    zsock_set_immediate (sock, 1);
    while (zp_mono_us () < deadline) {
        if (zmq_send (zsock_resolve (sock), "", 0, ZMQ_DONTWAIT) == 0)
            break;
        zclock_sleep (20);
    }
    s_invalid = 1;
    s_fixed_set (sock, to_sink);
    printf ("invalid %" PRIu64 "\n", s_invalid);
    fflush (stdout);

    //  Floods and oversized frames until the time is up.
    uint64_t flooded = 0;
    size_t big_size = to_sink ? (size_t) ZP_MAX_FRAME_BYTES + 1 : (1 << 20) + 1;
    uint8_t *big = (uint8_t *) calloc (1, big_size);
    int round = 0;
    while (zp_mono_us () < deadline && !zsys_interrupted) {
        for (int i = 0; i < 5000; i++)
            if (zmq_send (zsock_resolve (sock), "flood", 5, ZMQ_DONTWAIT) >= 0)
                flooded++;
        if (round++ % 10 == 0 && big) {
            //  On a connection of its own: the stage drops the connection.
            zsock_t *oversize = s_dealer (endpoint);
            zsock_set_linger (oversize, 0);
            zmq_send (zsock_resolve (oversize), big, big_size, ZMQ_DONTWAIT);
            zclock_sleep (50);
            zsock_destroy (&oversize);
        }
        zclock_sleep (20);
    }
    free (big);
    for (int i = 0; i < 3; i++)
        if (stalled [i] >= 0)
            close (stalled [i]);
    zsock_set_linger (sock, 0);
    zsock_destroy (&sock);
    printf ("flood %" PRIu64 "\n", flooded);
    return 0;
}

static int
s_absurd (const char *task_endpoint, const char *result_endpoint, int seconds)
{
    zsock_t *tasks = zsock_new (ZMQ_ROUTER);
    zsock_t *results = zsock_new (ZMQ_ROUTER);
    if (zsock_bind (tasks, "%s", task_endpoint) == -1
    ||  zsock_bind (results, "%s", result_endpoint) == -1) {
        fprintf (stderr, "rogue: can't bind: %s\n", zmq_strerror (zmq_errno ()));
        return 1;
    }
    int64_t deadline = zp_mono_us () + (int64_t) seconds * 1000000;
    bool sent = false;
    int status = 1;
    zpoller_t *poller = zpoller_new (tasks, results, NULL);
    while (zp_mono_us () < deadline && status) {
        void *which = zpoller_wait (poller, 100);
        if (which == tasks) {
            zmsg_t *msg = zmsg_recv (tasks);
            zframe_t *id = zmsg_pop (msg);
            if (!sent && id) {
                zp_tasks_begin (s_buf, 7);
                zp_tasks_add (s_buf, 0, ZP_MAX_ITERATIONS, "absurd", 6);
                zmsg_t *out = zmsg_new ();
                zmsg_append (out, &id);
                zmsg_addmem (out, zchunk_data (s_buf), zchunk_size (s_buf));
                zmsg_send (&out, tasks);
                sent = true;
            }
            zframe_destroy (&id);
            zmsg_destroy (&msg);
        }
        else
        if (which == results) {
            zmsg_t *msg = zmsg_recv (results);
            zframe_t *body = zmsg_last (msg);
            zp_msg_t decoded;
            zp_result_t result;
            if (body && zp_msg_decode (zframe_data (body), zframe_size (body), &decoded, NULL) == 0
            &&  decoded.type == ZP_RESULTS && zp_msg_next_result (&decoded, &result)) {
                printf ("status %u %.*s\n", result.status, (int) result.output_size,
                        (const char *) result.output);
                status = 0;
            }
            zmsg_destroy (&msg);
        }
    }
    zpoller_destroy (&poller);
    zsock_destroy (&tasks);
    zsock_destroy (&results);
    return status;
}

//  READY of the greedy process: it holds every task it got (held_n of them).
static void
s_greedy_ready (zsock_t *sock, uint8_t flags, uint64_t received, const zp_ref_t *held,
                uint32_t held_n)
{
    zp_ready_t ready = {
        .flags = flags, .pid = 1, .capacity = flags & ZP_READY_LEAVING ? 0 : UINT32_MAX,
        .received = received, .finished = flags & ZP_READY_LEAVING ? received : 0,
        .held_n = held_n
    };
    strcpy (ready.host, "greedy");
    strcpy (ready.engine, "none");
    zp_ready_encode (s_buf, &ready, held);
    s_send (sock, zchunk_data (s_buf), zchunk_size (s_buf), 0);
}

static int
s_greedy (const char *endpoint, int seconds)
{
    zsock_t *sock = s_dealer (endpoint);
    zp_ref_t *held = (zp_ref_t *) calloc (ZP_MAX_RECORDS, sizeof (zp_ref_t));
    uint32_t held_n = 0;
    s_greedy_ready (sock, ZP_READY_HELD, 0, held, 0);
    int64_t deadline = zp_mono_us () + (int64_t) seconds * 1000000;
    int64_t heartbeat = zp_mono_us () + 1000000;
    zpoller_t *poller = zpoller_new (sock, NULL);
    while (zp_mono_us () < deadline && !zsys_interrupted) {
        if (zpoller_wait (poller, 100) == sock) {
            zmsg_t *msg = zmsg_recv (sock);
            zframe_t *body = msg ? zmsg_first (msg) : NULL;
            zp_msg_t decoded;
            zp_task_t task;
            if (body && zp_msg_decode (zframe_data (body), zframe_size (body), &decoded, NULL) == 0
            &&  decoded.type == ZP_TASKS)
                while (zp_msg_next_task (&decoded, &task) && held_n < ZP_MAX_RECORDS)
                    held [held_n++] = (zp_ref_t) { decoded.u.tasks.batch, task.task };
            zmsg_destroy (&msg);
        }
        if (zp_mono_us () >= heartbeat) {
            s_greedy_ready (sock, ZP_READY_HELD, held_n, held, held_n);
            printf ("tasks %u\n", held_n);
            fflush (stdout);
            heartbeat += 1000000;
        }
    }
    s_greedy_ready (sock, ZP_READY_LEAVING, held_n, held, held_n);
    zpoller_destroy (&poller);
    zsock_destroy (&sock);
    free (held);
    return 0;
}

int
main (int argc, char *argv [])
{
    zp_log_init ("rogue", 0);
    s_buf = zchunk_new (NULL, 4096);
    int status = 64;
    if (argc == 5 && streq (argv [1], "attack"))
        status = s_attack (argv [2], streq (argv [3], "sink"), (int) strtol (argv [4], NULL, 10));
    else
    if (argc == 4 && streq (argv [1], "greedy"))
        status = s_greedy (argv [2], (int) strtol (argv [3], NULL, 10));
    else
    if (argc == 5 && streq (argv [1], "absurd"))
        status = s_absurd (argv [2], argv [3], (int) strtol (argv [4], NULL, 10));
    else
        fprintf (stderr, "usage: rogue attack ENDPOINT ventilator|sink SECONDS\n"
                         "       rogue greedy TASK-ENDPOINT SECONDS\n"
                         "       rogue absurd TASK-ENDPOINT RESULT-ENDPOINT SECONDS\n");
    zchunk_destroy (&s_buf);
    return status;
}
