/*  observe - the sink's /status and /metrics texts (see observe.h).

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "observe.h"
#include "zp_util.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

double
observe_rate (const observe_view_t *view, const stats_t *stats, double now_wall)
{
    if (!view->have_batch)
        return 0;
    if (!view->complete) {
        uint64_t live = stats_rate (stats);
        if (live > 0)
            return (double) live;
    }
    double end = view->complete ? view->end_wall : now_wall;
    double elapsed = end - view->start_wall;
    return view->results && elapsed > 0 ? (double) view->hashes / elapsed : 0;
}

double
observe_eta (const observe_view_t *view, double rate)
{
    if (!view->have_batch || !view->total_known || rate <= 0)
        return -1;
    if (view->complete || view->results >= view->total)
        return 0;
    return (double) (view->total - view->results) * (double) view->iterations / rate;
}

static double
s_elapsed (const observe_view_t *view, double now_wall)
{
    if (!view->have_batch || (!view->started && !view->results))
        return 0;
    double elapsed = (view->complete ? view->end_wall : now_wall) - view->start_wall;
    return elapsed > 0 ? elapsed : 0;
}

//  --- /status --------------------------------------------------------------------

static json_t *
s_batch_json (const observe_view_t *view, const stats_t *stats, double now_wall)
{
    if (!view->have_batch)
        return json_null ();
    char hex [17];
    snprintf (hex, sizeof hex, "%016" PRIx64, view->batch);
    double rate = observe_rate (view, stats, now_wall);
    double eta = observe_eta (view, rate);
    return json_pack ("{s:s, s:b, s:b, s:o, s:I, s:I, s:I, s:f, s:f, s:o, s:o, s:I, s:I, s:I}",
        "batch", hex,
        "complete", view->complete,
        "started", view->started,
        "tasks", view->total_known ? json_integer ((json_int_t) view->total) : json_null (),
        "results", (json_int_t) view->results,
        "iterations", (json_int_t) view->iterations,
        "hashes", (json_int_t) view->hashes,
        "hashes_per_second", rate,
        "elapsed_s", s_elapsed (view, now_wall),
        "eta_s", eta >= 0 ? json_real (eta) : json_null (),
        "progress", view->total_known && view->total
            ? json_real ((double) view->results / (double) view->total)
            : (view->total_known && view->complete ? json_real (1.0) : json_null ()),
        "duplicates", (json_int_t) view->duplicates,
        "redelivered", (json_int_t) view->redelivered,
        "worker_restarts", (json_int_t) view->worker_restarts);
}

static json_t *
s_worker_json (const stats_row_t *row, int64_t now_us)
{
    json_t *running = json_array ();
    for (uint32_t i = 0; i < row->running && i < STATS_MAX_RUNNING; i++) {
        char hex [17];
        snprintf (hex, sizeof hex, "%016" PRIx64, row->running_tasks [i].batch);
        json_array_append_new (running, json_pack ("{s:s, s:I}", "batch", hex,
                               "task", (json_int_t) row->running_tasks [i].task));
    }
    return json_pack ("{s:s, s:I, s:s, s:s, s:b, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:o,"
                      " s:I, s:f}",
        "host", row->host,
        "pid", (json_int_t) row->pid,
        "state", stats_state_name (row->state),
        "engine", row->engine,
        "reporting", row->reported,
        "uptime_s", (double) row->uptime_ms / 1e3,
        "tasks", (json_int_t) row->tasks,
        "results", (json_int_t) row->results,
        "hashes", (json_int_t) row->steps,
        "hashes_per_second", (json_int_t) row->steps_per_s,
        "held", (json_int_t) row->held,
        "running", (json_int_t) row->running,
        "running_tasks", running,
        "rss_bytes", (json_int_t) row->rss_bytes,
        "last_heard_s", (double) (now_us - row->last_us) / 1e6);
}

char *
observe_status_json (const observe_view_t *view, const stats_t *stats, double now_wall,
                     int64_t now_us)
{
    json_t *workers = json_array ();
    for (size_t i = 0; i < stats_size (stats); i++)
        json_array_append_new (workers, s_worker_json (stats_row (stats, i), now_us));
    json_t *root = json_pack ("{s:f, s:{s:s, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
                              " s:I}, s:o, s:{s:I, s:I, s:I, s:I}, s:o}",
        "time", now_wall,
        "sink",
            "host", zp_hostname (),
            "pid", (json_int_t) getpid (),
            "uptime_s", now_wall - view->sink_start_wall,
            "results", (json_int_t) view->results_total,
            "hashes", (json_int_t) view->hashes_total,
            "failed", (json_int_t) view->failed_total,
            "duplicates", (json_int_t) view->duplicates_total,
            "redelivered", (json_int_t) view->redelivered_total,
            "batches_completed", (json_int_t) view->batches_completed,
            "rejected_messages", (json_int_t) view->rejected_messages,
            "refused_connections", (json_int_t) view->refused_connections,
            "processes_gone", (json_int_t) stats_gone_total (stats),
        "batch", s_batch_json (view, stats, now_wall),
        "processes",
            "alive", (json_int_t) stats_count (stats, STATS_ALIVE),
            "left", (json_int_t) stats_count (stats, STATS_LEFT),
            "gone", (json_int_t) stats_count (stats, STATS_GONE),
            "total", (json_int_t) stats_size (stats),
        "workers", workers);
    char *text = root ? json_dumps (root, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref (root);
    return text;
}

//  --- /metrics ------------------------------------------------------------------

//  A label value as the text format wants it: backslash, double quote and
//  line feed escaped. Host names come from the wire and may hold any byte
//  but NUL.
static void
s_label (FILE *out, const char *value)
{
    for (const char *c = value; *c; c++)
        if (*c == '\\')
            fputs ("\\\\", out);
        else
        if (*c == '"')
            fputs ("\\\"", out);
        else
        if (*c == '\n')
            fputs ("\\n", out);
        else
            fputc (*c, out);
}

static void
s_family (FILE *out, const char *name, const char *type, const char *help)
{
    fprintf (out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
s_single (FILE *out, const char *name, const char *type, const char *help, double value)
{
    s_family (out, name, type, help);
    fprintf (out, "%s %.17g\n", name, value);
}

//  One series per worker process of the value field gives.
typedef double (s_field_fn) (const stats_row_t *row);
static double s_up (const stats_row_t *row) { return row->state == STATS_ALIVE; }
static double s_tasks (const stats_row_t *row) { return (double) row->tasks; }
static double s_results (const stats_row_t *row) { return (double) row->results; }
static double s_steps (const stats_row_t *row) { return (double) row->steps; }
static double s_rate (const stats_row_t *row) { return (double) row->steps_per_s; }
static double s_held (const stats_row_t *row) { return row->held; }
static double s_running (const stats_row_t *row) { return row->running; }
static double s_rss (const stats_row_t *row) { return (double) row->rss_bytes; }
static double s_uptime (const stats_row_t *row) { return (double) row->uptime_ms / 1e3; }

static void
s_per_process (FILE *out, const stats_t *stats, const char *name, const char *type,
               const char *help, s_field_fn *field)
{
    s_family (out, name, type, help);
    for (size_t i = 0; i < stats_size (stats); i++) {
        const stats_row_t *row = stats_row (stats, i);
        fprintf (out, "%s{host=\"", name);
        s_label (out, row->host);
        fprintf (out, "\",pid=\"%u\"} %.17g\n", row->pid, field (row));
    }
}

char *
observe_metrics (const observe_view_t *view, const stats_t *stats, double now_wall)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    s_single (out, "zpipe_results_total", "counter",
              "Results the sink accepted since it started (each task once).",
              (double) view->results_total);
    s_single (out, "zpipe_hashes_total", "counter",
              "SHA-512 chain steps of the results the sink accepted since it started.",
              (double) view->hashes_total);
    s_single (out, "zpipe_failed_tasks_total", "counter",
              "Accepted results that are failures (a worker refused the task).",
              (double) view->failed_total);
    s_single (out, "zpipe_duplicate_results_total", "counter",
              "Results received again for a task the sink had, and dropped.",
              (double) view->duplicates_total);
    s_single (out, "zpipe_redelivered_tasks_total", "counter",
              "Tasks the ventilators sent again, over the batches this sink saw.",
              (double) view->redelivered_total);
    s_single (out, "zpipe_batches_completed_total", "counter",
              "Batches whose summary this sink wrote, complete.",
              (double) view->batches_completed);
    s_single (out, "zpipe_rejected_messages_total", "counter",
              "Messages the sink dropped: malformed, unexpected, out of range or over a"
              " limit.", (double) view->rejected_messages);
    s_single (out, "zpipe_refused_connections_total", "counter",
              "Connections the sink refused at the handshake.",
              (double) view->refused_connections);
    s_single (out, "zpipe_worker_processes_gone_total", "counter",
              "Worker processes taken as gone (silent for three report intervals).",
              (double) stats_gone_total (stats));
    s_family (out, "zpipe_worker_processes", "gauge",
              "Worker processes the sink knows, by state.");
    fprintf (out, "zpipe_worker_processes{state=\"alive\"} %zu\n",
             stats_count (stats, STATS_ALIVE));
    fprintf (out, "zpipe_worker_processes{state=\"left\"} %zu\n",
             stats_count (stats, STATS_LEFT));
    fprintf (out, "zpipe_worker_processes{state=\"gone\"} %zu\n",
             stats_count (stats, STATS_GONE));
    s_single (out, "zpipe_sink_start_time_seconds", "gauge",
              "When the sink started, in seconds since the Unix epoch.", view->sink_start_wall);

    if (view->have_batch) {
        char batch [40];
        snprintf (batch, sizeof batch, "{batch=\"%016" PRIx64 "\"}", view->batch);
        double rate = observe_rate (view, stats, now_wall);
        double eta = observe_eta (view, rate);
        if (view->total_known) {
            s_family (out, "zpipe_batch_tasks", "gauge", "Tasks in the batch.");
            fprintf (out, "zpipe_batch_tasks%s %" PRIu64 "\n", batch, view->total);
        }
        s_family (out, "zpipe_batch_results", "gauge", "Results the batch has.");
        fprintf (out, "zpipe_batch_results%s %" PRIu64 "\n", batch, view->results);
        s_family (out, "zpipe_batch_complete", "gauge", "1 once the batch is complete.");
        fprintf (out, "zpipe_batch_complete%s %d\n", batch, view->complete ? 1 : 0);
        s_family (out, "zpipe_batch_hashes_per_second", "gauge",
                  "Chain steps per second: the live rate while the batch runs, the"
                  " average once it is complete.");
        fprintf (out, "zpipe_batch_hashes_per_second%s %.17g\n", batch, rate);
        s_family (out, "zpipe_batch_elapsed_seconds", "gauge",
                  "Seconds since the batch started (to its last result once complete).");
        fprintf (out, "zpipe_batch_elapsed_seconds%s %.17g\n", batch,
                 s_elapsed (view, now_wall));
        if (eta >= 0) {
            s_family (out, "zpipe_batch_eta_seconds", "gauge",
                      "Seconds the batch should still take at the current rate.");
            fprintf (out, "zpipe_batch_eta_seconds%s %.17g\n", batch, eta);
        }
    }

    s_per_process (out, stats, "zpipe_worker_up", "gauge",
                   "1 while the worker process reports, 0 once it left or is gone.", s_up);
    s_per_process (out, stats, "zpipe_worker_tasks_total", "counter",
                   "Tasks the worker process finished since it started, as it reports.",
                   s_tasks);
    s_per_process (out, stats, "zpipe_worker_results_total", "counter",
                   "Results the sink accepted from the worker process.", s_results);
    s_per_process (out, stats, "zpipe_worker_hashes_total", "counter",
                   "Chain steps the worker process ran since it started, as it reports.",
                   s_steps);
    s_per_process (out, stats, "zpipe_worker_hashes_per_second", "gauge",
                   "Chain steps per second over the worker process's last report interval.",
                   s_rate);
    s_per_process (out, stats, "zpipe_worker_held_tasks", "gauge",
                   "Tasks the worker process holds (waiting, running or finished, not yet"
                   " out).", s_held);
    s_per_process (out, stats, "zpipe_worker_running_tasks", "gauge",
                   "Tasks in the worker process's engine.", s_running);
    s_per_process (out, stats, "zpipe_worker_resident_memory_bytes", "gauge",
                   "Resident memory of the worker process.", s_rss);
    s_per_process (out, stats, "zpipe_worker_uptime_seconds", "gauge",
                   "Seconds since the worker process started.", s_uptime);
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}
