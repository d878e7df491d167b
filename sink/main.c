/*  sink - command line.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "sink.h"
#include "zp_options.h"
#include "zp_util.h"

//  --log-syslog: our log lines go to syslog instead of standard error.
static bool log_syslog = false;
static sink_config_t config = {
    .bind = "tcp://*:5558",
    .output = NULL,
    .format = SINK_FORMAT_JSON,
    .journal = NULL,
    .fsync = SINK_FSYNC_ALWAYS,
    .batches = 1,
    .max_batch_bytes = UINT64_C (1) << 32,
    .verbosity = 1
};
static zp_curve_options_t curve = { NULL, NULL, NULL, NULL };
static const char *http_text = NULL;
static http_address_t http;

static int
s_check (zp_options_t *parser)
{
    (void) parser;
    if (zp_curve_check (&curve, ZP_CURVE_NEEDS_ALLOW))
        return EX_USAGE;
    if (http_text) {
        const char *why = NULL;
        if (http_parse_address (http_text, &http, &why))
            return zp_usage_error ("--http: '%s': %s", http_text, why);
        config.http = &http;
    }
    return 0;
}

int
main (int argc, char *argv [])
{
    //  In the order of SINK_FSYNC_*.
    static const char *const fsync_modes [] = { "always", "second", "never", NULL };
    //  In the order of SINK_FORMAT_*.
    static const char *const formats [] = { "json", "ndjson", NULL };
    const zp_option_t options [] = {
        ZP_OPTION_STRING ("bind", 'b', &config.bind, "ENDPOINT",
            "where workers and the ventilator connect\n(default tcp://*:5558)"),
        ZP_OPTION_STRING ("output", 'o', &config.output, "FILE",
            "write summaries to FILE (default: standard output, '-')"),
        ZP_OPTION_CHOICE ("format", 0, &config.format, "FORMAT", formats,
            "json (the default): one JSON document per batch, with\n"
            "every result in input order, when the batch is\n"
            "complete; ndjson: one line per result as it arrives,\n"
            "{\"batch\", \"task\", \"input\", \"hash\"}, flushed at once,\n"
            "then the batch's summary (without \"data\") as one line"),
        ZP_OPTION_U64 ("batches", 0, &config.batches, "N", 0, UINT32_MAX,
            "exit after N batches (default 1; 0 = until signalled);\n"
            "batches finished in the journal count"),
        ZP_OPTION_STRING ("journal", 0, &config.journal, "FILE",
            "append every accepted result to FILE (NDJSON) before\n"
            "acknowledging it; started again on the same FILE,\n"
            "continue its open batches without redoing anything"),
        ZP_OPTION_CHOICE ("fsync", 0, &config.fsync, "MODE", fsync_modes,
            "when the journal is synced to disk: always (before\n"
            "every acknowledgement; the default), second (at most\n"
            "once a second) or never (left to the system)"),
        ZP_OPTION_U64 ("max-batch-bytes", 0, &config.max_batch_bytes, "N", 1024,
            UINT64_C (1) << 48,
            "most bytes of results (inputs and outputs) one batch\n"
            "may hold; results past it are failed tasks that say\n"
            "so (default 4294967296)"),
        ZP_OPTION_CURVE_CERT (&curve.cert),
        ZP_OPTION_STRING ("curve-allow", 0, &curve.allow, "DIR",
            "with --curve-cert: the public certificates of the\n"
            "workers and the ventilator; no other client gets in\n"
            "(reloaded when it changes)"),
        ZP_OPTION_STRING ("http", 0, &http_text, "ADDRESS:PORT",
            "serve /metrics (Prometheus), /status (JSON) and / (a\n"
            "live page) over HTTP there; PORT or :PORT alone is\n"
            "127.0.0.1:PORT, * is every interface (default: off)"),
        ZP_OPTIONS_COMMON ("sink", &log_syslog, &config.verbosity, 'v',
            "log errors and warnings only, and show no progress\n"
            "bar (otherwise shown when stderr is a terminal)",
            "log debug detail")
    };
    const zp_options_spec_t spec = { "sink",
"Pull the zpipe workers' results, put each batch together in input order and\n"
"print its summary as JSON when the batch is complete.\n",
"The summary: {\"data\": [{\"<input>\": \"<hash>\"}, ...], \"starttime\", \"endtime\",\n"
"\"totaltime_in_s\", \"batch\", \"complete\", \"tasks\", \"results\", \"iterations\",\n"
"\"hashes_per_second\", \"rejected\", \"duplicates\", \"redelivered\",\n"
"\"worker_restarts\", \"lost\", \"workers\": [{\"host\", \"pid\", \"tasks\",\n"
"\"busy_s\"}], \"failed\", \"rejected_messages\", \"refused_connections\"};\n"
"an input that is not valid UTF-8 appears as\n"
"{\"input_base64\": \"...\", \"hash\": \"...\"}, an output that is not as\n"
"\"output_base64\", a failed task as {\"input\", \"error\", \"attempts\"}.\n"
"--format ndjson: one line per result as it comes, then the summary without\n"
"\"data\" as one line. See README.md.\n"
"With --batches 0 the sink serves batch after batch, one summary each, until\n"
"SIGINT or SIGTERM.\n"
"\n"
"Exit status: 0 every batch reported; 64 usage; 65 the journal is damaged;\n"
"69 can't bind (the endpoint or the --http address); 74 can't write the\n"
"output or the journal; 75 stopped by a\n"
"signal with a batch incomplete (its summary, with \"complete\": false, is\n"
"written first); 78 a CURVE certificate or the allow directory can't be used,\n"
"or the config file is bad.\n",
        options, s_check };
    zp_log_init ("sink", 1);
    zp_options_t *parser = zp_options_new (&spec);
    if (!parser)
        return EX_OSERR;
    int status = 0;
    bool go = zp_options_parse (parser, argc, argv, &status) == 0;
    if (go && config.output && streq (config.output, "-"))
        config.output = NULL;
    if (go) {
        //  zsys_init points czmq's log at stdout: set ours up after it.
        zsys_init ();
        zp_log_init ("sink", config.verbosity);
        if (log_syslog)
            zp_log_syslog ();
        //  Every worker process holds a connection here: the soft limit
        //  (1024 by default) would cap a deployment at about a thousand.
        zp_nofile_raise ();
        config.curve = zp_curve_new (&curve, &status);
        if (config.curve) {
            status = sink_run (&config);
            zp_curve_destroy (&config.curve);
        }
    }
    zp_options_destroy (&parser);
    return status;
}
