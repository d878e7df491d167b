/*  ledger - every task of a batch, and where it is.

    Three structures: the task table (input offset, size, state, one index
    into the active pool), the queue (a ring of task ids; a task is in it at
    most once, marked by `queued`, so the ring never needs more slots than
    there are tasks), and the active pool (one record per leased or
    reported task, with its leases, on a list in the order the tasks became
    active, so that the oldest come first for copies and expiry).

    A task can leave PENDING without being popped (the sink acknowledged
    it, or a holder turned out to have it from our predecessor): its queue
    entry stays behind and is skipped when popped.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "ledger.h"

#include <assert.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define S_NIL UINT32_MAX

typedef struct {
    uint64_t offset;            //  into self->bytes
    uint32_t size;
    uint8_t state;
    bool queued;                //  an entry in the queue ring
    uint16_t sends;             //  times sent by this ledger (saturates)
    uint32_t active;            //  index in the active pool, or S_NIL
} task_t;

typedef struct {
    uint32_t holder;            //  0: no lease in this slot
    uint64_t seq;
    int64_t since_us;
} lease_t;

typedef struct {
    uint64_t id;
    lease_t lease [2];
    int64_t since_us;           //  became active
    int64_t reported_us;
    uint32_t reporter;
    uint32_t prev, next;        //  the active list; next links the free list
} active_t;

struct _ledger_t {
    uint8_t *bytes;             //  every input, back to back
    size_t bytes_size, bytes_capacity;
    task_t *tasks;
    uint64_t total, tasks_capacity;
    uint64_t *queue;            //  ring of task ids
    uint64_t queue_head, queue_size, queue_capacity;
    active_t *pool;
    uint32_t pool_size, pool_capacity, free_list;
    uint32_t head, tail;        //  the active list, oldest first
    uint64_t pending, done, active, redelivered;
    int64_t typical_us;
};

ledger_t *
ledger_new (void)
{
    ledger_t *self = (ledger_t *) calloc (1, sizeof (ledger_t));
    if (self)
        self->free_list = self->head = self->tail = S_NIL;
    return self;
}

void
ledger_destroy (ledger_t **self_p)
{
    if (self_p && *self_p) {
        ledger_t *self = *self_p;
        free (self->bytes);
        free (self->tasks);
        free (self->queue);
        free (self->pool);
        free (self);
        *self_p = NULL;
    }
}

//  --- The queue ---------------------------------------------------------------

static void
s_push (ledger_t *self, uint64_t id, bool front)
{
    task_t *task = &self->tasks [id];
    task->state = LEDGER_PENDING;
    self->pending++;
    if (task->queued)
        return;                 //  its old entry is still there: it serves
    task->queued = true;
    if (front) {
        self->queue_head = (self->queue_head + self->queue_capacity - 1) % self->queue_capacity;
        self->queue [self->queue_head] = id;
    }
    else
        self->queue [(self->queue_head + self->queue_size) % self->queue_capacity] = id;
    self->queue_size++;
}

//  The next waiting task, or LEDGER_NONE; leaves it PENDING.
static uint64_t
s_pop (ledger_t *self)
{
    while (self->queue_size) {
        uint64_t id = self->queue [self->queue_head];
        self->queue_head = (self->queue_head + 1) % self->queue_capacity;
        self->queue_size--;
        self->tasks [id].queued = false;
        if (self->tasks [id].state == LEDGER_PENDING)
            return id;
    }
    return LEDGER_NONE;
}

//  Grow the task table (and the queue ring, as many slots as tasks: the
//  ring holds each task at most once) to capacity tasks, and the input
//  bytes to hold bytes more. Returns 0 or -1.
static int
s_grow (ledger_t *self, uint64_t capacity, size_t bytes)
{
    if (capacity > self->tasks_capacity) {
        task_t *tasks = (task_t *) realloc (self->tasks, capacity * sizeof (task_t));
        if (!tasks)
            return -1;
        self->tasks = tasks;
        uint64_t *queue = (uint64_t *) malloc (capacity * sizeof (uint64_t));
        if (!queue)
            return -1;
        for (uint64_t i = 0; i < self->queue_size; i++)
            queue [i] = self->queue [(self->queue_head + i) % self->queue_capacity];
        free (self->queue);
        self->queue = queue;
        self->queue_head = 0;
        self->queue_capacity = capacity;
        self->tasks_capacity = capacity;
    }
    if (self->bytes_size + bytes > self->bytes_capacity) {
        size_t size = self->bytes_capacity ? self->bytes_capacity : 65536;
        while (size < self->bytes_size + bytes)
            size *= 2;
        uint8_t *grown = (uint8_t *) realloc (self->bytes, size);
        if (!grown)
            return -1;
        self->bytes = grown;
        self->bytes_capacity = size;
    }
    return 0;
}

int
ledger_reserve (ledger_t *self, uint64_t tasks, size_t bytes)
{
    if (tasks > S_NIL - self->total)
        return -1;
    return s_grow (self, self->total + tasks, bytes);
}

int
ledger_add (ledger_t *self, const void *input, size_t size)
{
    if (size > UINT32_MAX || self->total >= S_NIL)
        return -1;
    uint64_t capacity = self->tasks_capacity;
    if (self->total == capacity)
        capacity = capacity ? capacity * 2 : 1024;
    if (s_grow (self, capacity, size))
        return -1;
    if (size)
        memcpy (self->bytes + self->bytes_size, input, size);
    uint64_t id = self->total++;
    self->tasks [id] = (task_t) {
        .offset = self->bytes_size, .size = (uint32_t) size, .active = S_NIL
    };
    self->bytes_size += size;
    s_push (self, id, false);
    return 0;
}

const uint8_t *
ledger_input (ledger_t *self, uint64_t id, size_t *size)
{
    *size = self->tasks [id].size;
    return self->bytes + self->tasks [id].offset;
}

int
ledger_state (ledger_t *self, uint64_t id)
{
    return id < self->total ? self->tasks [id].state : -1;
}

uint64_t ledger_total (ledger_t *self) { return self->total; }
uint64_t ledger_pending (ledger_t *self) { return self->pending; }
uint64_t ledger_done (ledger_t *self) { return self->done; }
uint64_t ledger_active (ledger_t *self) { return self->active; }
uint64_t ledger_redelivered (ledger_t *self) { return self->redelivered; }
int64_t ledger_typical_us (ledger_t *self) { return self->typical_us; }

uint64_t
ledger_digest (ledger_t *self, uint64_t iterations)
{
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int md_size = 0;
    EVP_MD_CTX *context = EVP_MD_CTX_new ();
    bool ok = context && EVP_DigestInit_ex (context, EVP_sha256 (), NULL) == 1;
    uint8_t word [8];
    for (int i = 0; i < 8; i++)
        word [i] = (uint8_t) (iterations >> (56 - 8 * i));
    ok = ok && EVP_DigestUpdate (context, word, 8) == 1;
    for (uint64_t id = 0; ok && id < self->total; id++) {
        uint32_t size = self->tasks [id].size;
        for (int i = 0; i < 4; i++)
            word [i] = (uint8_t) (size >> (24 - 8 * i));
        ok = EVP_DigestUpdate (context, word, 4) == 1
          && EVP_DigestUpdate (context, self->bytes + self->tasks [id].offset, size) == 1;
    }
    ok = ok && EVP_DigestFinal_ex (context, md, &md_size) == 1 && md_size >= 8;
    EVP_MD_CTX_free (context);
    uint64_t digest = 0;
    for (int i = 0; ok && i < 8; i++)
        digest = digest << 8 | md [i];
    return digest;
}

//  --- The active pool ---------------------------------------------------------

static active_t *
s_active (ledger_t *self, uint64_t id)
{
    uint32_t index = self->tasks [id].active;
    return index == S_NIL ? NULL : &self->pool [index];
}

//  Gives id an active record at the end of the list. Returns it, or NULL
//  if out of memory (the caller leaves the task where it was).
static active_t *
s_activate (ledger_t *self, uint64_t id, int64_t now_us)
{
    uint32_t index = self->free_list;
    if (index != S_NIL) {
        //  A free list exists only inside an allocated pool.
        assert (self->pool);
        self->free_list = self->pool [index].next;
    }
    else {
        if (self->pool_size == self->pool_capacity) {
            uint32_t capacity = self->pool_capacity ? self->pool_capacity * 2 : 256;
            active_t *pool = (active_t *) realloc (self->pool, capacity * sizeof (active_t));
            if (!pool)
                return NULL;
            self->pool = pool;
            self->pool_capacity = capacity;
        }
        index = self->pool_size++;
    }
    assert (self->pool);        //  allocated by now, on either path
    active_t *record = &self->pool [index];
    memset (record, 0, sizeof *record);
    record->id = id;
    record->since_us = now_us;
    record->prev = self->tail;
    record->next = S_NIL;
    if (self->tail != S_NIL)
        self->pool [self->tail].next = index;
    else
        self->head = index;
    self->tail = index;
    self->tasks [id].active = index;
    self->active++;
    return record;
}

static void
s_deactivate (ledger_t *self, uint64_t id)
{
    uint32_t index = self->tasks [id].active;
    if (index == S_NIL)
        return;
    active_t *record = &self->pool [index];
    if (record->prev != S_NIL)
        self->pool [record->prev].next = record->next;
    else
        self->head = record->next;
    if (record->next != S_NIL)
        self->pool [record->next].prev = record->prev;
    else
        self->tail = record->prev;
    record->next = self->free_list;
    self->free_list = index;
    self->tasks [id].active = S_NIL;
    self->active--;
}

static int
s_lease_count (const active_t *record)
{
    return (record->lease [0].holder != 0) + (record->lease [1].holder != 0);
}

static lease_t *
s_lease_of (active_t *record, uint32_t holder)
{
    for (int i = 0; i < 2; i++)
        if (record->lease [i].holder == holder)
            return &record->lease [i];
    return NULL;
}

//  Back to the front of the queue, without leases.
static void
s_requeue (ledger_t *self, uint64_t id)
{
    s_deactivate (self, id);
    s_push (self, id, true);
}

//  Ends holder's lease of id, if it has one; a LEASED task without leases
//  left goes back to the queue. Returns true if it did.
static bool
s_end_lease (ledger_t *self, uint64_t id, uint32_t holder)
{
    active_t *record = s_active (self, id);
    lease_t *lease = record ? s_lease_of (record, holder) : NULL;
    if (!lease)
        return false;
    lease->holder = 0;
    if (self->tasks [id].state == LEDGER_LEASED && s_lease_count (record) == 0) {
        s_requeue (self, id);
        return true;
    }
    return false;
}

static void
s_count_send (ledger_t *self, task_t *task)
{
    if (task->sends)
        self->redelivered++;
    if (task->sends < UINT16_MAX)
        task->sends++;
}

//  --- Leases ------------------------------------------------------------------

uint64_t
ledger_lease_next (ledger_t *self, uint32_t holder, uint64_t seq, int64_t now_us)
{
    uint64_t id = s_pop (self);
    if (id == LEDGER_NONE)
        return LEDGER_NONE;
    active_t *record = s_activate (self, id, now_us);
    if (!record) {
        s_push (self, id, true);
        self->pending--;        //  s_push counted it again
        return LEDGER_NONE;
    }
    task_t *task = &self->tasks [id];
    task->state = LEDGER_LEASED;
    self->pending--;
    record->lease [0] = (lease_t) { holder, seq, now_us };
    s_count_send (self, task);
    return id;
}

//  True if the one lease of record is held by one of from (any, if NULL).
static bool
s_held_by (const active_t *record, const uint32_t *from, size_t from_n)
{
    if (!from)
        return true;
    uint32_t other = record->lease [0].holder ? record->lease [0].holder
                                              : record->lease [1].holder;
    for (size_t i = 0; i < from_n; i++)
        if (from [i] == other)
            return true;
    return false;
}

uint64_t
ledger_lease_copy (ledger_t *self, uint32_t holder, uint64_t seq, int64_t now_us,
                   int64_t min_age_us, const uint32_t *from, size_t from_n)
{
    for (uint32_t index = self->head; index != S_NIL; index = self->pool [index].next) {
        active_t *record = &self->pool [index];
        if (now_us - record->since_us < min_age_us)
            break;              //  the rest are younger still
        task_t *task = &self->tasks [record->id];
        if (task->state != LEDGER_LEASED || s_lease_count (record) != 1
        ||  s_lease_of (record, holder) || !s_held_by (record, from, from_n))
            continue;
        lease_t *free_lease = s_lease_of (record, 0);
        *free_lease = (lease_t) { holder, seq, now_us };
        s_count_send (self, task);
        return record->id;
    }
    return LEDGER_NONE;
}

void
ledger_unlease (ledger_t *self, uint64_t id, uint32_t holder)
{
    if (id >= self->total)
        return;
    task_t *task = &self->tasks [id];
    active_t *record = s_active (self, id);
    if (!record || !s_lease_of (record, holder))
        return;
    if (task->sends && task->sends < UINT16_MAX)
        task->sends--;
    if (task->sends)
        self->redelivered--;
    s_end_lease (self, id, holder);
}

bool
ledger_returned (ledger_t *self, uint64_t id, uint32_t holder)
{
    return id < self->total && s_end_lease (self, id, holder);
}

bool
ledger_acknowledge (ledger_t *self, uint64_t id, int64_t now_us)
{
    if (id >= self->total || self->tasks [id].state == LEDGER_DONE)
        return false;
    task_t *task = &self->tasks [id];
    active_t *record = s_active (self, id);
    if (record) {
        //  The typical task, for telling a straggler: an average that
        //  follows changes but is not thrown by one slow task.
        int64_t took = now_us - record->since_us;
        self->typical_us = self->typical_us ? self->typical_us + (took - self->typical_us) / 8
                                            : (took > 0 ? took : 1);
        s_deactivate (self, id);
    }
    if (task->state == LEDGER_PENDING)
        self->pending--;        //  its queue entry is skipped when popped
    task->state = LEDGER_DONE;
    self->done++;
    return true;
}

uint64_t
ledger_holder_lost (ledger_t *self, uint32_t holder, bool reported_too)
{
    uint64_t requeued = 0;
    uint32_t index = self->head;
    while (index != S_NIL) {
        active_t *record = &self->pool [index];
        index = record->next;   //  record may be freed below
        uint64_t id = record->id;
        if (self->tasks [id].state == LEDGER_REPORTED) {
            if (reported_too && record->reporter == holder) {
                s_requeue (self, id);
                requeued++;
            }
        }
        else
        if (s_end_lease (self, id, holder))
            requeued++;
    }
    return requeued;
}

static int
s_compare_ids (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

uint64_t
ledger_reconcile (ledger_t *self, uint32_t holder, uint64_t *held, size_t held_n,
                  uint64_t arrived, int64_t now_us)
{
    if (held_n)
        qsort (held, held_n, sizeof (uint64_t), s_compare_ids);
    //  What holder finished: leased to it, arrived, not listed.
    uint32_t index = self->head;
    while (index != S_NIL) {
        active_t *record = &self->pool [index];
        index = record->next;
        lease_t *lease = s_lease_of (record, holder);
        if (!lease || lease->seq > arrived
        ||  (held_n && bsearch (&record->id, held, held_n, sizeof (uint64_t), s_compare_ids)))
            continue;
        lease->holder = 0;
        if (self->tasks [record->id].state == LEDGER_LEASED && s_lease_count (record) == 0) {
            self->tasks [record->id].state = LEDGER_REPORTED;
            record->reporter = holder;
            record->reported_us = now_us;
        }
    }
    //  What it has from a predecessor of ours.
    uint64_t taken = 0;
    for (size_t i = 0; i < held_n; i++) {
        uint64_t id = held [i];
        if (id >= self->total || (i && held [i - 1] == id))
            continue;
        task_t *task = &self->tasks [id];
        if (task->sends || (task->state != LEDGER_PENDING && task->state != LEDGER_LEASED))
            continue;
        active_t *record = s_active (self, id);
        if (!record) {
            record = s_activate (self, id, now_us);
            if (!record)
                break;
            task->state = LEDGER_LEASED;
            self->pending--;
        }
        lease_t *free_lease = s_lease_of (record, 0);
        if (free_lease && !s_lease_of (record, holder)) {
            *free_lease = (lease_t) { holder, 0, now_us };
            taken++;
        }
    }
    return taken;
}

uint64_t
ledger_expire (ledger_t *self, int64_t now_us, int64_t lease_us, int64_t report_us,
               int64_t report_since_us, ledger_report_fn *lost, void *arg)
{
    uint64_t requeued = 0;
    uint32_t index = self->head;
    while (index != S_NIL) {
        active_t *record = &self->pool [index];
        index = record->next;
        uint64_t id = record->id;
        if (self->tasks [id].state == LEDGER_REPORTED) {
            int64_t from = record->reported_us > report_since_us ? record->reported_us
                                                                 : report_since_us;
            if (report_us > 0 && now_us - from >= report_us) {
                uint32_t reporter = record->reporter;
                s_requeue (self, id);
                requeued++;
                if (lost)
                    lost (arg, reporter);
            }
            continue;
        }
        for (int i = 0; i < 2; i++)
            if (record->lease [i].holder && lease_us > 0
            &&  now_us - record->lease [i].since_us >= lease_us
            &&  s_end_lease (self, id, record->lease [i].holder)) {
                requeued++;
                break;          //  the record is gone
            }
    }
    return requeued;
}

uint64_t
ledger_forget_done (ledger_t *self, const uint8_t *kept, uint64_t kept_n)
{
    uint64_t forgotten = 0;
    uint64_t end = kept && kept_n < self->total ? kept_n : self->total;
    for (uint64_t id = 0; id < end; id++)
        if (self->tasks [id].state == LEDGER_DONE
        &&  (!kept || !(kept [id / 8] & (1u << (id % 8))))) {
            s_push (self, id, false);
            forgotten++;
        }
    self->done -= forgotten;
    return forgotten;
}
