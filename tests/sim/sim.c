/*  sim - the ventilator's core under a deterministic fault simulator.

    One run ("schedule") is a batch on a simulated cluster: the real
    ventilator core (ventilator/core.c with its ledger) and the real wire
    encoders and decoders (shared/zp_proto.c), driven by a virtual clock,
    with worker processes and a sink modelled after docs/protocol.md, and a
    network that behaves as libzmq does for the sockets zpipe uses:

    - each connection delivers in order, after a latency of its own;
    - a connection that is cut (a crash, a cut link, a ZMTP heartbeat
      timeout after a pause of 3 s or more) loses what is on the wire; a
      new connection is a new routing id at the ventilator's ROUTER;
    - the ventilator's ROUTER is ROUTER_MANDATORY: a send to a routing id
      that is gone fails, and the core takes the tasks back; its DEALER to
      the sink is ZMQ_IMMEDIATE: a BATCH fails while the sink is away;
    - a worker's DEALERs connect: what it sends while the link is down
      waits in the pipe (READY up to 1000, RESULTS up to the worker's send
      limit of 16, beyond which results stay in its outbox, not finished);
      they try again every 20 ms (tasks) and 100 ms (results).

    Faults come from a schedule drawn from the seed: worker crashes (the
    supervisor restarts them with `replaces`), a host gone without a word
    (its connections stay until the heartbeat timeout), pauses of any stage
    from 0.1 to 12 s, link cuts and reconnects twice in a row, host
    partitions, slow links, sink crashes (a process crash keeps its journal;
    a power cut loses what `--fsync second` had not synced; a journal lost
    or missing its last records), a sink out of descriptors (it takes no
    new connection for a while), a greedy peer (capacity 2^32-1, never
    finishes) and clocks that run at rates differing by up to 2 %.

    Invariants, checked as the run goes and at its end:
    - credit: no process holds more than it asked for (up to
      ZP_MAX_CAPACITY) or more than VCORE_START_CREDIT beyond twice what it
      finished on that connection, copies included;
    - every result the sink accepts is the right one for its task, and at
      the end the sink has exactly one result for every task;
    - after the last fault heals, the batch completes within the bound
      s_bound states;
    - a schedule without faults sends nothing twice and the sink sees no
      duplicate.

    Usage: see s_usage, or `sim --help`. A failing seed prints what broke;
    `sim --seed N --trace` replays it event by event.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../../ventilator/core.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_PROCS   10          //  worker processes, the greedy peer included
#define MAX_TASKS   4096
#define MS          1000
#define SECOND      1000000

//  What libzmq and the worker do (worker/process.c, shared/zp_util.c).
#define ZMTP_TIMEOUT_US    (3 * SECOND)     //  zsock_set_heartbeat_timeout
#define TASKS_RECONNECT_US (20 * MS)        //  worker RECONNECT_MS
#define RECONNECT_US       (100 * MS)       //  libzmq's default
#define RESULTS_HWM        16
#define READY_HWM          1000
#define OUTBOX_RETRY_US    (100 * MS)
#define WORKER_HEARTBEAT_US SECOND
#define SINK_ACK_US        (10 * MS)        //  ACKs of new ids at most this often
#define SINK_SYNC_US       SECOND           //  --fsync second
#define COMPLETE_AGAIN_US  (250 * MS)
//  Without faults the first task goes within a tick and a few round trips
//  (each link's latency is at most 2 ms) of the sink and a worker being
//  connected: a READY when the connection comes up, not at a heartbeat.
#define START_WITHIN_US    (VCORE_TICK_US + 20 * MS)

//  --- Randomness: splitmix64, so that a seed is a schedule everywhere -----

static uint64_t rng_state;

static uint64_t
s_rand (void)
{
    uint64_t z = (rng_state += UINT64_C (0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C (0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94d049bb133111eb);
    return z ^ (z >> 31);
}

//  A number in [lo, hi].
static int64_t
s_range (int64_t lo, int64_t hi)
{
    assert (hi >= lo);
    return lo + (int64_t) (s_rand () % (uint64_t) (hi - lo + 1));
}

static bool
s_chance (int percent)
{
    return (int) (s_rand () % 100) < percent;
}

//  --- Events ----------------------------------------------------------------

typedef enum {
    EV_DELIVER,                 //  a message arrives at the far end of a link
    EV_CONNECT,                 //  a link tries to come up
    EV_TICK,                    //  the ventilator's timer
    EV_HEARTBEAT,               //  a worker process's READY HELD
    EV_TASK_DONE,               //  a worker process's engine finished a task
    EV_OUTBOX,                  //  a worker process tries its outbox again
    EV_SINK_ACK,                //  the sink's 10 ms ACK timer
    EV_SINK_SYNC,               //  the sink's --fsync second
    EV_SINK_COMPLETE,           //  the sink sends COMPLETE again
    EV_FAULT,                   //  a fault starts
    EV_HEAL,                    //  a fault ends
    EV_ZMTP_TIMEOUT             //  a paused or vanished peer's links time out
} kind_t;

typedef struct {
    int64_t at;
    uint64_t seq;
    kind_t kind;
    int a, b;                   //  which link/process/fault, and a detail
    uint64_t gen;               //  link epoch or process generation
    uint8_t *data;
    size_t size;
} event_t;

typedef struct {
    event_t *heap;
    size_t size, room;
    uint64_t seq;
} queue_t;

static bool
s_before (const event_t *a, const event_t *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
s_push (queue_t *q, event_t ev)
{
    if (q->size == q->room) {
        q->room = q->room ? q->room * 2 : 1024;
        q->heap = (event_t *) realloc (q->heap, q->room * sizeof (event_t));
        assert (q->heap);
    }
    ev.seq = q->seq++;
    size_t i = q->size++;
    while (i && s_before (&ev, &q->heap [(i - 1) / 2])) {
        q->heap [i] = q->heap [(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->heap [i] = ev;
}

static event_t
s_pop (queue_t *q)
{
    event_t top = q->heap [0];
    event_t last = q->heap [--q->size];
    size_t i = 0;
    while (true) {
        size_t child = 2 * i + 1;
        if (child >= q->size)
            break;
        if (child + 1 < q->size && s_before (&q->heap [child + 1], &q->heap [child]))
            child++;
        if (!s_before (&q->heap [child], &last))
            break;
        q->heap [i] = q->heap [child];
        i = child;
    }
    if (q->size)
        q->heap [i] = last;
    return top;
}

//  --- The world ---------------------------------------------------------------

//  Who a pause or a link end is: the ventilator, the sink, worker slot i.
#define ENT_VENTILATOR 0
#define ENT_SINK       1
#define ENT_PROC(i)    (2 + (i))

//  Links: the tasks link of slot i (worker <-> ventilator), its results link
//  (worker -> sink), and the ventilator's link to the sink.
#define LINK_TASKS(i)   (i)
#define LINK_RESULTS(i) (MAX_PROCS + (i))
#define LINK_SINK       (2 * MAX_PROCS)
#define LINKS           (2 * MAX_PROCS + 1)

typedef struct {
    uint8_t *data;
    size_t size;
} frame_t;

typedef struct {
    bool up;
    uint64_t epoch;             //  one per connection; a cut starts the next
    bool connecting;            //  an EV_CONNECT is on its way
    int64_t latency;
    int64_t slow_until, slow_latency;
    int64_t last_at [2];        //  keeps each direction in order
    frame_t queue [READY_HWM];  //  sent while down, by the connecting side
    size_t queued;
    uint64_t finished_base;     //  tasks links: `finished` of the first READY in
    bool based;
} link_t;

#define TASK_WAITING 0
#define TASK_RUNNING 1
#define TASK_OUTBOX  2

typedef struct {
    uint64_t batch, id;
    int state;
    uint64_t uid;               //  names its EV_TASK_DONE
} held_t;

typedef struct {
    bool used, alive, greedy, vanisher;
    int host;
    uint32_t pid, replaces;
    uint64_t gen;               //  one per process started in this slot
    uint32_t capacity;
    int lanes;
    int64_t speed_pct;          //  100: a task takes its nominal time
    uint64_t received, finished;
    held_t held [MAX_TASKS];
    size_t held_n;
    uint64_t next_uid;
    bool outbox_retry;
} proc_t;

typedef struct {
    uint64_t gen;
    uint64_t batch;             //  the batch it knows, 0 if none
    uint64_t total;
    uint8_t have [MAX_TASKS];
    uint64_t accepted, duplicates;
    uint64_t journal [MAX_TASKS * 2];
    size_t journal_n, synced_n;
    uint64_t pending [MAX_TASKS];
    size_t pending_n;
    uint64_t answered_epoch, reply_epoch;
    int64_t complete_until;
    uint64_t finished_batches [16];
    size_t finished_n;
    int fsync_second;
    bool alive;
    bool total_known;
    bool answered;              //  the link epoch above has had its SNAPSHOT
    bool ack_timer, complete, closed;
    bool refuses;               //  out of descriptors: no new connections
} sink_t;

typedef struct {
    ledger_t *ledger;
    vcore_t *core;
    uint64_t batch;
    bool alive, sink_up_done;
    int64_t started;
    int64_t ppm;                //  its clock's rate, parts per million off
} vent_t;

typedef struct {
    char what [200];
    int64_t at;
} violation_t;

typedef struct {
    uint64_t seed;
    //  the shape of the run
    size_t tasks;
    int64_t duration [MAX_TASKS];
    int64_t host_ppm [4];
    uint64_t iterations;
    int64_t task_timeout_us;
    //  what happened
    int64_t healed_at;          //  when the last fault ended
    int64_t bound;
    int64_t now;
    queue_t queue;
    link_t link [LINKS];
    proc_t proc [MAX_PROCS];
    int64_t paused_until [2 + MAX_PROCS];
    uint64_t pause_gen [2 + MAX_PROCS];
    sink_t sink;
    vent_t vent;
    zchunk_t *buf;
    violation_t violation;
    uint64_t sends;             //  task copies sent in all
    char logs [32][200];        //  the core's first log lines, for scenarios
    size_t logs_n;
    int64_t done_at;
    int64_t could_start_at;     //  the sink and a worker first connected
    int64_t first_send_at;      //  the first TASKS went
    int procs;
    int faults;
    bool trace, verbose;
    bool ready_at_heartbeat;    //  the worker before issue 12's fix 6
    bool greedy;
    bool partitioned [4];       //  a host cut off from both servers
    bool violated;
    bool summary_written;       //  a sink wrote the batch's complete summary
} world_t;

static world_t *W;

static void
s_trace (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
static void
s_trace (const char *format, ...)
{
    if (!W->trace)
        return;
    printf ("%10.6f ", (double) W->now / 1e6);
    va_list args;
    va_start (args, format);
    vprintf (format, args);
    va_end (args);
    putchar ('\n');
}

static void
s_violate (const char *format, ...) __attribute__ ((format (printf, 1, 2)));
static void
s_violate (const char *format, ...)
{
    if (W->violated)
        return;                 //  the first one says it
    W->violated = true;
    W->violation.at = W->now;
    va_list args;
    va_start (args, format);
    vsnprintf (W->violation.what, sizeof W->violation.what, format, args);
    va_end (args);
    s_trace ("VIOLATION: %s", W->violation.what);
}

//  The model's chain: what the right result of an input is.
static void
s_expected (const uint8_t *input, size_t size, char out [17])
{
    uint64_t h = UINT64_C (14695981039346656037);
    for (size_t i = 0; i < size; i++)
        h = (h ^ input [i]) * UINT64_C (1099511628211);
    snprintf (out, 17, "%016" PRIx64, h);
}

static int
s_link_host_end (int link)
{
    return link < MAX_PROCS ? ENT_PROC (link)
         : link < 2 * MAX_PROCS ? ENT_PROC (link - MAX_PROCS) : ENT_VENTILATOR;
}

static int
s_link_server_end (int link)
{
    return link < MAX_PROCS ? ENT_VENTILATOR : ENT_SINK;
}

static bool
s_alive (int entity)
{
    if (entity == ENT_VENTILATOR)
        return W->vent.alive;
    if (entity == ENT_SINK)
        return W->sink.alive;
    return W->proc [entity - 2].alive;
}

static bool
s_paused (int entity)
{
    return W->now < W->paused_until [entity];
}

//  --- The network -------------------------------------------------------------

static void s_on_link_up (int link);

static void
s_connect_later (int link, int64_t after)
{
    link_t *l = &W->link [link];
    if (l->connecting)
        return;
    l->connecting = true;
    s_push (&W->queue, (event_t) { .at = W->now + after, .kind = EV_CONNECT, .a = link });
}

static int64_t
s_reconnect_us (int link)
{
    return link < MAX_PROCS ? TASKS_RECONNECT_US : RECONNECT_US;
}

static void
s_cut (int link, const char *why)
{
    link_t *l = &W->link [link];
    if (l->up)
        s_trace ("link %d cut (%s)", link, why);
    l->up = false;
    l->epoch++;
    l->based = false;
    if (s_alive (s_link_host_end (link)))
        s_connect_later (link, s_reconnect_us (link));
}

//  Put a frame on the wire (dir 0: towards the server end, 1: back).
static void
s_wire (int link, int dir, const uint8_t *data, size_t size)
{
    link_t *l = &W->link [link];
    int64_t latency = W->now < l->slow_until ? l->slow_latency : l->latency;
    int64_t at = W->now + latency;
    if (at < l->last_at [dir])
        at = l->last_at [dir];
    l->last_at [dir] = at;
    uint8_t *copy = (uint8_t *) malloc (size);
    assert (copy);
    memcpy (copy, data, size);
    s_push (&W->queue, (event_t) { .at = at, .kind = EV_DELIVER, .a = link, .b = dir,
                                   .gen = l->epoch, .data = copy, .size = size });
}

//  A worker process sends on one of its connecting DEALERs: on the wire if
//  the link is up, else in the pipe while there is room. False if full.
static bool
s_send_up (int link, const uint8_t *data, size_t size, size_t hwm)
{
    link_t *l = &W->link [link];
    if (l->up) {
        s_wire (link, 0, data, size);
        return true;
    }
    if (l->queued >= hwm)
        return false;
    frame_t *frame = &l->queue [l->queued++];
    frame->data = (uint8_t *) malloc (size);
    assert (frame->data);
    memcpy (frame->data, data, size);
    frame->size = size;
    return true;
}

static bool
s_can_connect (int link)
{
    int host_end = s_link_host_end (link), server = s_link_server_end (link);
    if (!s_alive (host_end) || !s_alive (server) || s_paused (host_end) || s_paused (server))
        return false;
    if (server == ENT_SINK && W->sink.refuses)
        return false;
    if (link < 2 * MAX_PROCS && W->partitioned [W->proc [host_end - 2].host])
        return false;
    if (link == LINK_SINK && W->partitioned [3])
        return false;
    return true;
}

static void
s_on_connect (int link)
{
    link_t *l = &W->link [link];
    l->connecting = false;
    if (l->up || !s_alive (s_link_host_end (link)))
        return;
    if (!s_can_connect (link)) {
        s_connect_later (link, s_reconnect_us (link));
        return;
    }
    l->up = true;
    l->epoch++;
    s_trace ("link %d up (connection %" PRIu64 ")", link, l->epoch);
    //  What waited in the pipe goes first.
    for (size_t i = 0; i < l->queued; i++) {
        s_wire (link, 0, l->queue [i].data, l->queue [i].size);
        free (l->queue [i].data);
    }
    l->queued = 0;
    if (!W->could_start_at && W->link [LINK_SINK].up)
        for (int i = 0; i < MAX_PROCS; i++)
            if (W->link [LINK_TASKS (i)].up)
                W->could_start_at = W->now;
    s_on_link_up (link);
}

static void
s_drop_queue (int link)
{
    link_t *l = &W->link [link];
    for (size_t i = 0; i < l->queued; i++)
        free (l->queue [i].data);
    l->queued = 0;
}

//  --- Worker processes ---------------------------------------------------------

static void s_try_outbox (int slot);

static void
s_send_ready (int slot, uint8_t flags)
{
    proc_t *p = &W->proc [slot];
    zp_ready_t ready = {
        .flags = flags, .pid = p->pid, .capacity = p->capacity,
        .received = p->received, .finished = p->finished, .replaces = p->replaces
    };
    snprintf (ready.host, sizeof ready.host, "host%d", p->host);
    snprintf (ready.engine, sizeof ready.engine, "%s", p->greedy ? "greedy" : "model");
    static zp_ref_t refs [MAX_TASKS];
    if (flags & ZP_READY_HELD) {
        //  Those in the engine first (`running`), then the others.
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < p->held_n; i++)
                if ((p->held [i].state == TASK_RUNNING) == (pass == 0))
                    refs [ready.held_n++] = (zp_ref_t) { p->held [i].batch, p->held [i].id };
        for (size_t i = 0; i < p->held_n; i++)
            ready.running += p->held [i].state == TASK_RUNNING;
    }
    zp_ready_encode (W->buf, &ready, refs);
    if (!s_send_up (LINK_TASKS (slot), zchunk_data (W->buf), zchunk_size (W->buf), READY_HWM))
        s_trace ("proc %d: READY dropped (pipe full)", slot);
}

static void
s_start_tasks (int slot)
{
    proc_t *p = &W->proc [slot];
    int running = 0;
    for (size_t i = 0; i < p->held_n; i++)
        running += p->held [i].state == TASK_RUNNING;
    for (size_t i = 0; i < p->held_n && running < p->lanes; i++) {
        held_t *task = &p->held [i];
        if (task->state != TASK_WAITING)
            continue;
        task->state = TASK_RUNNING;
        task->uid = ++p->next_uid;
        running++;
        int64_t nominal = task->id < W->tasks ? W->duration [task->id] : 1000;
        int64_t took = nominal * 100 / p->speed_pct;
        s_push (&W->queue, (event_t) { .at = W->now + took, .kind = EV_TASK_DONE, .a = slot,
                                       .gen = p->gen, .b = (int) task->uid });
    }
}

static void
s_on_tasks (int slot, zp_msg_t *msg)
{
    proc_t *p = &W->proc [slot];
    link_t *l = &W->link [LINK_TASKS (slot)];
    zp_task_t task;
    size_t count = 0;
    while (zp_msg_next_task (msg, &task)) {
        if (p->held_n == MAX_TASKS) {
            s_violate ("proc %d holds %d tasks", slot, MAX_TASKS);
            return;
        }
        p->held [p->held_n++] = (held_t) { msg->u.tasks.batch, task.task, TASK_WAITING, 0 };
        p->received++;
        count++;
    }
    //  Credit: what it asked for, and what it earned on this connection.
    uint64_t holds = p->received - p->finished;
    uint64_t asked = p->capacity < ZP_MAX_CAPACITY ? p->capacity : ZP_MAX_CAPACITY;
    uint64_t earned = VCORE_START_CREDIT + 2 * (p->finished - l->finished_base);
    if (holds > asked || holds > earned)
        s_violate ("proc %d (pid %u) holds %" PRIu64 " tasks: capacity %" PRIu64 ", earned %"
                   PRIu64, slot, p->pid, holds, asked, earned);
    s_trace ("proc %d got %zu tasks, holds %" PRIu64, slot, count, holds);
    if (!p->greedy)
        s_start_tasks (slot);
}

static void
s_on_task_done (int slot, uint64_t uid)
{
    proc_t *p = &W->proc [slot];
    for (size_t i = 0; i < p->held_n; i++)
        if (p->held [i].state == TASK_RUNNING && p->held [i].uid == uid) {
            p->held [i].state = TASK_OUTBOX;
            break;
        }
    s_try_outbox (slot);
    s_start_tasks (slot);
}

//  Hand finished results to the results socket, oldest first; each that
//  goes is finished, and a READY says so.
static void
s_try_outbox (int slot)
{
    proc_t *p = &W->proc [slot];
    uint64_t before = p->finished;
    size_t kept = 0;
    for (size_t i = 0; i < p->held_n; i++) {
        held_t task = p->held [i];
        bool gone = false;
        if (task.state == TASK_OUTBOX) {
            char value [17];
            char input [64];
            int size = task.id < W->tasks
                     ? snprintf (input, sizeof input, "t%" PRIu64 "-%" PRIu64, W->seed, task.id)
                     : 0;
            s_expected ((const uint8_t *) input, (size_t) size, value);
            char host [16];
            snprintf (host, sizeof host, "host%d", p->host);
            zp_results_begin (W->buf, p->pid, host, task.batch);
            zp_result_t result = {
                .task = task.id, .status = ZP_STATUS_OK, .attempts = 1,
                .iterations = W->iterations, .elapsed_ns = 1000, .input = (uint8_t *) input,
                .input_size = (size_t) size, .output = (uint8_t *) value, .output_size = 16
            };
            zp_results_add (W->buf, &result);
            gone = s_send_up (LINK_RESULTS (slot), zchunk_data (W->buf), zchunk_size (W->buf),
                              RESULTS_HWM);
        }
        if (gone)
            p->finished++;
        else
            p->held [kept++] = task;
    }
    p->held_n = kept;
    if (p->finished > before)
        s_send_ready (slot, 0);
    bool left = false;
    for (size_t i = 0; i < p->held_n; i++)
        left |= p->held [i].state == TASK_OUTBOX;
    if (left && !p->outbox_retry) {
        p->outbox_retry = true;
        s_push (&W->queue, (event_t) { .at = W->now + OUTBOX_RETRY_US, .kind = EV_OUTBOX,
                                       .a = slot, .gen = p->gen });
    }
}

static int64_t
s_host_us (int host, int64_t us)
{
    return us + us * W->host_ppm [host] / 1000000;
}

static void
s_proc_start (int slot, uint32_t replaces)
{
    proc_t *p = &W->proc [slot];
    p->alive = true;
    p->gen++;
    p->pid = (uint32_t) (1000 + (uint64_t) slot * 100 + p->gen);
    p->replaces = replaces;
    p->received = p->finished = 0;
    p->held_n = 0;
    p->outbox_retry = false;
    s_trace ("proc %d starts: pid %u%s", slot, p->pid, replaces ? " (a restart)" : "");
    s_connect_later (LINK_TASKS (slot), 1 * MS);
    s_connect_later (LINK_RESULTS (slot), 1 * MS);
    s_push (&W->queue, (event_t) { .at = W->now + s_host_us (p->host, WORKER_HEARTBEAT_US),
                                   .kind = EV_HEARTBEAT, .a = slot, .gen = p->gen });
}

//  The process dies; its connections go with it, or, for a host that
//  vanished without a word, only when the far ends' heartbeats time out.
static void
s_proc_crash (int slot, bool vanish)
{
    proc_t *p = &W->proc [slot];
    if (!p->alive)
        return;
    s_trace ("proc %d (pid %u) %s", slot, p->pid, vanish ? "vanishes" : "crashes");
    p->alive = false;
    p->gen++;
    s_drop_queue (LINK_TASKS (slot));
    s_drop_queue (LINK_RESULTS (slot));
    if (vanish)
        s_push (&W->queue, (event_t) { .at = W->now + ZMTP_TIMEOUT_US, .kind = EV_ZMTP_TIMEOUT,
                                       .a = ENT_PROC (slot), .gen = UINT64_MAX });
    else {
        s_cut (LINK_TASKS (slot), "crash");
        s_cut (LINK_RESULTS (slot), "crash");
    }
}

//  --- The sink ------------------------------------------------------------------

static void
s_sink_send (uint8_t flags, const uint64_t *ids, size_t count, uint64_t epoch)
{
    sink_t *s = &W->sink;
    link_t *l = &W->link [LINK_SINK];
    if (!l->up || l->epoch != epoch)
        return;                 //  the connection it answers is gone
    size_t at = 0;
    do {
        size_t part = count - at < ZP_MAX_ACK_IDS ? count - at : ZP_MAX_ACK_IDS;
        zp_ack_begin (W->buf, s->batch, flags, s->accepted);
        for (size_t i = 0; i < part; i++)
            zp_ack_add (W->buf, ids [at + i]);
        s_wire (LINK_SINK, 1, zchunk_data (W->buf), zchunk_size (W->buf));
        at += part;
    } while (at < count);
}

static void
s_sink_check_complete (void)
{
    sink_t *s = &W->sink;
    if (s->complete || !s->total_known || s->accepted < s->total)
        return;
    s->complete = true;
    s->complete_until = W->now + 2 * SECOND;
    //  The summary: one result per task, each checked when it came.
    if (s->batch == W->vent.batch && s->accepted == W->tasks)
        W->summary_written = true;
    s_trace ("sink: batch complete (%" PRIu64 " results)", s->accepted);
    if (s->finished_n < 16)
        s->finished_batches [s->finished_n++] = s->batch;
    s_sink_send (ZP_ACK_COMPLETE, s->pending, s->pending_n, s->reply_epoch);
    s->pending_n = 0;
    s_push (&W->queue, (event_t) { .at = W->now + COMPLETE_AGAIN_US, .kind = EV_SINK_COMPLETE,
                                   .gen = s->gen });
}

static void
s_sink_new_batch (uint64_t batch)
{
    sink_t *s = &W->sink;
    s->batch = batch;
    s->total_known = false;
    s->total = 0;
    memset (s->have, 0, sizeof s->have);
    s->accepted = 0;
    s->journal_n = s->synced_n = 0;
    s->pending_n = 0;
    s->answered = false;
    s->complete = s->closed = false;
}

static void
s_sink_on_batch (zp_batch_t *batch, uint64_t epoch)
{
    sink_t *s = &W->sink;
    if (batch->batch != s->batch) {
        for (size_t i = 0; i < s->finished_n; i++)
            if (s->finished_batches [i] == batch->batch) {
                s_trace ("sink: BATCH of a finished batch: COMPLETE");
                uint64_t keep = s->batch;
                s->batch = batch->batch;
                s_sink_send (ZP_ACK_COMPLETE, NULL, 0, epoch);
                s->batch = keep;
                return;
            }
        s_sink_new_batch (batch->batch);
    }
    if (batch->flags & ZP_BATCH_TOTAL) {
        s->total_known = true;
        s->total = batch->total;
    }
    s->reply_epoch = epoch;
    if (batch->flags & ZP_BATCH_CLOSED)
        s->closed = true;
    if (!s->answered || s->answered_epoch != epoch) {
        static uint64_t ids [MAX_TASKS];
        size_t count = 0;
        for (uint64_t id = 0; id < MAX_TASKS; id++)
            if (s->have [id])
                ids [count++] = id;
        s->answered = true;
        s->answered_epoch = epoch;
        s->pending_n = 0;
        s_trace ("sink: SNAPSHOT of %zu ids", count);
        s_sink_send ((uint8_t) (ZP_ACK_SNAPSHOT | (s->complete ? ZP_ACK_COMPLETE : 0)), ids,
                     count, epoch);
    }
    else {
        s_sink_send (s->complete ? ZP_ACK_COMPLETE : 0, s->pending, s->pending_n, epoch);
        s->pending_n = 0;
    }
    s_sink_check_complete ();
}

static void
s_sink_on_results (zp_msg_t *msg)
{
    sink_t *s = &W->sink;
    //  Results may come before their batch's BATCH (a restarted sink): it
    //  holds them for a batch it has not yet been told about.
    if (!s->batch)
        s_sink_new_batch (msg->u.results.batch);
    if (msg->u.results.batch != s->batch)
        return;                 //  another batch's: refused, never acknowledged
    zp_result_t result;
    while (zp_msg_next_result (msg, &result)) {
        if (result.task >= W->tasks || (s->total_known && result.task >= s->total))
            continue;
        char input [64], value [17];
        int size = snprintf (input, sizeof input, "t%" PRIu64 "-%" PRIu64, W->seed, result.task);
        s_expected ((const uint8_t *) input, (size_t) size, value);
        if (result.input_size != (size_t) size || memcmp (result.input, input, (size_t) size) != 0
        ||  result.output_size != 16 || memcmp (result.output, value, 16) != 0) {
            s_violate ("the sink got a wrong result for task %" PRIu64, result.task);
            continue;
        }
        if (s->have [result.task]) {
            s->duplicates++;
            continue;
        }
        s->have [result.task] = 1;
        s->accepted++;
        s->journal [s->journal_n++] = result.task;
        if (!s->fsync_second)
            s->synced_n = s->journal_n;
        s->pending [s->pending_n++] = result.task;
    }
    if (s->pending_n && !s->ack_timer && s->answered) {
        s->ack_timer = true;
        s_push (&W->queue, (event_t) { .at = W->now + SINK_ACK_US, .kind = EV_SINK_ACK,
                                       .gen = s->gen });
    }
    s_sink_check_complete ();
}

//  Journal modes a sink restarts on.
#define JOURNAL_KEPT    0       //  a process crash: everything written is there
#define JOURNAL_SYNCED  1       //  a power cut: what was synced
#define JOURNAL_NONE    2       //  started without --journal, or lost
#define JOURNAL_TAIL    3       //  missing its last records (a backup, a cut line)

static void
s_sink_crash (void)
{
    sink_t *s = &W->sink;
    if (!s->alive)
        return;
    s_trace ("sink crashes");
    s->alive = false;
    s->gen++;
    s_cut (LINK_SINK, "sink crash");
    for (int i = 0; i < MAX_PROCS; i++)
        if (W->link [LINK_RESULTS (i)].up)
            s_cut (LINK_RESULTS (i), "sink crash");
}

static void
s_sink_restart (int journal, size_t tail)
{
    sink_t *s = &W->sink;
    size_t keep = journal == JOURNAL_KEPT ? s->journal_n
                : journal == JOURNAL_SYNCED ? s->synced_n
                : journal == JOURNAL_TAIL ? (s->journal_n > tail ? s->journal_n - tail : 0) : 0;
    uint64_t batch = journal == JOURNAL_NONE ? 0 : s->batch;
    bool total_known = s->total_known;
    uint64_t total = s->total;
    static uint64_t records [MAX_TASKS * 2];
    memcpy (records, s->journal, keep * sizeof records [0]);
    s_sink_new_batch (batch);
    if (journal == JOURNAL_NONE)
        s->finished_n = 0;      //  its record of finished batches went too
    if (batch) {
        s->total_known = total_known;
        s->total = total;
    }
    for (size_t i = 0; i < keep; i++)
        if (!s->have [records [i]]) {
            s->have [records [i]] = 1;
            s->accepted++;
            s->journal [s->journal_n++] = records [i];
        }
    s->synced_n = s->journal_n;
    s->alive = true;
    s->ack_timer = false;
    s_trace ("sink restarts with %zu journal records", keep);
    for (int i = 0; i < MAX_PROCS; i++)
        if (W->proc [i].alive)
            s_connect_later (LINK_RESULTS (i), RECONNECT_US);
    s_connect_later (LINK_SINK, RECONNECT_US);
    s_sink_check_complete ();
}

//  --- The ventilator (the real core) -----------------------------------------

static int64_t
s_vent_now (void)
{
    return SECOND + W->now + W->now * W->vent.ppm / 1000000;
}

static bool
s_to_worker (void *arg, const uint8_t *id, size_t id_size, const uint8_t *data, size_t size)
{
    (void) arg;
    assert (id_size == 9);
    int slot = id [0];
    uint64_t epoch;
    memcpy (&epoch, id + 1, 8);
    link_t *l = &W->link [LINK_TASKS (slot)];
    if (!l->up || l->epoch != epoch)
        return false;           //  ROUTER_MANDATORY: that peer is gone
    zp_msg_t msg;
    if (zp_msg_decode (data, size, &msg, NULL) || msg.type != ZP_TASKS) {
        s_violate ("the core sent a worker something that is not TASKS");
        return false;
    }
    W->sends += msg.u.tasks.count;
    if (!W->first_send_at)
        W->first_send_at = W->now;
    s_wire (LINK_TASKS (slot), 1, data, size);
    return true;
}

static bool
s_to_sink (void *arg, const uint8_t *data, size_t size)
{
    (void) arg;
    if (!W->link [LINK_SINK].up)
        return false;           //  ZMQ_IMMEDIATE
    s_wire (LINK_SINK, 0, data, size);
    return true;
}

static void
s_log (void *arg, int level, const char *line)
{
    (void) arg;
    if (W->logs_n < 32)
        snprintf (W->logs [W->logs_n++], sizeof W->logs [0], "%s", line);
    if (level <= (W->verbose ? VCORE_DEBUG : VCORE_INFO))
        s_trace ("ventilator: %s", line);
}

static void
s_vent_start (uint64_t batch)
{
    vent_t *v = &W->vent;
    v->ledger = ledger_new ();
    assert (v->ledger);
    for (uint64_t id = 0; id < W->tasks; id++) {
        char input [64];
        int size = snprintf (input, sizeof input, "t%" PRIu64 "-%" PRIu64, W->seed, id);
        int rc = ledger_add (v->ledger, input, (size_t) size);
        assert (rc == 0);
    }
    vcore_config_t config = {
        .iterations = W->iterations, .min_workers = 1, .heartbeat_us = 3 * SECOND,
        .task_timeout_us = W->task_timeout_us, .bind = "tcp://sim:5557",
        .sink = "tcp://sim:5558", .input_name = "sim"
    };
    vcore_io_t io = { s_to_worker, s_to_sink, s_log, NULL };
    v->core = vcore_new (&config, &io, v->ledger, batch, true, s_vent_now ());
    assert (v->core);
    v->batch = batch;
    v->alive = true;
    v->sink_up_done = false;
    v->started = W->now;
    s_trace ("ventilator starts batch %016" PRIx64 " of %zu tasks", batch, W->tasks);
    s_connect_later (LINK_SINK, 1 * MS);
    for (int i = 0; i < MAX_PROCS; i++)
        if (W->proc [i].alive)
            s_connect_later (LINK_TASKS (i), TASKS_RECONNECT_US);
    s_push (&W->queue, (event_t) { .at = W->now + VCORE_TICK_US, .kind = EV_TICK });
}

static void
s_vent_stop (void)
{
    vent_t *v = &W->vent;
    v->alive = false;
    vcore_destroy (&v->core);
    ledger_destroy (&v->ledger);
    s_cut (LINK_SINK, "ventilator exits");
    for (int i = 0; i < MAX_PROCS; i++)
        s_cut (LINK_TASKS (i), "ventilator exits");
}

static void
s_on_link_up (int link)
{
    if (link == LINK_SINK) {
        if (!W->vent.sink_up_done)
            W->vent.sink_up_done = vcore_sink_up (W->vent.core, s_vent_now ());
    }
    else
    if (link < MAX_PROCS) {
        if (!W->ready_at_heartbeat)
            s_send_ready (link, ZP_READY_HELD);
    }
    else
        s_try_outbox (link - MAX_PROCS);
}

//  --- Delivering --------------------------------------------------------------

static void
s_deliver (event_t *ev)
{
    link_t *l = &W->link [ev->a];
    if (!l->up || ev->gen != l->epoch)
        return;                 //  lost with its connection
    int to = ev->b == 0 ? s_link_server_end (ev->a) : s_link_host_end (ev->a);
    if (!s_alive (to))
        return;
    zp_msg_t msg;
    const char *reason = NULL;
    if (zp_msg_decode (ev->data, ev->size, &msg, &reason)) {
        s_violate ("a message does not decode: %s", reason);
        return;
    }
    if (ev->a < MAX_PROCS && ev->b == 0) {
        //  READY at the ventilator, from this connection's routing id.
        uint8_t id [9];
        id [0] = (uint8_t) ev->a;
        memcpy (id + 1, &l->epoch, 8);
        if (!l->based) {
            l->based = true;
            l->finished_base = msg.u.ready.finished;
        }
        vcore_on_ready (W->vent.core, id, sizeof id, &msg, s_vent_now ());
        vcore_dispatch (W->vent.core, s_vent_now ());
    }
    else
    if (ev->a < MAX_PROCS)
        s_on_tasks (ev->a, &msg);
    else
    if (ev->a < 2 * MAX_PROCS)
        s_sink_on_results (&msg);
    else
    if (ev->b == 0)
        s_sink_on_batch (&msg.u.batch, ev->gen);
    else {
        vcore_on_ack (W->vent.core, &msg, s_vent_now ());
        if (vcore_complete (W->vent.core)) {
            if (!W->done_at)
                W->done_at = W->now;
        }
        else
            vcore_dispatch (W->vent.core, s_vent_now ());
    }
}

//  Whose event is it: a paused owner takes it when it wakes.
static int
s_owner (const event_t *ev)
{
    switch (ev->kind) {
        case EV_DELIVER:
            return ev->b == 0 ? s_link_server_end (ev->a) : s_link_host_end (ev->a);
        case EV_TICK:
            return ENT_VENTILATOR;
        case EV_HEARTBEAT:
        case EV_TASK_DONE:
        case EV_OUTBOX:
            return ENT_PROC (ev->a);
        case EV_SINK_ACK:
        case EV_SINK_SYNC:
        case EV_SINK_COMPLETE:
            return ENT_SINK;
        default:
            return -1;
    }
}

//  --- Faults ------------------------------------------------------------------

typedef enum {
    F_CRASH, F_VANISH, F_PAUSE, F_CUT, F_FLAP, F_PARTITION, F_SLOW, F_SINK_CRASH,
    F_SINK_REFUSES, F_KINDS
} fault_t;

static const char *fault_names [] = {
    "crash", "vanish", "pause", "cut", "flap", "partition", "slow", "sink-crash",
    "sink-refuses"
};

static void
s_schedule (int64_t at, fault_t kind, int target, int detail)
{
    s_push (&W->queue, (event_t) { .at = at, .kind = EV_FAULT, .a = (int) kind, .b = target,
                                   .gen = (uint64_t) detail });
}

static void
s_heal_at (int64_t at, fault_t kind, int target, int detail)
{
    if (at > W->healed_at)
        W->healed_at = at;
    s_push (&W->queue, (event_t) { .at = at, .kind = EV_HEAL, .a = (int) kind, .b = target,
                                   .gen = (uint64_t) detail });
}

static void
s_pause (int entity, int64_t length)
{
    if (W->paused_until [entity] < W->now + length)
        W->paused_until [entity] = W->now + length;
    W->pause_gen [entity]++;
    s_trace ("entity %d paused for %.3f s", entity, (double) length / 1e6);
    if (length >= ZMTP_TIMEOUT_US)
        s_push (&W->queue, (event_t) { .at = W->now + ZMTP_TIMEOUT_US, .kind = EV_ZMTP_TIMEOUT,
                                       .a = entity, .gen = W->pause_gen [entity] });
    s_heal_at (W->now + length, F_PAUSE, entity, 0);
}

//  The peers of an entity stopped hearing it: its connections are dropped.
static void
s_zmtp_timeout (int entity)
{
    for (int link = 0; link < LINKS; link++)
        if (s_link_host_end (link) == entity || s_link_server_end (link) == entity)
            if (W->link [link].up)
                s_cut (link, "heartbeat timeout");
}

static void
s_fault (fault_t kind, int target, int detail)
{
    s_trace ("fault: %s %d (%d)", fault_names [kind], target, detail);
    switch (kind) {
        case F_CRASH:
            if (W->proc [target].alive && !W->proc [target].greedy) {
                uint32_t pid = W->proc [target].pid;
                s_proc_crash (target, false);
                s_heal_at (W->now + detail * MS, F_CRASH, target, (int) pid);
            }
            break;
        case F_VANISH:
            s_proc_crash (target, true);
            break;
        case F_PAUSE:
            s_pause (target, detail * MS);
            break;
        case F_CUT:
            s_cut (target, "cut");
            s_heal_at (W->now + s_reconnect_us (target), F_CUT, target, 0);
            break;
        case F_FLAP:
            s_cut (target, "flap");
            s_schedule (W->now + s_reconnect_us (target) + 2 * MS, F_CUT, target, 0);
            break;
        case F_PARTITION:
            W->partitioned [target] = true;
            for (int link = 0; link < LINKS; link++) {
                bool hit = target == 3 ? link == LINK_SINK
                         : link < 2 * MAX_PROCS
                           && W->proc [s_link_host_end (link) - 2].used
                           && W->proc [s_link_host_end (link) - 2].host == target;
                if (hit && W->link [link].up)
                    s_cut (link, "partition");
            }
            s_heal_at (W->now + detail * MS, F_PARTITION, target, 0);
            break;
        case F_SLOW:
            W->link [target].slow_until = W->now + 2 * SECOND;
            W->link [target].slow_latency = detail * MS;
            s_heal_at (W->now + 2 * SECOND, F_SLOW, target, 0);
            break;
        case F_SINK_CRASH:
            s_sink_crash ();
            s_heal_at (W->now + s_range (200, 2000) * MS, F_SINK_CRASH, target, detail);
            break;
        case F_SINK_REFUSES:
            W->sink.refuses = true;
            s_heal_at (W->now + detail * MS, F_SINK_REFUSES, 0, 0);
            break;
        default:
            break;
    }
}

static void
s_heal (fault_t kind, int target, int detail)
{
    switch (kind) {
        case F_CRASH:
            //  The supervisor starts a successor that says whom it replaces.
            if (!W->proc [target].alive)
                s_proc_start (target, (uint32_t) detail);
            break;
        case F_PARTITION:
            W->partitioned [target] = false;
            break;
        case F_SINK_CRASH:
            s_sink_restart (target, (size_t) detail);
            break;
        case F_SINK_REFUSES:
            W->sink.refuses = false;
            break;
        default:
            break;
    }
}

//  --- One schedule ------------------------------------------------------------

//  The completion bound, after the last fault healed: finding a dead holder
//  (heartbeat 3 s) or lost results (report timeout 5 s, counted once the
//  sink answers, which it does within its silence window of 3 s and a
//  pulse of 1 s), a quarantine of 10 s in the worst case (every process
//  reported results a restarted sink lost), a ZMTP timeout of 3 s and
//  reconnects, 1 s in all, then the work itself: at worst the whole batch
//  again, with its straggler copies, on the slowest process.
static int64_t
s_bound (void)
{
    int64_t work = 0, longest = 0;
    for (size_t i = 0; i < W->tasks; i++) {
        work += W->duration [i];
        if (W->duration [i] > longest)
            longest = W->duration [i];
    }
    int64_t slowest = 100;
    for (int i = 0; i < MAX_PROCS; i++)
        if (W->proc [i].used && !W->proc [i].greedy && W->proc [i].speed_pct < slowest)
            slowest = W->proc [i].speed_pct;
    int64_t timeouts = 3 * SECOND + 5 * SECOND + 3 * SECOND + VCORE_PULSE_US
                     + VCORE_QUARANTINE_US + ZMTP_TIMEOUT_US + SECOND;
    return timeouts + 2 * (work + longest) * 100 / slowest;
}

static void
s_add_proc (int slot, int host, bool greedy)
{
    proc_t *p = &W->proc [slot];
    p->used = true;
    p->host = host;
    p->greedy = greedy;
    p->capacity = greedy ? UINT32_MAX : (uint32_t) s_range (1, 16);
    p->lanes = greedy ? 0 : (int) s_range (1, p->capacity < 3 ? p->capacity : 3);
    p->speed_pct = greedy ? 100 : s_range (50, 150);
    W->procs = slot + 1 > W->procs ? slot + 1 : W->procs;
}

static void
s_world_new (uint64_t seed, bool trace)
{
    W = (world_t *) calloc (1, sizeof (world_t));
    assert (W);
    W->seed = seed;
    W->trace = trace;
    W->buf = zchunk_new (NULL, 65536);
    W->sink.alive = true;
    W->iterations = 1000;
    W->task_timeout_us = 60 * SECOND;
    rng_state = seed;
    for (int link = 0; link < LINKS; link++)
        W->link [link].latency = s_range (50, 2000);
}

static void
s_world_destroy (void)
{
    while (W->queue.size) {
        event_t ev = s_pop (&W->queue);
        free (ev.data);         //  NOLINT(clang-analyzer-unix.Malloc): each event owns its data once
    }
    free (W->queue.heap);
    for (int link = 0; link < LINKS; link++)
        s_drop_queue (link);
    if (W->vent.core)
        vcore_destroy (&W->vent.core);
    ledger_destroy (&W->vent.ledger);
    zchunk_destroy (&W->buf);
    free (W);
    W = NULL;
}

//  Draw the shape of the run and its faults from the seed.
static void
s_draw (void)
{
    W->tasks = (size_t) s_range (1, 120);
    int64_t base = s_range (1, 40) * MS;
    for (size_t i = 0; i < W->tasks; i++)
        W->duration [i] = base * s_range (50, 150) / 100;
    int hosts = (int) s_range (1, 3);
    for (int h = 0; h < hosts; h++)
        W->host_ppm [h] = s_range (-20000, 20000);
    W->vent.ppm = s_range (-20000, 20000);
    int slot = 0;
    if (s_chance (10)) {
        W->greedy = true;           //  a fault: what it holds must be copied
        W->faults++;
        s_add_proc (slot++, 0, true);
    }
    for (int h = 0; h < hosts; h++)
        for (int i = (int) s_range (1, 3); i > 0 && slot < MAX_PROCS; i--)
            s_add_proc (slot++, h, false);
    if (s_chance (10))
        W->task_timeout_us = 10 * SECOND;

    //  A fifth of the schedules have no fault: nothing may be sent twice.
    int faults = s_chance (20) ? 0 : (int) s_range (1, 6);
    int64_t work = 0;
    for (size_t i = 0; i < W->tasks; i++)
        work += W->duration [i];
    int64_t window = work / (W->procs ? W->procs : 1) + 200 * MS;
    for (int f = 0; f < faults; f++) {
        int64_t at = s_range (0, window);
        fault_t kind = (fault_t) s_range (0, F_KINDS - 1);
        int victim = (int) s_range (W->greedy ? 1 : 0, W->procs - 1);
        switch (kind) {
            case F_CRASH:
                s_schedule (at, kind, victim, (int) s_range (20, 500));
                break;
            case F_VANISH:
                //  Gone for good; the last slot never goes, so someone is left.
                if (victim < W->procs - 1)
                    s_schedule (at, kind, victim, 0);
                break;
            case F_PAUSE: {
                int entity = (int) s_range (0, 1 + W->procs);
                int64_t length = s_chance (50) ? s_range (100, 2500) : s_range (3000, 12000);
                s_schedule (at, kind, entity, (int) length);
                break;
            }
            case F_CUT:
            case F_FLAP:
            case F_SLOW: {
                int link = s_chance (20) ? LINK_SINK
                         : s_chance (50) ? LINK_TASKS (victim) : LINK_RESULTS (victim);
                s_schedule (at, kind, link, (int) s_range (20, 500));
                break;
            }
            case F_PARTITION:
                s_schedule (at, kind, s_chance (25) ? 3 : (int) s_range (0, hosts - 1),
                            (int) s_range (100, 6000));
                break;
            case F_SINK_CRASH: {
                int journal = (int) s_range (0, 3);
                s_schedule (at, kind, journal, (int) s_range (1, 20));
                break;
            }
            case F_SINK_REFUSES:
                s_schedule (at, kind, 0, (int) s_range (100, 5000));
                break;
            default:
                break;
        }
        W->faults++;
        //  A fault is healed when it ends; those that end by themselves
        //  (a cut, a vanished host) count from when they start.
        if (at > W->healed_at)
            W->healed_at = at;
    }
    W->sink.fsync_second = s_chance (50);
}

static void
s_start (void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (W->proc [i].used)
            s_proc_start (i, 0);
    s_vent_start (UINT64_C (0x5117) << 32 | (W->seed & 0xffffffff));
    s_push (&W->queue, (event_t) { .at = SINK_SYNC_US, .kind = EV_SINK_SYNC, .gen = 0 });
}

static void
s_step (event_t *ev)
{
    int owner = s_owner (ev);
    if (owner >= 0 && s_paused (owner)) {
        event_t later = *ev;
        later.at = W->paused_until [owner];
        s_push (&W->queue, later);      //  its data goes with it
        ev->data = NULL;
        return;
    }
    switch (ev->kind) {
        case EV_DELIVER:
            s_deliver (ev);
            break;
        case EV_CONNECT:
            s_on_connect (ev->a);
            break;
        case EV_TICK:
            if (W->vent.alive && !vcore_complete (W->vent.core)) {
                if (!W->vent.sink_up_done && W->link [LINK_SINK].up)
                    W->vent.sink_up_done = vcore_sink_up (W->vent.core, s_vent_now ());
                vcore_on_tick (W->vent.core, s_vent_now ());
                s_push (&W->queue, (event_t) { .at = W->now + VCORE_TICK_US, .kind = EV_TICK });
            }
            break;
        case EV_HEARTBEAT:
            if (W->proc [ev->a].alive && W->proc [ev->a].gen == ev->gen) {
                s_send_ready (ev->a, ZP_READY_HELD);
                s_push (&W->queue, (event_t) {
                    .at = W->now + s_host_us (W->proc [ev->a].host, WORKER_HEARTBEAT_US),
                    .kind = EV_HEARTBEAT, .a = ev->a, .gen = ev->gen });
            }
            break;
        case EV_TASK_DONE:
            if (W->proc [ev->a].alive && W->proc [ev->a].gen == ev->gen)
                s_on_task_done (ev->a, (uint64_t) ev->b);
            break;
        case EV_OUTBOX:
            if (W->proc [ev->a].alive && W->proc [ev->a].gen == ev->gen) {
                W->proc [ev->a].outbox_retry = false;
                s_try_outbox (ev->a);
            }
            break;
        case EV_SINK_ACK:
            if (W->sink.alive && W->sink.gen == ev->gen) {
                W->sink.ack_timer = false;
                if (W->sink.pending_n && W->sink.answered) {
                    s_sink_send (0, W->sink.pending, W->sink.pending_n, W->sink.reply_epoch);
                    W->sink.pending_n = 0;
                }
            }
            break;
        case EV_SINK_SYNC:
            if (W->sink.alive)
                W->sink.synced_n = W->sink.journal_n;
            s_push (&W->queue, (event_t) { .at = W->now + SINK_SYNC_US, .kind = EV_SINK_SYNC });
            break;
        case EV_SINK_COMPLETE:
            if (W->sink.alive && W->sink.gen == ev->gen && W->sink.complete
            &&  !W->sink.closed && W->now < W->sink.complete_until) {
                s_sink_send (ZP_ACK_COMPLETE, NULL, 0, W->sink.reply_epoch);
                s_push (&W->queue, (event_t) { .at = W->now + COMPLETE_AGAIN_US,
                                               .kind = EV_SINK_COMPLETE, .gen = ev->gen });
            }
            break;
        case EV_FAULT:
            s_fault ((fault_t) ev->a, ev->b, (int) ev->gen);
            break;
        case EV_HEAL:
            s_heal ((fault_t) ev->a, ev->b, (int) ev->gen);
            break;
        case EV_ZMTP_TIMEOUT:
            if (ev->gen == UINT64_MAX || (s_paused (ev->a) && W->pause_gen [ev->a] == ev->gen))
                s_zmtp_timeout (ev->a);
            break;
    }
}

//  Run until the ventilator is done or the bound has passed. Returns true
//  if every invariant held.
static bool
s_run (void)
{
    W->bound = s_bound ();
    while (W->queue.size && !W->violated && !W->done_at
       &&  W->queue.heap [0].at <= W->healed_at + W->bound) {
        event_t ev = s_pop (&W->queue);
        W->now = ev.at;
        s_step (&ev);
        free (ev.data);         //  NOLINT(clang-analyzer-unix.Malloc): each event owns its data once
    }
    if (W->violated)
        return false;
    sink_t *s = &W->sink;
    if (!W->done_at)
        s_violate ("not complete %.1f s after the last fault healed (bound %.1f s): the sink"
                   " has %" PRIu64 " of %zu, the ventilator %" PRIu64 " acknowledged",
                   (double) (W->now - W->healed_at) / 1e6, (double) W->bound / 1e6,
                   s->accepted, W->tasks, ledger_done (W->vent.ledger));
    else
    if (!W->summary_written)
        s_violate ("the ventilator is done but no sink wrote a complete summary (the sink"
                   " has %" PRIu64 " of %zu results)", s->accepted, W->tasks);
    else
    if (W->faults == 0 && W->first_send_at - W->could_start_at > START_WITHIN_US)
        s_violate ("no fault, yet the first task went %.3f s after the sink and a worker"
                   " were connected", (double) (W->first_send_at - W->could_start_at) / 1e6);
    else
    if (W->faults == 0 && (ledger_redelivered (W->vent.ledger) || s->duplicates))
        s_violate ("no fault, yet %" PRIu64 " tasks were sent again and %" PRIu64
                   " results came twice", ledger_redelivered (W->vent.ledger), s->duplicates);
    return !W->violated;
}

//  --- Named scenarios: issue 12's failures, each a fixed schedule -------------

typedef struct {
    const char *name;
    const char *what;
    bool (*run) (void);
} scenario_t;

static bool
s_logged (const char *words)
{
    for (size_t i = 0; i < W->logs_n; i++)
        if (strstr (W->logs [i], words))
            return true;
    return false;
}

//  A fixed cluster: tasks of ms each on procs processes of one host, in
//  the slots from first on.
static void
s_fixed_from (int first, size_t tasks, int64_t ms, int procs, uint32_t capacity)
{
    W->tasks = tasks;
    for (size_t i = 0; i < tasks; i++)
        W->duration [i] = ms * MS;
    for (int i = first; i < first + procs; i++) {
        s_add_proc (i, 0, false);
        W->proc [i].capacity = capacity;
        W->proc [i].lanes = 1;
        W->proc [i].speed_pct = 100;
    }
    W->faults = 1;
}

static void
s_fixed (size_t tasks, int64_t ms, int procs, uint32_t capacity)
{
    s_fixed_from (0, tasks, ms, procs, capacity);
}

//  1: the sink stopped 4, 10 and 30 s mid-batch; it continues.
static bool
s_scenario_pause (void)
{
    for (int64_t length = 4; length <= 30; length = length == 4 ? 10 : 30 + length) {
        s_world_destroy ();
        s_world_new (1, false);
        s_fixed (40, 50, 2, 4);
        s_schedule (300 * MS, F_PAUSE, ENT_SINK, (int) (length * 1000));
        s_start ();
        if (!s_run ())
            return false;
    }
    return true;
}

//  2: 40 long tasks on one process; the sink is killed after 1 s and a new
//  one started 1 s later without a journal. Results the worker held reach
//  it first; only the ids show what it lost.
static bool
s_scenario_no_journal (void)
{
    s_fixed (40, 100, 1, 4);
    s_schedule (1 * SECOND, F_SINK_CRASH, JOURNAL_NONE, 0);
    s_start ();
    return s_run () && ledger_redelivered (W->vent.ledger) > 0;
}

//  3: the sink killed after 1 s, its journal missing its last 5 records.
static bool
s_scenario_journal_tail (void)
{
    s_fixed (40, 50, 2, 4);
    s_schedule (1 * SECOND, F_SINK_CRASH, JOURNAL_TAIL, 5);
    s_start ();
    return s_run () && ledger_redelivered (W->vent.ledger) >= 5;
}

//  4: a peer asking for 2^32-1 tasks that never finishes one connects
//  first; it never holds more than the start credit.
static bool
s_scenario_greedy (void)
{
    s_add_proc (0, 0, true);
    W->greedy = true;
    s_fixed_from (1, 800, 5, 1, 16);
    s_start ();
    return s_run ();
}

//  5: no fault: nothing is sent twice, 6 times 2,000 tiny tasks.
static bool
s_scenario_clean (void)
{
    for (int run = 0; run < 6; run++) {
        s_world_destroy ();
        s_world_new ((uint64_t) run, false);
        s_fixed (2000, 1, 2, 16);
        W->faults = 0;
        s_start ();
        if (!s_run ())
            return false;
        if (W->sends != W->tasks) {
            s_violate ("a clean run sent %" PRIu64 " copies of %zu tasks", W->sends, W->tasks);
            return false;
        }
    }
    return true;
}

//  6: back to back, 8 batches of 16 tiny tasks against a standing sink and
//  standing workers: each is done within 0.1 s of its start.
static bool
s_scenario_back_to_back (void)
{
    s_fixed (16, 1, 2, 4);
    W->faults = 0;
    for (int i = 0; i < MAX_PROCS; i++)
        if (W->proc [i].used)
            s_proc_start (i, 0);
    for (int batch = 1; batch <= 8; batch++) {
        W->done_at = 0;
        W->summary_written = false;
        int64_t start = W->now + 2 * SECOND;       //  workers stand meanwhile
        while (W->queue.size && W->queue.heap [0].at < start) {
            event_t ev = s_pop (&W->queue);
            W->now = ev.at;
            s_step (&ev);
            free (ev.data);
        }
        W->now = start;
        s_vent_start ((uint64_t) batch);
        W->healed_at = W->now;
        if (!s_run ())
            return false;
        int64_t took = W->done_at - start;
        if (took > 100 * MS) {
            s_violate ("batch %d took %.3f s from its start", batch, (double) took / 1e6);
            return false;
        }
        s_vent_stop ();
        W->done_at = 1;         //  until the next starts
    }
    return true;
}

//  7: silence is noticed: the sink stopped for 5 s is logged silent and back.
static bool
s_scenario_silence (void)
{
    s_fixed (40, 50, 2, 4);
    s_schedule (300 * MS, F_PAUSE, ENT_SINK, 5000);
    s_start ();
    return s_run () && s_logged ("has been silent") && s_logged ("answers again");
}

//  8: the sink takes no new connection for 5 s (out of descriptors) while
//  workers start; the batch starts once it can, and completes.
static bool
s_scenario_refused (void)
{
    s_fixed (40, 20, 4, 4);
    s_schedule (0, F_SINK_REFUSES, 0, 5000);
    s_start ();
    return s_run ();
}

static scenario_t scenarios [] = {
    { "sink-paused", "1: the sink paused 4, 10, 30 s mid-batch continues", s_scenario_pause },
    { "sink-without-journal", "2: a sink restarted without its journal", s_scenario_no_journal },
    { "journal-missing-tail", "3: a sink restarted on a journal missing 5 records",
      s_scenario_journal_tail },
    { "greedy-peer", "4: a greedy peer holds the start credit, not the batch", s_scenario_greedy },
    { "clean-runs", "5: clean runs send nothing twice", s_scenario_clean },
    { "back-to-back", "6: back-to-back batches each done within 0.1 s",
      s_scenario_back_to_back },
    { "silence", "7: the sink's silence logged, and its return", s_scenario_silence },
    { "sink-refuses", "8: a sink that takes no connection for 5 s", s_scenario_refused },
};
#define SCENARIOS (sizeof scenarios / sizeof scenarios [0])

//  --- main ---------------------------------------------------------------------

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: sim [--seeds A-B] [--jobs N] [--seed N [--trace] [--verbose]]\n"
        "           [--scenario NAME|all] [--ready-at-heartbeat] [--list]\n"
        "Runs the ventilator's core (ventilator/core.c) on a simulated cluster with\n"
        "faults drawn from each seed, and checks its invariants (see tests/sim/sim.c).\n"
        "  --seeds A-B    the schedules of seeds A to B (default 0-9999)\n"
        "  --jobs N       run them in N processes (default 2)\n"
        "  --seed N       one schedule; with --trace, every event it went through\n"
        "  --scenario S   one of issue 12's failures as a fixed schedule, or all\n"
        "  --list         the scenarios\n"
        "  --ready-at-heartbeat  workers send READY only at their heartbeat (the\n"
        "                 worker before issue 12's fix, to show what a test finds)\n"
        "Exit status 0 if every invariant held, 1 otherwise, 64 for bad usage.\n");
}

//  One seed; prints what broke. Returns true if it held.
static bool
s_seed (uint64_t seed, bool trace, bool verbose, bool old_worker)
{
    s_world_new (seed, trace);
    W->verbose = verbose;
    W->ready_at_heartbeat = old_worker;
    s_draw ();
    if (trace)
        printf ("seed %" PRIu64 ": %zu tasks, %d processes%s, %d faults, bound %.1f s\n",
                seed, W->tasks, W->procs, W->greedy ? " (one greedy)" : "", W->faults,
                (double) s_bound () / 1e6);
    s_start ();
    bool held = s_run ();
    if (!held)
        printf ("seed %" PRIu64 ": at %.3f s: %s\n", seed, (double) W->violation.at / 1e6,
                W->violation.what);
    else
    if (trace)
        printf ("seed %" PRIu64 ": done at %.3f s, %" PRIu64 " sent again, %" PRIu64
                " duplicates\n", seed, (double) W->done_at / 1e6,
                ledger_redelivered (W->vent.ledger), W->sink.duplicates);
    s_world_destroy ();
    return held;
}

int
main (int argc, char *argv [])
{
    uint64_t first = 0, last = 9999, one = 0;
    bool single = false, trace = false, verbose = false, old_worker = false;
    int jobs = 2;
    const char *scenario = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        const char *value = i + 1 < argc ? argv [i + 1] : NULL;
        if (streq (arg, "--seeds") && value) {
            char *end;
            first = strtoull (value, &end, 10);
            last = *end == '-' ? strtoull (end + 1, &end, 10) : 0;
            if (*end || last < first) {
                fprintf (stderr, "sim: --seeds takes A-B, A <= B\n");
                return 64;
            }
            i++;
        }
        else
        if (streq (arg, "--seed") && value) {
            one = strtoull (value, NULL, 10);
            single = true;
            i++;
        }
        else
        if (streq (arg, "--jobs") && value) {
            jobs = (int) strtol (value, NULL, 10);
            if (jobs < 1 || jobs > 64) {
                fprintf (stderr, "sim: --jobs takes 1 to 64\n");
                return 64;
            }
            i++;
        }
        else
        if (streq (arg, "--scenario") && value) {
            scenario = value;
            i++;
        }
        else
        if (streq (arg, "--trace"))
            trace = true;
        else
        if (streq (arg, "--verbose"))
            verbose = trace = true;
        else
        if (streq (arg, "--ready-at-heartbeat"))
            old_worker = true;
        else
        if (streq (arg, "--list")) {
            for (size_t s = 0; s < SCENARIOS; s++)
                printf ("%-22s %s\n", scenarios [s].name, scenarios [s].what);
            return 0;
        }
        else
        if (streq (arg, "--help") || streq (arg, "-h")) {
            s_usage (stdout);
            return 0;
        }
        else {
            fprintf (stderr, "sim: unknown argument '%s'\n", arg);
            s_usage (stderr);
            return 64;
        }
    }
    if (single)
        return s_seed (one, trace, verbose, old_worker) ? 0 : 1;

    if (scenario) {
        int failed = 0, ran = 0;
        for (size_t s = 0; s < SCENARIOS; s++) {
            if (!streq (scenario, "all") && !streq (scenario, scenarios [s].name))
                continue;
            ran++;
            s_world_new (1, trace);
            W->verbose = verbose;
            W->ready_at_heartbeat = old_worker;
            bool held = scenarios [s].run ();
            printf ("%s %s: %s%s%s\n", held ? "ok" : "FAIL", scenarios [s].name,
                    scenarios [s].what, held ? "" : ": ", held ? "" : W->violation.what);
            failed += !held;
            s_world_destroy ();
        }
        if (!ran) {
            fprintf (stderr, "sim: no scenario '%s' (--list)\n", scenario);
            return 64;
        }
        return failed ? 1 : 0;
    }

    //  Seeds first..last, split over jobs processes; each prints its
    //  failures and writes its count of them to the parent.
    int64_t started = zclock_usecs ();
    uint64_t count = last - first + 1;
    pid_t pids [64];
    int pipes [64];
    for (int j = 0; j < jobs; j++) {
        int fds [2];
        if (pipe (fds)) {
            perror ("sim: pipe");
            return 1;
        }
        fflush (stdout);
        pids [j] = fork ();
        if (pids [j] == 0) {
            close (fds [0]);
            uint64_t failures = 0;
            for (uint64_t seed = first + (uint64_t) j; seed <= last; seed += (uint64_t) jobs)
                failures += !s_seed (seed, false, false, old_worker);
            fflush (stdout);
            ssize_t rc = write (fds [1], &failures, sizeof failures);
            _exit (rc == sizeof failures ? 0 : 1);
        }
        close (fds [1]);
        pipes [j] = fds [0];
    }
    uint64_t failures = 0;
    bool broken = false;
    for (int j = 0; j < jobs; j++) {
        uint64_t some = 0;
        if (read (pipes [j], &some, sizeof some) != sizeof some)
            broken = true;
        failures += some;
        close (pipes [j]);
        int status;
        if (waitpid (pids [j], &status, 0) != pids [j] || !WIFEXITED (status)
        ||  WEXITSTATUS (status))
            broken = true;
    }
    printf ("sim: %" PRIu64 " schedules (seeds %" PRIu64 "-%" PRIu64 "), %" PRIu64
            " violated an invariant, %.1f s\n", count, first, last, failures,
            (double) (zclock_usecs () - started) / 1e6);
    if (broken)
        printf ("sim: a job process died (a crash in the core?)\n");
    return failures || broken ? 1 : 0;
}
