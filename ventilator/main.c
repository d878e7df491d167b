/*  ventilator - command line.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "ventilator.h"
#include "zp_options.h"
#include "zp_proto.h"
#include "zp_util.h"

//  --log-syslog: our log lines go to syslog instead of standard error.
static bool log_syslog = false;
static ventilator_config_t config = {
    .bind = "tcp://*:5557",
    .sink = "tcp://localhost:5558",
    .input = NULL,
    .count = 16,
    .iterations = 1000000,
    .max_length = 1 << 20,
    .min_workers = 1,
    .heartbeat_ms = 3000,
    .task_timeout_s = 60,
    .resume = false,
    .verbosity = 1
};
static zp_curve_options_t curve = { NULL, NULL, NULL, NULL };

//  What the options say together, once all are read.
static int
s_check (zp_options_t *parser)
{
    if (config.input && zp_options_given (parser, "count"))
        return zp_usage_error ("--count and --input exclude each other");
    if (config.resume && !config.input)
        return zp_usage_error ("--resume needs --input: generated strings differ"
                               " on every run");
    if (zp_curve_check (&curve, ZP_CURVE_NEEDS_ALLOW | ZP_CURVE_NEEDS_SINK))
        return EX_USAGE;
    return 0;
}

int
main (int argc, char *argv [])
{
    const zp_option_t options [] = {
        ZP_OPTION_STRING ("bind", 'b', &config.bind, "ENDPOINT",
            "where workers connect for tasks (default tcp://*:5557)"),
        ZP_OPTION_STRING ("sink", 's', &config.sink, "ENDPOINT",
            "the sink's endpoint (default tcp://localhost:5558)"),
        ZP_OPTION_U64 ("count", 'n', &config.count, "N", 0, UINT32_MAX,
            "generate N random UUIDv4 strings (default 16)"),
        ZP_OPTION_STRING ("input", 'i', &config.input, "FILE",
            "one string per line instead ('-' reads stdin);\n"
            "lines split on LF, one trailing CR removed,\n"
            "empty lines skipped, every other byte is data"),
        ZP_OPTION_U64 ("iterations", 'N', &config.iterations, "N", 1, ZP_MAX_ITERATIONS,
            "SHA-512 chain length per task, 1 to 2^40\n(default 1000000)"),
        ZP_OPTION_U64 ("max-length", 0, &config.max_length, "BYTES", 1, ZP_MAX_TASK_BYTES,
            "reject longer lines (default 1048576)"),
        ZP_OPTION_U64 ("min-workers", 0, &config.min_workers, "N", 1, 1000000,
            "wait for N worker processes before starting (default 1)"),
        ZP_OPTION_U64 ("heartbeat-timeout", 0, &config.heartbeat_ms, "MS", 100, 3600000,
            "a worker silent this long is taken as dead and its\n"
            "tasks are handed out again (default 3000)"),
        ZP_OPTION_CURVE_CERT (&curve.cert),
        ZP_OPTION_STRING ("curve-allow", 0, &curve.allow, "DIR",
            "with --curve-cert: the workers' public certificates;\n"
            "no other client gets in (reloaded when it changes)"),
        ZP_OPTION_STRING ("curve-sink", 0, &curve.sink, "FILE",
            "with --curve-cert: the sink's public certificate"),
        ZP_OPTION_U64 ("task-timeout", 0, &config.task_timeout_s, "SECONDS", 1, 86400 * 365,
            "a task held longer than this is handed out again;\n"
            "the first result wins (default 60)"),
        ZP_OPTION_FLAG ("resume", 0, &config.resume,
            "continue the batch of this same input that the sink\n"
            "has open (after the ventilator was stopped or died):\n"
            "send only what the sink does not have yet"),
        ZP_OPTIONS_COMMON ("ventilator", &log_syslog, &config.verbosity, 'v',
            "log errors and warnings only",
            "log debug detail")
    };
    const zp_options_spec_t spec = { "ventilator",
"Hand out one task per input string to the zpipe workers, tell the sink what\n"
"the batch is, and exit when the sink has every result.\n",
"Exit status: 0 the batch is done; 65 done, but input lines were rejected;\n"
"64 usage; 66 input can't be opened; 69 can't bind or connect; 74 read error;\n"
"75 interrupted before the batch was done; 77 the sink refused our CURVE key;\n"
"78 a CURVE certificate or the allow directory can't be used, or the config\n"
"file is bad.\n",
        options, s_check };
    zp_log_init ("ventilator", 1);
    zp_options_t *parser = zp_options_new (&spec);
    if (!parser)
        return EX_OSERR;
    int status = 0;
    bool go = zp_options_parse (parser, argc, argv, &status) == 0;
    if (go) {
        //  zsys_init points czmq's log at stdout: set ours up after it.
        zsys_init ();
        zp_log_init ("ventilator", config.verbosity);
        if (log_syslog)
            zp_log_syslog ();
        //  Every worker process holds a connection here: the soft limit
        //  (1024 by default) would cap a deployment at about a thousand.
        zp_nofile_raise ();
        config.curve = zp_curve_new (&curve, &status);
        if (config.curve) {
            status = ventilator_run (&config);
            zp_curve_destroy (&config.curve);
        }
    }
    zp_options_destroy (&parser);
    return status;
}
