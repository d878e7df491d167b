/*  test_ledger - the ventilator's book of tasks: every task is always in
    exactly one place, leases end in every way the protocol says, nothing
    is leased to more than two holders, copies go to the oldest straggler,
    and the counters add up.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../../ventilator/ledger.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static ledger_t *ledger;

static void
s_fill (uint64_t count)
{
    ledger = ledger_new ();
    cr_assert_not_null (ledger);
    for (uint64_t id = 0; id < count; id++) {
        char input [32];
        int size = snprintf (input, sizeof input, "task-%04u", (unsigned) id);
        cr_assert_eq (ledger_add (ledger, input, (size_t) size), 0);
    }
}

static void
s_teardown (void)
{
    ledger_destroy (&ledger);
    ledger_destroy (&ledger);
    cr_assert_null (ledger);
}

TestSuite (ledger, .fini = s_teardown);

//  Every task is in one state, and the counters say so.
static void
s_check_books (void)
{
    uint64_t count [4] = { 0 };
    for (uint64_t id = 0; id < ledger_total (ledger); id++) {
        int state = ledger_state (ledger, id);
        cr_assert (state >= LEDGER_PENDING && state <= LEDGER_DONE);
        count [state]++;
    }
    cr_assert_eq (count [LEDGER_PENDING], ledger_pending (ledger));
    cr_assert_eq (count [LEDGER_DONE], ledger_done (ledger));
    cr_assert_eq (count [LEDGER_LEASED] + count [LEDGER_REPORTED], ledger_active (ledger));
}

Test (ledger, tasks_go_out_in_order_and_come_back_first)
{
    s_fill (5);
    size_t size;
    const uint8_t *input = ledger_input (ledger, 3, &size);
    cr_assert_eq (size, 9);
    cr_assert_arr_eq (input, "task-0003", 9);
    cr_assert_eq (ledger_pending (ledger), 5);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 100), 0);
    cr_assert_eq (ledger_lease_next (ledger, 1, 2, 100), 1);
    cr_assert_eq (ledger_lease_next (ledger, 2, 1, 100), 2);
    cr_assert_eq (ledger_state (ledger, 1), LEDGER_LEASED);
    s_check_books ();
    //  Holder 1 dies: its two tasks wait again, at the front
    cr_assert_eq (ledger_holder_lost (ledger, 1, true), 2);
    s_check_books ();
    uint64_t first = ledger_lease_next (ledger, 2, 2, 200);
    uint64_t second = ledger_lease_next (ledger, 2, 3, 200);
    cr_assert (first <= 1 && second <= 1 && first != second);
    cr_assert_eq (ledger_redelivered (ledger), 2);
    cr_assert_eq (ledger_lease_next (ledger, 2, 4, 200), 3);
    cr_assert_eq (ledger_lease_next (ledger, 2, 5, 200), 4);
    cr_assert_eq (ledger_lease_next (ledger, 2, 6, 200), LEDGER_NONE);
    cr_assert_eq (ledger_pending (ledger), 0);
    s_check_books ();
}

Test (ledger, acknowledged_tasks_are_never_sent_again)
{
    s_fill (3);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 0), 0);
    cr_assert (ledger_acknowledge (ledger, 0, 1000));
    cr_assert_not (ledger_acknowledge (ledger, 0, 1000));
    //  Acknowledged while still waiting (the sink had it from before)
    cr_assert (ledger_acknowledge (ledger, 2, 1000));
    cr_assert_eq (ledger_pending (ledger), 1);
    cr_assert_eq (ledger_lease_next (ledger, 1, 2, 0), 1);
    cr_assert_eq (ledger_lease_next (ledger, 1, 3, 0), LEDGER_NONE);
    cr_assert_eq (ledger_holder_lost (ledger, 1, true), 1);
    cr_assert_eq (ledger_lease_next (ledger, 2, 1, 0), 1);
    cr_assert_eq (ledger_done (ledger), 2);
    cr_assert_not (ledger_acknowledge (ledger, 99, 0));
    s_check_books ();
}

Test (ledger, a_failed_send_never_happened)
{
    s_fill (2);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 0), 0);
    ledger_unlease (ledger, 0, 1);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_PENDING);
    cr_assert_eq (ledger_redelivered (ledger), 0);
    cr_assert_eq (ledger_lease_next (ledger, 2, 1, 0), 0);
    cr_assert_eq (ledger_redelivered (ledger), 0);
    //  Unleasing a holder that has no lease changes nothing
    ledger_unlease (ledger, 0, 7);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_LEASED);
    s_check_books ();
}

Test (ledger, returned_tasks_wait_again)
{
    s_fill (2);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 0), 0);
    cr_assert_eq (ledger_lease_next (ledger, 1, 2, 0), 1);
    ledger_returned (ledger, 1, 1);
    cr_assert_eq (ledger_state (ledger, 1), LEDGER_PENDING);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_LEASED);
    //  A return from someone who does not hold it is ignored
    ledger_returned (ledger, 0, 9);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_LEASED);
    s_check_books ();
}

static uint32_t s_reporters [8];
static size_t s_reporters_n;

static void
s_note_reporter (void *arg, uint32_t reporter)
{
    (void) arg;
    if (s_reporters_n < 8)
        s_reporters [s_reporters_n++] = reporter;
}

Test (ledger, reconcile_finds_finished_tasks_but_not_those_in_flight)
{
    s_fill (4);
    for (uint64_t seq = 1; seq <= 4; seq++)
        cr_assert_eq (ledger_lease_next (ledger, 1, seq, 0), seq - 1);
    //  Three have arrived; it holds task 2 only: 0 and 1 are finished,
    //  3 is still on its way.
    uint64_t held [] = { 2 };
    cr_assert_eq (ledger_reconcile (ledger, 1, held, 1, 3, 500), 0);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_REPORTED);
    cr_assert_eq (ledger_state (ledger, 1), LEDGER_REPORTED);
    cr_assert_eq (ledger_state (ledger, 2), LEDGER_LEASED);
    cr_assert_eq (ledger_state (ledger, 3), LEDGER_LEASED);
    s_check_books ();
    //  The sink acknowledges 0; 1 never comes: after the report timeout,
    //  counted from when the sink was back (1000), it waits again.
    cr_assert (ledger_acknowledge (ledger, 0, 600));
    cr_assert_eq (ledger_expire (ledger, 5400, 0, 5000, 1000, NULL, NULL), 0);
    cr_assert_eq (ledger_state (ledger, 1), LEDGER_REPORTED);
    cr_assert_eq (ledger_expire (ledger, 6000, 0, 5000, 1000, s_note_reporter, NULL), 1);
    cr_assert_eq (ledger_state (ledger, 1), LEDGER_PENDING);
    //  ... and the ventilator hears who reported it
    cr_assert_eq (s_reporters_n, 1);
    cr_assert_eq (s_reporters [0], 1);
    s_check_books ();
}

Test (ledger, a_lost_holder_takes_its_unacknowledged_results_along)
{
    s_fill (2);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 0), 0);
    cr_assert_eq (ledger_lease_next (ledger, 1, 2, 0), 1);
    cr_assert_eq (ledger_reconcile (ledger, 1, NULL, 0, 2, 10), 0);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_REPORTED);
    //  Leaving in good order: its results are on their way
    cr_assert_eq (ledger_holder_lost (ledger, 1, false), 0);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_REPORTED);
    //  Died: they may have died with it
    cr_assert_eq (ledger_holder_lost (ledger, 1, true), 2);
    cr_assert_eq (ledger_pending (ledger), 2);
    s_check_books ();
}

Test (ledger, tasks_from_a_predecessor_are_taken_not_resent)
{
    s_fill (4);
    //  A restarted ventilator: holder 5 already has tasks 1 and 3, holder 6 has 3 too
    uint64_t held [] = { 3, 1, 3, 77 };
    cr_assert_eq (ledger_reconcile (ledger, 5, held, 4, 0, 0), 2);
    uint64_t also [] = { 3 };
    cr_assert_eq (ledger_reconcile (ledger, 6, also, 1, 0, 0), 1);
    cr_assert_eq (ledger_state (ledger, 1), LEDGER_LEASED);
    cr_assert_eq (ledger_state (ledger, 3), LEDGER_LEASED);
    cr_assert_eq (ledger_pending (ledger), 2);
    cr_assert_eq (ledger_lease_next (ledger, 7, 1, 0), 0);
    cr_assert_eq (ledger_lease_next (ledger, 7, 2, 0), 2);
    cr_assert_eq (ledger_lease_next (ledger, 7, 3, 0), LEDGER_NONE);
    cr_assert_eq (ledger_redelivered (ledger), 0);
    //  Holder 5 finishes 1 (no longer listed; adopted tasks have arrived)
    uint64_t now [] = { 3 };
    ledger_reconcile (ledger, 5, now, 1, 0, 10);
    cr_assert_eq (ledger_state (ledger, 1), LEDGER_REPORTED);
    //  Holder 5 dies: 3 is still held by 6
    ledger_holder_lost (ledger, 5, false);
    cr_assert_eq (ledger_state (ledger, 3), LEDGER_LEASED);
    ledger_holder_lost (ledger, 6, false);
    cr_assert_eq (ledger_state (ledger, 3), LEDGER_PENDING);
    s_check_books ();
}

Test (ledger, a_task_sent_before_is_not_taken_from_a_held_list)
{
    //  After a lease ran out, the slow holder still lists the task: it
    //  must not get the lease back, the copy is what counts now.
    s_fill (1);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 0), 0);
    cr_assert_eq (ledger_expire (ledger, 60, 50, 0, 0, NULL, NULL), 1);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_PENDING);
    uint64_t held [] = { 0 };
    cr_assert_eq (ledger_reconcile (ledger, 1, held, 1, 1, 70), 0);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_PENDING);
    cr_assert_eq (ledger_lease_next (ledger, 2, 1, 80), 0);
    cr_assert_eq (ledger_redelivered (ledger), 1);
    s_check_books ();
}

Test (ledger, stragglers_only_of_the_holders_named)
{
    //  Holder 1 stalled, holder 2 making progress: only 1's task is copied.
    s_fill (2);
    cr_assert_eq (ledger_lease_next (ledger, 2, 1, 0), 0);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 100), 1);
    const uint32_t stalled [] = { 1 };
    cr_assert_eq (ledger_lease_copy (ledger, 3, 1, 5000, 2000, stalled, 1), 1);
    cr_assert_eq (ledger_lease_copy (ledger, 3, 2, 5000, 2000, stalled, 1), LEDGER_NONE);
    cr_assert_eq (ledger_lease_copy (ledger, 3, 2, 5000, 2000, stalled, 0), LEDGER_NONE);
    cr_assert_eq (ledger_redelivered (ledger), 1);
    s_check_books ();
}

Test (ledger, stragglers_get_one_copy_each_oldest_first)
{
    s_fill (3);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 0), 0);
    cr_assert_eq (ledger_lease_next (ledger, 1, 2, 100), 1);
    cr_assert_eq (ledger_lease_next (ledger, 2, 1, 900), 2);
    //  Too young for a copy
    cr_assert_eq (ledger_lease_copy (ledger, 3, 1, 1000, 2000, NULL, 0), LEDGER_NONE);
    //  Old enough: the oldest first, never to its own holder
    cr_assert_eq (ledger_lease_copy (ledger, 1, 3, 2500, 2000, NULL, 0), LEDGER_NONE);
    cr_assert_eq (ledger_lease_copy (ledger, 3, 1, 3000, 2000, NULL, 0), 0);
    cr_assert_eq (ledger_lease_copy (ledger, 3, 2, 3000, 2000, NULL, 0), 1);
    cr_assert_eq (ledger_lease_copy (ledger, 3, 3, 3000, 2000, NULL, 0), 2);
    //  Each has two holders now: no third copy
    cr_assert_eq (ledger_lease_copy (ledger, 4, 1, 9000, 2000, NULL, 0), LEDGER_NONE);
    cr_assert_eq (ledger_redelivered (ledger), 3);
    //  One holder of task 0 dies: the other still has it
    ledger_holder_lost (ledger, 1, true);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_LEASED);
    cr_assert_eq (ledger_pending (ledger), 0);
    //  The copy's holder finishes it first; the slow one's late result is
    //  the sink's duplicate, nothing here
    uint64_t held [] = { 1, 2 };
    ledger_reconcile (ledger, 3, held, 2, 3, 9500);
    cr_assert_eq (ledger_state (ledger, 0), LEDGER_REPORTED);
    cr_assert (ledger_acknowledge (ledger, 0, 9600));
    s_check_books ();
}

Test (ledger, typical_time_follows_acknowledgements)
{
    s_fill (3);
    cr_assert_eq (ledger_typical_us (ledger), 0);
    cr_assert_eq (ledger_lease_next (ledger, 1, 1, 0), 0);
    cr_assert_eq (ledger_lease_next (ledger, 1, 2, 0), 1);
    ledger_acknowledge (ledger, 0, 800);
    cr_assert_eq (ledger_typical_us (ledger), 800);
    ledger_acknowledge (ledger, 1, 1600);
    cr_assert_eq (ledger_typical_us (ledger), 900);
}

Test (ledger, a_sink_that_lost_its_results_gets_them_again)
{
    s_fill (3);
    for (uint64_t id = 0; id < 3; id++) {
        cr_assert_eq (ledger_lease_next (ledger, 1, id + 1, 0), id);
        ledger_acknowledge (ledger, id, 10);
    }
    cr_assert_eq (ledger_done (ledger), 3);
    cr_assert_eq (ledger_forget_done (ledger, NULL, 0), 3);
    cr_assert_eq (ledger_pending (ledger), 3);
    ledger_acknowledge (ledger, 1, 20);
    cr_assert_eq (ledger_lease_next (ledger, 2, 1, 30), 0);
    cr_assert_eq (ledger_lease_next (ledger, 2, 2, 30), 2);
    cr_assert_eq (ledger_lease_next (ledger, 2, 3, 30), LEDGER_NONE);
    s_check_books ();
}

Test (ledger, only_what_the_sink_no_longer_has_goes_out_again)
{
    //  The sink's snapshot names 0 and 2 of the four acknowledged tasks (a
    //  bitmap of 3 ids); 3 lies beyond it and is kept: only 1 waits again.
    s_fill (4);
    for (uint64_t id = 0; id < 4; id++) {
        cr_assert_eq (ledger_lease_next (ledger, 1, id + 1, 0), id);
        ledger_acknowledge (ledger, id, 10);
    }
    const uint8_t kept [] = { 0x05 };
    cr_assert_eq (ledger_forget_done (ledger, kept, 3), 1);
    cr_assert_eq (ledger_done (ledger), 3);
    cr_assert_eq (ledger_state (ledger, 1), LEDGER_PENDING);
    cr_assert_eq (ledger_lease_next (ledger, 2, 1, 30), 1);
    cr_assert_eq (ledger_redelivered (ledger), 1);
    s_check_books ();
}

Test (ledger, churn_keeps_the_books)
{
    //  Random leases, losses, returns, copies, expiries and acks: every
    //  task ends acknowledged exactly once, the books add up all along,
    //  and the queue never holds a task twice.
    s_fill (500);
    srand (7);
    uint64_t seq [8] = { 0 };
    int64_t now = 0;
    uint64_t acknowledged = 0;
    while (ledger_done (ledger) < 500) {
        now += 10;
        uint32_t holder = (uint32_t) (rand () % 7) + 1;
        uint64_t id;
        switch (rand () % 8) {
            case 0: case 1: case 2:
                ledger_lease_next (ledger, holder, ++seq [holder], now);
                break;
            case 3:
                if (ledger_lease_copy (ledger, holder, ++seq [holder], now, 50, NULL, 0)
                    == LEDGER_NONE)
                    seq [holder]--;
                break;
            case 4:
                id = (uint64_t) (rand () % 500);
                if (ledger_acknowledge (ledger, id, now))
                    acknowledged++;
                break;
            case 5:
                if (rand () % 10 == 0)
                    ledger_holder_lost (ledger, holder, rand () % 2);
                else
                    ledger_returned (ledger, (uint64_t) (rand () % 500), holder);
                break;
            case 6:
                ledger_reconcile (ledger, holder, NULL, 0, seq [holder] / 2, now);
                break;
            default:
                ledger_expire (ledger, now, 400, 300, 0, NULL, NULL);
                break;
        }
        s_check_books ();
    }
    cr_assert_eq (acknowledged, 500);
    cr_assert_eq (ledger_pending (ledger), 0);
    cr_assert_eq (ledger_active (ledger), 0);
}

Test (ledger, digest_depends_on_content_only)
{
    s_fill (3);
    uint64_t one = ledger_digest (ledger, 1000);
    cr_assert_neq (one, 0);
    cr_assert_neq (ledger_digest (ledger, 1001), one);
    ledger_t *other = ledger_new ();
    ledger_add (other, "task-0000", 9);
    ledger_add (other, "task-0001", 9);
    ledger_add (other, "task-0002", 9);
    cr_assert_eq (ledger_digest (other, 1000), one);
    //  Lengths are part of it: "ab" + "c" is not "a" + "bc"
    ledger_t *split1 = ledger_new (), *split2 = ledger_new ();
    ledger_add (split1, "ab", 2);
    ledger_add (split1, "c", 1);
    ledger_add (split2, "a", 1);
    ledger_add (split2, "bc", 2);
    cr_assert_neq (ledger_digest (split1, 1), ledger_digest (split2, 1));
    ledger_destroy (&other);
    ledger_destroy (&split1);
    ledger_destroy (&split2);
}

//  Reserving room changes nothing a caller can see: the same ids, inputs,
//  queue and digest as adding without it, before and past the reservation,
//  and a reservation beyond what ids can number is refused.
Test (ledger, reserving_room_changes_nothing_visible)
{
    s_fill (5);
    ledger_t *reserved = ledger_new ();
    cr_assert_eq (ledger_reserve (reserved, 3, 3 * 9), 0);
    for (uint64_t id = 0; id < 5; id++) {
        char input [32];
        int size = snprintf (input, sizeof input, "task-%04u", (unsigned) id);
        cr_assert_eq (ledger_add (reserved, input, (size_t) size), 0);
    }
    cr_assert_eq (ledger_total (reserved), 5);
    cr_assert_eq (ledger_pending (reserved), 5);
    cr_assert_eq (ledger_digest (reserved, 7), ledger_digest (ledger, 7));
    for (uint64_t id = 0; id < 5; id++) {
        size_t size, expected_size;
        const uint8_t *input = ledger_input (reserved, id, &size);
        const uint8_t *expected = ledger_input (ledger, id, &expected_size);
        cr_assert_eq (size, expected_size);
        cr_assert_eq (memcmp (input, expected, size), 0);
        cr_assert_eq (ledger_lease_next (reserved, 1, id + 1, 0), id);
    }
    cr_assert_eq (ledger_reserve (reserved, UINT64_MAX, 0), -1);
    cr_assert_eq (ledger_total (reserved), 5);
    ledger_destroy (&reserved);
}
