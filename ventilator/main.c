/*  ventilator - command line.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "ventilator.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <getopt.h>

static void
s_usage (void)
{
    printf (
"Usage: ventilator [OPTION]...\n"
"Hand out one task per input string to the zpipe workers, tell the sink what\n"
"the batch is, and exit when the sink has every result.\n"
"\n"
"  -b, --bind ENDPOINT       where workers connect for tasks (default tcp://*:5557)\n"
"  -s, --sink ENDPOINT       the sink's endpoint (default tcp://localhost:5558)\n"
"  -n, --count N             generate N random UUIDv4 strings (default 16)\n"
"  -i, --input FILE          one string per line instead ('-' reads stdin);\n"
"                            lines split on LF, one trailing CR removed,\n"
"                            empty lines skipped, every other byte is data\n"
"  -N, --iterations N        SHA-512 chain length per task, 1 to 2^40\n"
"                            (default 1000000)\n"
"      --max-length BYTES    reject longer lines (default 1048576)\n"
"      --min-workers N       wait for N worker processes before starting (default 1)\n"
"      --heartbeat-timeout MS  a worker silent this long is taken as dead and its\n"
"                            tasks are handed out again (default 3000)\n"
"      --curve-cert FILE     encrypt and authenticate every link with CURVE: our\n"
"                            public certificate (FILE_secret beside it, mode 0600)\n"
"      --curve-allow DIR     with --curve-cert: the workers' public certificates;\n"
"                            no other client gets in (reloaded when it changes)\n"
"      --curve-sink FILE     with --curve-cert: the sink's public certificate\n"
"      --task-timeout SECONDS  a task held longer than this is handed out again;\n"
"                            the first result wins (default 60)\n"
"      --resume              continue the batch of this same input that the sink\n"
"                            has open (after the ventilator was stopped or died):\n"
"                            send only what the sink does not have yet\n"
"  -q, --quiet               log errors and warnings only\n"
"  -v, --verbose             log debug detail\n"
"  -h, --help                show this help and exit\n"
"  -V, --version             show the version and exit\n"
"\n"
"Exit status: 0 the batch is done; 65 done, but input lines were rejected;\n"
"64 usage; 66 input can't be opened; 69 can't bind or connect; 74 read error;\n"
"75 interrupted before the batch was done; 78 a CURVE certificate or the\n"
"allow directory can't be used.\n");
}

int
main (int argc, char *argv [])
{
    ventilator_config_t config = {
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
    zp_curve_options_t curve = { NULL, NULL, NULL, NULL };
    enum { OPT_MAX_LENGTH = 256, OPT_MIN_WORKERS, OPT_HEARTBEAT, OPT_CURVE_CERT,
           OPT_CURVE_ALLOW, OPT_CURVE_SINK, OPT_TASK_TIMEOUT, OPT_RESUME };
    static const struct option options [] = {
        { "bind", required_argument, NULL, 'b' },
        { "sink", required_argument, NULL, 's' },
        { "count", required_argument, NULL, 'n' },
        { "input", required_argument, NULL, 'i' },
        { "iterations", required_argument, NULL, 'N' },
        { "max-length", required_argument, NULL, OPT_MAX_LENGTH },
        { "min-workers", required_argument, NULL, OPT_MIN_WORKERS },
        { "heartbeat-timeout", required_argument, NULL, OPT_HEARTBEAT },
        { "curve-cert", required_argument, NULL, OPT_CURVE_CERT },
        { "curve-allow", required_argument, NULL, OPT_CURVE_ALLOW },
        { "curve-sink", required_argument, NULL, OPT_CURVE_SINK },
        { "task-timeout", required_argument, NULL, OPT_TASK_TIMEOUT },
        { "resume", no_argument, NULL, OPT_RESUME },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    zp_log_init ("ventilator", 1);
    bool count_given = false;
    int opt;
    opterr = 0;
    while ((opt = getopt_long (argc, argv, ":b:s:n:i:N:qvhV", options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
            case 'b': config.bind = optarg; break;
            case 's': config.sink = optarg; break;
            case 'i': config.input = optarg; break;
            case 'n':
                rc = zp_parse_u64 ("--count", optarg, 0, UINT32_MAX, &config.count);
                count_given = true;
                break;
            case 'N':
                rc = zp_parse_u64 ("--iterations", optarg, 1, ZP_MAX_ITERATIONS,
                                   &config.iterations);
                break;
            case OPT_MAX_LENGTH:
                rc = zp_parse_u64 ("--max-length", optarg, 1, ZP_MAX_TASK_BYTES,
                                   &config.max_length);
                break;
            case OPT_MIN_WORKERS:
                rc = zp_parse_u64 ("--min-workers", optarg, 1, 1000000, &config.min_workers);
                break;
            case OPT_HEARTBEAT:
                rc = zp_parse_u64 ("--heartbeat-timeout", optarg, 100, 3600000,
                                   &config.heartbeat_ms);
                break;
            case OPT_CURVE_CERT: curve.cert = optarg; break;
            case OPT_CURVE_ALLOW: curve.allow = optarg; break;
            case OPT_CURVE_SINK: curve.sink = optarg; break;
            case OPT_TASK_TIMEOUT:
                rc = zp_parse_u64 ("--task-timeout", optarg, 1, 86400 * 365,
                                   &config.task_timeout_s);
                break;
            case OPT_RESUME: config.resume = true; break;
            case 'q': config.verbosity = 0; break;
            case 'v': config.verbosity = 2; break;
            case 'h': s_usage (); return 0;
            case 'V': printf ("ventilator (zpipe) %s\n", ZP_VERSION); return 0;
            case ':': return zp_usage_error ("option '%s' needs a value",
                                             argv [optind - 1]);
            default:  return zp_usage_error ("unknown option '%s'",
                                             argv [optind - 1]);
        }
        if (rc)
            return EX_USAGE;
    }
    if (optind < argc)
        return zp_usage_error ("unexpected argument '%s'", argv [optind]);
    if (config.input && count_given)
        return zp_usage_error ("--count and --input exclude each other");
    if (config.resume && !config.input)
        return zp_usage_error ("--resume needs --input: generated strings differ on every run");
    if (zp_curve_check (&curve, ZP_CURVE_NEEDS_ALLOW | ZP_CURVE_NEEDS_SINK))
        return EX_USAGE;
    //  zsys_init points czmq's log at stdout: set ours up after it.
    zsys_init ();
    zp_log_init ("ventilator", config.verbosity);
    int status = 0;
    config.curve = zp_curve_new (&curve, &status);
    if (!config.curve)
        return status;
    status = ventilator_run (&config);
    zp_curve_destroy (&config.curve);
    return status;
}
