/*  test_stats - the sink's table of worker processes (sink/stats.c) and
    the texts made from it (sink/observe.c): a process is alive while it
    reports, gone after three silent intervals (counted once), back when it
    reports again, left when it says so; the table is bounded; /metrics
    escapes label values and /status is JSON with one row per process.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "../../sink/observe.h"
#include "../../sink/stats.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <jansson.h>
#include <string.h>

static zchunk_t *buf;
static stats_t *stats;

static void
s_setup (void)
{
    cr_redirect_stderr ();      //  the table logs processes that go and come back
    buf = zchunk_new (NULL, 0);
    stats = stats_new ();
    cr_assert_not_null (stats);
}

static void
s_teardown (void)
{
    stats_destroy (&stats);
    stats_destroy (&stats);     //  twice is safe
    cr_assert_null (stats);
    zchunk_destroy (&buf);
}

TestSuite (stats, .init = s_setup, .fini = s_teardown);

//  A STATS from (host, pid) every interval_ms, at now_us; decoded from
//  the wire, as the sink gets it.
static void
s_report (const char *host, uint32_t pid, uint32_t interval_ms, uint8_t flags,
          uint64_t rate, int64_t now_us)
{
    zp_stats_t report;
    memset (&report, 0, sizeof report);
    report.flags = flags;
    report.pid = pid;
    snprintf (report.host, sizeof report.host, "%s", host);
    strcpy (report.engine, "openssl");
    report.interval_ms = interval_ms;
    report.steps_per_s = rate;
    report.held = 1;
    report.running = 1;
    zp_ref_t running = { 7, 42 };
    zp_stats_encode (buf, &report, &running);
    zp_msg_t msg;
    cr_assert_eq (zp_msg_decode (zchunk_data (buf), zchunk_size (buf), &msg, NULL), 0);
    cr_assert_eq (stats_report (stats, &msg, now_us), 0);
}

//  Ticks every 10 ms from..to, as the sink's loop calls it; returns how
//  many processes went.
static size_t
s_ticks (int64_t from_us, int64_t to_us)
{
    size_t went = 0;
    for (int64_t now = from_us; now < to_us; now += 10000)
        went += stats_tick (stats, now);
    return went + stats_tick (stats, to_us);
}

Test (stats, gone_after_three_intervals_and_back)
{
    s_report ("a", 1, 100, 0, 500, 0);
    cr_assert_eq (stats_size (stats), 1);
    cr_assert_eq (stats_count (stats, STATS_ALIVE), 1);
    cr_assert_eq (stats_rate (stats), 500);
    const stats_row_t *row = stats_row (stats, 0);
    cr_assert_eq (row->running_tasks [0].task, 42);
    //  Three intervals of silence are allowed, not more.
    cr_assert_eq (s_ticks (0, 300000), 0);
    cr_assert_eq (stats_tick (stats, 300001), 1);
    cr_assert_eq (stats_row (stats, 0)->state, STATS_GONE);
    cr_assert_eq (stats_rate (stats), 0);
    cr_assert_eq (s_ticks (300001, 900000), 0, "counted once");
    cr_assert_eq (stats_gone_total (stats), 1);
    s_report ("a", 1, 100, 0, 500, 1000000);
    cr_assert_eq (stats_row (stats, 0)->state, STATS_ALIVE);
    cr_assert_eq (stats_size (stats), 1, "the same row");
}

Test (stats, leaving_is_left_not_gone)
{
    s_report ("a", 1, 100, 0, 500, 0);
    s_report ("a", 1, 100, ZP_STATS_LEAVING, 500, 50000);
    cr_assert_eq (stats_row (stats, 0)->state, STATS_LEFT);
    cr_assert_eq (stats_row (stats, 0)->running, 0);
    cr_assert_eq (s_ticks (50000, 1000000), 0);
    cr_assert_eq (stats_gone_total (stats), 0);
    //  A result that was on its way does not make it alive again.
    cr_assert_eq (stats_results (stats, "a", 1, 3, 1000001), 0);
    cr_assert_eq (stats_row (stats, 0)->state, STATS_LEFT);
    cr_assert_eq (stats_row (stats, 0)->results, 3);
}

Test (stats, results_alone_make_a_row)
{
    cr_assert_eq (stats_results (stats, "b", 2, 5, 0), 0);
    cr_assert_eq (stats_size (stats), 1);
    cr_assert_not (stats_row (stats, 0)->reported);
    //  The default interval until it reports one.
    cr_assert_eq (s_ticks (0, STATS_DEFAULT_INTERVAL_MS * 3000 + 1), 1);
}

Test (stats, a_sink_that_was_away_does_not_count_it_as_silence)
{
    s_report ("a", 1, 100, 0, 500, 0);
    cr_assert_eq (s_ticks (0, 200000), 0);
    //  The sink's loop was busy for 5 s: no tick, reports queued.
    cr_assert_eq (stats_tick (stats, 5200000), 0);
    cr_assert_eq (stats_row (stats, 0)->state, STATS_ALIVE);
    //  Silent after the sink is back: 0.2 s before the stall and 0.1 s
    //  after make the three intervals.
    cr_assert_eq (s_ticks (5210000, 5290000), 0);
    cr_assert_eq (s_ticks (5300000, 5400000), 1);
}

Test (stats, same_pid_on_two_hosts_is_two_rows)
{
    s_report ("a", 1, 100, 0, 1, 0);
    s_report ("b", 1, 100, 0, 2, 0);
    cr_assert_eq (stats_size (stats), 2);
    cr_assert_eq (stats_rate (stats), 3);
}

Test (stats, bounded_and_the_oldest_not_alive_makes_room)
{
    for (uint32_t pid = 1; pid <= STATS_MAX_ROWS; pid++)
        s_report ("a", pid, 100, 0, 0, pid);
    cr_assert_eq (stats_size (stats), STATS_MAX_ROWS);
    //  Full of live processes: the next is not shown.
    zp_stats_t report = { .pid = 99999, .interval_ms = 100 };
    strcpy (report.host, "a");
    zp_stats_encode (buf, &report, NULL);
    zp_msg_t msg;
    cr_assert_eq (zp_msg_decode (zchunk_data (buf), zchunk_size (buf), &msg, NULL), 0);
    cr_assert_eq (stats_report (stats, &msg, STATS_MAX_ROWS + 1), -1);
    //  Process 5 leaves: its row makes room.
    s_report ("a", 5, 100, ZP_STATS_LEAVING, 0, 2000);
    cr_assert_eq (stats_report (stats, &msg, 2001), 0);
    cr_assert_eq (stats_size (stats), STATS_MAX_ROWS);
    for (size_t i = 0; i < stats_size (stats); i++)
        cr_assert_neq (stats_row (stats, i)->pid, 5);
}

Test (stats, metrics_escape_labels_and_status_is_json)
{
    s_report ("we\"ird\\host\nname", 7, 1000, 0, 10, 0);
    observe_view_t view;
    memset (&view, 0, sizeof view);
    view.have_batch = true;
    view.batch = 0xabc;
    view.total_known = false;
    view.results = 3;
    char *metrics = observe_metrics (&view, stats, 0);
    cr_assert_not_null (metrics);
    cr_assert_not_null (strstr (metrics,
        "zpipe_worker_up{host=\"we\\\"ird\\\\host\\nname\",pid=\"7\"} 1\n"), "%s", metrics);
    //  No total yet: no tasks gauge, no ETA.
    cr_assert_null (strstr (metrics, "zpipe_batch_tasks"));
    cr_assert_null (strstr (metrics, "zpipe_batch_eta_seconds"));
    free (metrics);
    char *status = observe_status_json (&view, stats, 0, 0);
    cr_assert_not_null (status);
    json_error_t error;
    json_t *root = json_loads (status, 0, &error);
    cr_assert_not_null (root, "%s: %s", error.text, status);
    cr_assert_eq (json_array_size (json_object_get (root, "workers")), 1);
    json_t *batch = json_object_get (root, "batch");
    cr_assert (json_is_null (json_object_get (batch, "tasks")));
    cr_assert (json_is_null (json_object_get (batch, "eta_s")));
    cr_assert_eq (json_integer_value (json_object_get (batch, "results")), 3);
    json_decref (root);
    free (status);
}

Test (stats, eta_needs_a_total_and_a_rate)
{
    observe_view_t view;
    memset (&view, 0, sizeof view);
    view.have_batch = true;
    view.total_known = true;
    view.total = 10;
    view.results = 4;
    view.iterations = 100;
    cr_assert_lt (observe_eta (&view, 0), 0);
    cr_assert_float_eq (observe_eta (&view, 100), 6.0, 1e-9);
    view.total_known = false;
    cr_assert_lt (observe_eta (&view, 100), 0);
}
