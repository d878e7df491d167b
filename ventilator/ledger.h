/*  ledger - every task of a batch, and where it is.

    A task is PENDING (in the queue, to be sent), LEASED (held by one or two
    worker processes), REPORTED (its last holder finished it, so its result
    is on the way to the sink) or DONE (the sink acknowledged it). A lease
    is one send of a task to one holder, a worker process connection, named
    by a number the caller chooses (never 0); seq is the task's number among
    the tasks sent on that connection, 1, 2, ..., or 0 for a task the holder
    got from a predecessor of this ventilator. A task whose last lease ends
    goes back to the front of the queue: it has waited longest.

    The ledger makes no decisions about time or credit: the ventilator says
    when leases run out, whom to send to and how many; the ledger keeps the
    books exact, so that a task is never forgotten and never leased to more
    than two holders at once. Only active tasks (leased or reported) carry
    lease records, so a large batch costs 24 bytes per waiting task.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#ifndef LEDGER_H_INCLUDED
#define LEDGER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEDGER_PENDING  0
#define LEDGER_LEASED   1
#define LEDGER_REPORTED 2
#define LEDGER_DONE     3

//  "No task" from the calls that return a task id.
#define LEDGER_NONE UINT64_MAX

typedef struct _ledger_t ledger_t;

//  Create an empty ledger; NULL if out of memory. Destroy is safe on NULL
//  and twice, and leaves NULL behind.
ledger_t *
    ledger_new (void);
void
    ledger_destroy (ledger_t **self_p);

//  Append a task (copies the input); its id is its position, from 0. It
//  waits at the back of the queue. Returns 0, or -1 if out of memory.
int
    ledger_add (ledger_t *self, const void *input, size_t size);

//  Make room for that many more tasks of that many input bytes in all, so
//  that adding them does not grow the tables step by step. Returns 0, or -1
//  if out of memory (the ledger is unchanged).
int
    ledger_reserve (ledger_t *self, uint64_t tasks, size_t bytes);

//  The task's input bytes (owned by the ledger), its state.
const uint8_t *
    ledger_input (ledger_t *self, uint64_t id, size_t *size);
int
    ledger_state (ledger_t *self, uint64_t id);

//  Counts: tasks in all, waiting to be sent, acknowledged, leased or
//  reported (active), and sends of a task that had been sent before.
uint64_t
    ledger_total (ledger_t *self);
uint64_t
    ledger_pending (ledger_t *self);
uint64_t
    ledger_done (ledger_t *self);
uint64_t
    ledger_active (ledger_t *self);
uint64_t
    ledger_redelivered (ledger_t *self);

//  Content digest of the batch: the first 8 bytes of SHA-256 over the
//  iterations and every task's length and input (docs/protocol.md, BATCH).
uint64_t
    ledger_digest (ledger_t *self, uint64_t iterations);

//  Lease the next waiting task to holder as its seq-th task. Returns its
//  id, or LEDGER_NONE when nothing waits.
uint64_t
    ledger_lease_next (ledger_t *self, uint32_t holder, uint64_t seq, int64_t now_us);

//  Lease a copy of a straggler to holder: the task that has been active
//  longest, at least min_age_us, held by exactly one other holder, and that
//  one among the from_n holders in from (the caller's choice: those that
//  have stalled) unless from is NULL. Returns its id, or LEDGER_NONE.
uint64_t
    ledger_lease_copy (ledger_t *self, uint32_t holder, uint64_t seq, int64_t now_us,
                       int64_t min_age_us, const uint32_t *from, size_t from_n);

//  The send of holder's lease of id failed: the lease never happened.
void
    ledger_unlease (ledger_t *self, uint64_t id, uint32_t holder);

//  holder handed id back without a result (READY RETURN). Returns true if
//  the task waits again (nobody else holds it).
bool
    ledger_returned (ledger_t *self, uint64_t id, uint32_t holder);

//  The sink acknowledged id. Returns true if it was not DONE before.
bool
    ledger_acknowledge (ledger_t *self, uint64_t id, int64_t now_us);

//  holder is gone: its leases end. With reported_too, tasks it reported
//  finished and the sink has not acknowledged go back too (their results
//  may have died with it). Returns how many tasks went back to the queue.
uint64_t
    ledger_holder_lost (ledger_t *self, uint32_t holder, bool reported_too);

//  A complete list of what holder holds now (READY HELD): the ids of this
//  batch, in any order (the array is sorted in place). Every task leased to
//  holder that has arrived there (seq <= arrived) and is not listed was
//  finished: its lease ends and, if it was the last, the task is REPORTED.
//  A listed task this ledger never sent (a predecessor did) and that
//  waits is taken as leased to holder. Returns how many tasks it took so.
uint64_t
    ledger_reconcile (ledger_t *self, uint32_t holder, uint64_t *held, size_t held_n,
                      uint64_t arrived, int64_t now_us);

//  Called by ledger_expire with the holder that reported a task finished
//  whose result never came (once per such task).
typedef void (ledger_report_fn) (void *arg, uint32_t reporter);

//  Leases older than lease_us end; a task REPORTED for report_us, counted
//  from report_since_us at the earliest, goes back (0 or less: never), and
//  lost (if not NULL) hears who reported it. Returns how many tasks went
//  back to the queue.
uint64_t
    ledger_expire (ledger_t *self, int64_t now_us, int64_t lease_us, int64_t report_us,
                   int64_t report_since_us, ledger_report_fn *lost, void *arg);

//  The sink lost results it had acknowledged: every DONE task waits again
//  but those whose bit is set in kept (bit id % 8 of byte id / 8, for ids
//  below kept_n; ids from kept_n up are kept). kept NULL: every DONE task.
//  Returns how many wait again.
uint64_t
    ledger_forget_done (ledger_t *self, const uint8_t *kept, uint64_t kept_n);

//  Typical time from a task's lease to its acknowledgement (a moving
//  average), 0 until a task has been acknowledged.
int64_t
    ledger_typical_us (ledger_t *self);

#endif
