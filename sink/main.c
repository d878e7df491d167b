/*  sink - command line.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "sink.h"
#include "zp_util.h"

#include <getopt.h>

static void
s_usage (void)
{
    printf (
"Usage: sink [OPTION]...\n"
"Pull the zpipe workers' results, put each batch together in input order and\n"
"print its summary as JSON when the batch is complete.\n"
"\n"
"  -b, --bind ENDPOINT       where workers and the ventilator connect\n"
"                            (default tcp://*:5558)\n"
"  -o, --output FILE         write summaries to FILE (default: standard output)\n"
"      --batches N           exit after N batches (default 1; 0 = until signalled);\n"
"                            batches finished in the journal count\n"
"      --journal FILE        append every accepted result to FILE (NDJSON) before\n"
"                            acknowledging it; started again on the same FILE,\n"
"                            continue its open batches without redoing anything\n"
"      --fsync MODE          when the journal is synced to disk: always (before\n"
"                            every acknowledgement; the default), second (at most\n"
"                            once a second) or never (left to the system)\n"
"      --max-batch-bytes N   most bytes of results (inputs and outputs) one batch\n"
"                            may hold; more are refused (default 4294967296)\n"
"      --curve-cert FILE     encrypt and authenticate every link with CURVE: our\n"
"                            public certificate (FILE_secret beside it, mode 0600)\n"
"      --curve-allow DIR     with --curve-cert: the public certificates of the\n"
"                            workers and the ventilator; no other client gets in\n"
"                            (reloaded when it changes)\n"
"      --http ADDRESS:PORT   serve /metrics (Prometheus), /status (JSON) and / (a\n"
"                            live page) over HTTP there; PORT or :PORT alone is\n"
"                            127.0.0.1:PORT, * is every interface (default: off)\n"
"  -q, --quiet               log errors and warnings only, and show no progress\n"
"                            bar (otherwise shown when stderr is a terminal)\n"
"  -v, --verbose             log debug detail\n"
"  -h, --help                show this help and exit\n"
"  -V, --version             show the version and exit\n"
"\n"
"The summary: {\"data\": [{\"<input>\": \"<hash>\"}, ...], \"starttime\", \"endtime\",\n"
"\"totaltime_in_s\", \"batch\", \"complete\", \"tasks\", \"results\", \"iterations\",\n"
"\"hashes_per_second\", \"rejected\", \"duplicates\", \"redelivered\",\n"
"\"worker_restarts\", \"lost\", \"workers\": [{\"host\", \"pid\", \"tasks\",\n"
"\"busy_s\"}], \"failed\", \"rejected_messages\", \"refused_connections\"};\n"
"an input that is not valid UTF-8 appears as\n"
"{\"input_base64\": \"...\", \"hash\": \"...\"}. See README.md.\n"
"\n"
"Exit status: 0 every batch reported; 64 usage; 65 the journal is damaged;\n"
"69 can't bind (the endpoint or the --http address); 74 can't write the output or the journal; 75 stopped by a\n"
"signal with a batch incomplete (its summary, with \"complete\": false, is\n"
"written first); 78 a CURVE certificate or the allow directory can't be used.\n");
}

int
main (int argc, char *argv [])
{
    sink_config_t config = {
        .bind = "tcp://*:5558",
        .output = NULL,
        .journal = NULL,
        .fsync = SINK_FSYNC_ALWAYS,
        .batches = 1,
        .max_batch_bytes = UINT64_C (1) << 32,
        .verbosity = 1
    };
    zp_curve_options_t curve = { NULL, NULL, NULL, NULL };
    http_address_t http;
    enum { OPT_BATCHES = 256, OPT_MAX_BATCH_BYTES, OPT_CURVE_CERT, OPT_CURVE_ALLOW,
           OPT_JOURNAL, OPT_FSYNC, OPT_HTTP };
    static const struct option options [] = {
        { "bind", required_argument, NULL, 'b' },
        { "output", required_argument, NULL, 'o' },
        { "batches", required_argument, NULL, OPT_BATCHES },
        { "max-batch-bytes", required_argument, NULL, OPT_MAX_BATCH_BYTES },
        { "curve-cert", required_argument, NULL, OPT_CURVE_CERT },
        { "curve-allow", required_argument, NULL, OPT_CURVE_ALLOW },
        { "journal", required_argument, NULL, OPT_JOURNAL },
        { "fsync", required_argument, NULL, OPT_FSYNC },
        { "http", required_argument, NULL, OPT_HTTP },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, 'v' },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    zp_log_init ("sink", 1);
    int opt;
    opterr = 0;
    while ((opt = getopt_long (argc, argv, ":b:o:qvhV", options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
            case 'b': config.bind = optarg; break;
            case 'o': config.output = streq (optarg, "-") ? NULL : optarg; break;
            case OPT_BATCHES:
                rc = zp_parse_u64 ("--batches", optarg, 0, UINT32_MAX, &config.batches);
                break;
            case OPT_MAX_BATCH_BYTES:
                rc = zp_parse_u64 ("--max-batch-bytes", optarg, 1024, UINT64_C (1) << 48,
                                   &config.max_batch_bytes);
                break;
            case OPT_CURVE_CERT: curve.cert = optarg; break;
            case OPT_CURVE_ALLOW: curve.allow = optarg; break;
            case OPT_JOURNAL:
                if (!*optarg)
                    return zp_usage_error ("--journal needs a file name");
                config.journal = optarg;
                break;
            case OPT_FSYNC:
                if (streq (optarg, "always"))
                    config.fsync = SINK_FSYNC_ALWAYS;
                else
                if (streq (optarg, "second"))
                    config.fsync = SINK_FSYNC_SECOND;
                else
                if (streq (optarg, "never"))
                    config.fsync = SINK_FSYNC_NEVER;
                else
                    return zp_usage_error ("--fsync: '%s' is not one of always, second,"
                                           " never", optarg);
                break;
            case OPT_HTTP: {
                const char *why = NULL;
                if (http_parse_address (optarg, &http, &why))
                    return zp_usage_error ("--http: '%s': %s", optarg, why);
                config.http = &http;
                break;
            }
            case 'q': config.verbosity = 0; break;
            case 'v': config.verbosity = 2; break;
            case 'h': s_usage (); return 0;
            case 'V': printf ("sink (zpipe) %s\n", ZP_VERSION); return 0;
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
    if (zp_curve_check (&curve, ZP_CURVE_NEEDS_ALLOW))
        return EX_USAGE;
    //  zsys_init points czmq's log at stdout: set ours up after it.
    zsys_init ();
    zp_log_init ("sink", config.verbosity);
    int status = 0;
    config.curve = zp_curve_new (&curve, &status);
    if (!config.curve)
        return status;
    status = sink_run (&config);
    zp_curve_destroy (&config.curve);
    return status;
}
