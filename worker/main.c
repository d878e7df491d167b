/*  worker - command line.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "worker.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <getopt.h>
#include <unistd.h>

static void
s_usage (long cores)
{
    printf (
"Usage: worker [OPTION]...\n"
"Run one zpipe worker process per core: each pulls tasks from the ventilator,\n"
"runs its handler on them (the SHA-512 chain, a library or a command) and\n"
"pushes the results to the sink. Runs until\n"
"stopped with SIGINT or SIGTERM, batch after batch; a process that dies is\n"
"restarted. A second signal stops at once (unfinished tasks are handed back).\n"
"\n"
"  -v, --ventilator ENDPOINT the ventilator's task endpoint\n"
"                            (default tcp://localhost:5557)\n"
"  -s, --sink ENDPOINT       the sink's endpoint (default tcp://localhost:5558)\n"
"  -p, --processes N         worker processes (default: online cores, here %ld)\n"
"  -e, --engine NAME         hash engine: auto, openssl, avx2 or avx512\n"
"                            (default auto: the fastest this CPU runs)\n"
"      --handler NAME|LIB    what runs a task: sha512-chain (built in, the\n"
"                            default) or a handler library (a path to a .so,\n"
"                            see zpipe_handler.h)\n"
"      --handler-arg KEY=VALUE  an argument for the library's init; repeatable\n"
"                            (default none)\n"
"      --exec CMD            run `/bin/sh -c CMD` per task instead: the task on\n"
"                            its stdin, its stdout (one trailing newline off) the\n"
"                            result; a non-zero exit or --task-timeout fails the\n"
"                            task with stderr's tail as the reason (default none)\n"
"      --exec-persistent     with --exec: one command per process for all its\n"
"                            tasks, one input line in, one output line out each\n"
"                            (default: one command per task)\n"
"      --max-attempts N      a task that crashed its handler library (killed its\n"
"                            process) N times is reported failed (default 3)\n"
"      --heartbeat MS        tell the ventilator we are alive this often\n"
"                            (default 1000; keep it well under its\n"
"                            --heartbeat-timeout)\n"
"      --max-iterations N    refuse tasks of more iterations (a failed result that\n"
"                            says why, instead of running it) (default 1000000000)\n"
"      --curve-cert FILE     encrypt and authenticate every link with CURVE: our\n"
"                            public certificate (FILE_secret beside it, mode 0600)\n"
"      --curve-ventilator FILE  with --curve-cert: the ventilator's public certificate\n"
"      --curve-sink FILE     with --curve-cert: the sink's public certificate\n"
"      --task-timeout SECONDS  an --exec command running longer is killed and\n"
"                            its task failed; on SIGTERM, the processes finish\n"
"                            what they run for at most half of this, hand back\n"
"                            the rest, and the worker is gone within it\n"
"                            (default 60)\n"
"  -q, --quiet               log errors and warnings only\n"
"      --verbose             log debug detail\n"
"  -h, --help                show this help and exit\n"
"  -V, --version             show the version and exit\n"
"\n"
"Exit status: 0 stopped by a signal; 64 usage; 69 can't connect; 78 the\n"
"engine asked for does not run on this CPU, a CURVE certificate can't be used,\n"
"or the handler library can't be loaded, has another ABI version or refuses\n"
"its --handler-arg.\n",
            cores);
}

int
main (int argc, char *argv [])
{
    int status = 0;
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    worker_config_t config = {
        .ventilator = "tcp://localhost:5557",
        .sink = "tcp://localhost:5558",
        .processes = (uint64_t) cores,
        .engine = ZP_ENGINE_AUTO,
        .heartbeat_ms = 1000,
        .max_iterations = 1000000000,
        .task_timeout_s = 60,
        .verbosity = 1,
        .handler = { .name = HANDLER_BUILTIN },
        .max_attempts = 3
    };
    zp_curve_options_t curve = { NULL, NULL, NULL, NULL };
    enum { OPT_VERBOSE = 256, OPT_HEARTBEAT, OPT_MAX_ITERATIONS, OPT_CURVE_CERT,
           OPT_CURVE_VENTILATOR, OPT_CURVE_SINK, OPT_TASK_TIMEOUT, OPT_HANDLER,
           OPT_HANDLER_ARG, OPT_EXEC, OPT_EXEC_PERSISTENT, OPT_MAX_ATTEMPTS };
    static const struct option options [] = {
        { "ventilator", required_argument, NULL, 'v' },
        { "sink", required_argument, NULL, 's' },
        { "processes", required_argument, NULL, 'p' },
        { "engine", required_argument, NULL, 'e' },
        { "heartbeat", required_argument, NULL, OPT_HEARTBEAT },
        { "max-iterations", required_argument, NULL, OPT_MAX_ITERATIONS },
        { "curve-cert", required_argument, NULL, OPT_CURVE_CERT },
        { "curve-ventilator", required_argument, NULL, OPT_CURVE_VENTILATOR },
        { "curve-sink", required_argument, NULL, OPT_CURVE_SINK },
        { "task-timeout", required_argument, NULL, OPT_TASK_TIMEOUT },
        { "handler", required_argument, NULL, OPT_HANDLER },
        { "handler-arg", required_argument, NULL, OPT_HANDLER_ARG },
        { "exec", required_argument, NULL, OPT_EXEC },
        { "exec-persistent", no_argument, NULL, OPT_EXEC_PERSISTENT },
        { "max-attempts", required_argument, NULL, OPT_MAX_ATTEMPTS },
        { "quiet", no_argument, NULL, 'q' },
        { "verbose", no_argument, NULL, OPT_VERBOSE },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };
    zp_log_init ("worker", 1);
    int opt;
    opterr = 0;
    while ((opt = getopt_long (argc, argv, ":v:s:p:e:qhV", options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
            case 'v': config.ventilator = optarg; break;
            case 's': config.sink = optarg; break;
            case 'p':
                rc = zp_parse_u64 ("--processes", optarg, 1, 1024, &config.processes);
                break;
            case 'e':
                if (zp_engine_kind_parse (optarg, &config.engine))
                    return zp_usage_error ("--engine: '%s' is not one of auto,"
                                           " openssl, avx2, avx512", optarg);
                break;
            case OPT_HEARTBEAT:
                rc = zp_parse_u64 ("--heartbeat", optarg, 10, 600000, &config.heartbeat_ms);
                break;
            case OPT_MAX_ITERATIONS:
                rc = zp_parse_u64 ("--max-iterations", optarg, 1, ZP_MAX_ITERATIONS,
                                   &config.max_iterations);
                break;
            case OPT_CURVE_CERT: curve.cert = optarg; break;
            case OPT_CURVE_VENTILATOR: curve.ventilator = optarg; break;
            case OPT_CURVE_SINK: curve.sink = optarg; break;
            case OPT_TASK_TIMEOUT:
                rc = zp_parse_u64 ("--task-timeout", optarg, 1, 86400 * 365,
                                   &config.task_timeout_s);
                break;
            case OPT_HANDLER: config.handler.name = optarg; break;
            case OPT_HANDLER_ARG:
                if (config.handler.args_n == HANDLER_MAX_ARGS)
                    return zp_usage_error ("--handler-arg: more than %d", HANDLER_MAX_ARGS);
                if (handler_arg_parse (optarg, &config.handler.args [config.handler.args_n]))
                    return zp_usage_error ("--handler-arg: '%s' is not KEY=VALUE", optarg);
                config.handler.args_n++;
                break;
            case OPT_EXEC:
                if (!*optarg)
                    return zp_usage_error ("--exec: the command is empty");
                config.handler.exec = optarg;
                break;
            case OPT_EXEC_PERSISTENT: config.handler.persistent = true; break;
            case OPT_MAX_ATTEMPTS:
                rc = zp_parse_u64 ("--max-attempts", optarg, 1, ZP_MAX_ATTEMPTS,
                                   &config.max_attempts);
                break;
            case 'q': config.verbosity = 0; break;
            case OPT_VERBOSE: config.verbosity = 2; break;
            case 'h': s_usage (cores); return 0;
            case 'V': printf ("worker (zpipe) %s\n", ZP_VERSION); return 0;
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
    if (zp_curve_check (&curve, ZP_CURVE_NEEDS_VENTILATOR | ZP_CURVE_NEEDS_SINK))
        return EX_USAGE;
    if (config.handler.exec && strcmp (config.handler.name, HANDLER_BUILTIN) != 0)
        return zp_usage_error ("--exec and --handler %s exclude each other", config.handler.name);
    if (config.handler.persistent && !config.handler.exec)
        return zp_usage_error ("--exec-persistent needs --exec");
    if (config.handler.args_n && (config.handler.exec || handler_is_builtin (&config.handler)))
        return zp_usage_error ("--handler-arg needs --handler LIBRARY");
    zp_log_init ("worker", config.verbosity);
    //  A handler library is loaded (and its arguments tried) here too.
    status = handler_load (&config.handler);
    if (status)
        return status;
    //  Loaded here, before the processes are forked: a bad certificate
    //  stops the worker once, with one message, instead of every process
    //  dying and being restarted. No ZeroMQ context is made.
    config.curve = zp_curve_new (&curve, &status);
    if (!config.curve)
        return status;
    status = worker_run (&config);
    zp_curve_destroy (&config.curve);
    return status;
}
