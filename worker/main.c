/*  worker - command line.

    This Source Code Form is subject to the terms of the Mozilla Public
    License, v. 2.0. If a copy of the MPL was not distributed with this
    file, You can obtain one at http://mozilla.org/MPL/2.0/.
*/
#include "worker.h"
#include "zp_options.h"
#include "zp_proto.h"
#include "zp_util.h"

#include <unistd.h>

//  --log-syslog: our log lines go to syslog instead of standard error.
static bool log_syslog = false;
static worker_config_t config = {
    .ventilator = "tcp://localhost:5557",
    .sink = "tcp://localhost:5558",
    .engine = ZP_ENGINE_AUTO,
    .heartbeat_ms = 1000,
    .max_iterations = 1000000000,
    .task_timeout_s = 60,
    .verbosity = 1,
    .handler = { .name = HANDLER_BUILTIN },
    .max_attempts = 3
};
static zp_curve_options_t curve = { NULL, NULL, NULL, NULL };
static zlist_t *handler_args;       //  --handler-arg values, KEY=VALUE

static int
s_check (zp_options_t *parser)
{
    (void) parser;
    if (zp_curve_check (&curve, ZP_CURVE_NEEDS_VENTILATOR | ZP_CURVE_NEEDS_SINK))
        return EX_USAGE;
    handler_spec_t *handler = &config.handler;
    if (handler->exec && strcmp (handler->name, HANDLER_BUILTIN) != 0)
        return zp_usage_error ("--exec and --handler %s exclude each other", handler->name);
    if (handler->persistent && !handler->exec)
        return zp_usage_error ("--exec-persistent needs --exec");
    if (zlist_size (handler_args) && (handler->exec || handler_is_builtin (handler)))
        return zp_usage_error ("--handler-arg needs --handler LIBRARY");
    if (zlist_size (handler_args) > HANDLER_MAX_ARGS)
        return zp_usage_error ("--handler-arg: more than %d", HANDLER_MAX_ARGS);
    //  The values live in the list (the parser's) until main returns.
    handler->args_n = 0;
    for (const char *text = (const char *) zlist_first (handler_args); text;
         text = (const char *) zlist_next (handler_args)) {
        zpipe_handler_arg_t *arg = &handler->args [handler->args_n];
        const char *equals = strchr (text, '=');
        if (!equals || equals == text)
            return zp_usage_error ("--handler-arg: '%s' is not KEY=VALUE", text);
        if (handler_arg_parse (text, arg))
            return zp_usage_error ("out of memory");
        handler->args_n++;
    }
    return 0;
}

static void
s_free_args (void)
{
    for (size_t i = 0; i < config.handler.args_n; i++)
        free ((char *) config.handler.args [i].key);
    config.handler.args_n = 0;
}

int
main (int argc, char *argv [])
{
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    config.processes = (uint64_t) cores;
    handler_args = zlist_new ();
    if (!handler_args)
        return EX_OSERR;
    zlist_autofree (handler_args);
    //  In the order of zp_engine_kind_t.
    static const char *const engines [] = { "auto", "openssl", "avx2", "avx512", NULL };
    char processes_help [80];
    snprintf (processes_help, sizeof processes_help,
              "worker processes (default: online cores, here %ld)", cores);
    const zp_option_t options [] = {
        ZP_OPTION_STRING ("ventilator", 'v', &config.ventilator, "ENDPOINT",
            "the ventilator's task endpoint\n(default tcp://localhost:5557)"),
        ZP_OPTION_STRING ("sink", 's', &config.sink, "ENDPOINT",
            "the sink's endpoint (default tcp://localhost:5558)"),
        ZP_OPTION_U64 ("processes", 'p', &config.processes, "N", 1, 1024, processes_help),
        ZP_OPTION_CHOICE ("engine", 'e', &config.engine, "NAME", engines,
            "hash engine: auto, openssl, avx2 or avx512\n"
            "(default auto: the fastest this CPU runs)"),
        ZP_OPTION_U64 ("heartbeat", 0, &config.heartbeat_ms, "MS", 10, 600000,
            "tell the ventilator we are alive, and the sink\n"
            "what each process does (STATS), this often\n"
            "(default 1000; keep it well under its\n--heartbeat-timeout)"),
        ZP_OPTION_U64 ("max-iterations", 0, &config.max_iterations, "N", 1, ZP_MAX_ITERATIONS,
            "refuse tasks of more iterations (a failed result that\n"
            "says why, instead of running it) (default 1000000000)"),
        ZP_OPTION_STRING ("handler", 0, &config.handler.name, "NAME|LIB",
            "what runs a task: sha512-chain (built in, the\n"
            "default) or a handler library (a path to a .so,\n"
            "see zpipe_handler.h)"),
        ZP_OPTION_LIST ("handler-arg", 0, handler_args, "KEY=VALUE",
            "an argument for the library's init; repeatable\n(default none)"),
        ZP_OPTION_STRING ("exec", 0, &config.handler.exec, "CMD",
            "run `/bin/sh -c CMD` per task instead: the task on\n"
            "its stdin, its stdout (one trailing newline off) the\n"
            "result; a non-zero exit or --task-timeout fails the\n"
            "task with stderr's tail as the reason (default none)"),
        ZP_OPTION_FLAG ("exec-persistent", 0, &config.handler.persistent,
            "with --exec: one command per process for all its\n"
            "tasks, one input line in, one output line out each\n"
            "(default off: one command per task)"),
        ZP_OPTION_U64 ("max-attempts", 0, &config.max_attempts, "N", 1, ZP_MAX_ATTEMPTS,
            "a task that crashed its handler library (killed its\n"
            "process) N times is reported failed (default 3)"),
        ZP_OPTION_CURVE_CERT (&curve.cert),
        ZP_OPTION_STRING ("curve-ventilator", 0, &curve.ventilator, "FILE",
            "with --curve-cert: the ventilator's public certificate"),
        ZP_OPTION_STRING ("curve-sink", 0, &curve.sink, "FILE",
            "with --curve-cert: the sink's public certificate"),
        ZP_OPTION_U64 ("task-timeout", 0, &config.task_timeout_s, "SECONDS", 1, 86400 * 365,
            "an --exec command running longer is killed and\n"
            "its task failed; on SIGTERM, the processes finish\n"
            "what they run for at most half of this, hand back\n"
            "the rest, and the worker is gone within it\n"
            "(default 60)"),
        ZP_OPTIONS_COMMON ("worker", &log_syslog, &config.verbosity, 0,
            "log errors and warnings only",
            "log debug detail (-v is --ventilator here)")
    };
    const zp_options_spec_t spec = { "worker",
"Run one zpipe worker process per core: each pulls tasks from the ventilator,\n"
"runs its handler on them (the SHA-512 chain, a library or a command) and\n"
"pushes the results to the sink. Runs until\n"
"stopped with SIGINT or SIGTERM, batch after batch; a process that dies is\n"
"restarted. A second signal stops at once (unfinished tasks are handed back).\n",
"Exit status: 0 stopped by a signal; 64 usage; 69 can't connect; 78 the\n"
"engine asked for does not run on this CPU, a CURVE certificate can't be used,\n"
"the config file is bad, or the handler library can't be loaded, has another\n"
"ABI version or refuses its --handler-arg.\n",
        options, s_check };
    zp_log_init ("worker", 1);
    zp_options_t *parser = zp_options_new (&spec);
    if (!parser)
        return EX_OSERR;
    int status = 0;
    bool go = zp_options_parse (parser, argc, argv, &status) == 0;
    if (go) {
        zp_log_init ("worker", config.verbosity);
        if (log_syslog)
            zp_log_syslog ();
        //  A handler library is loaded (and its arguments tried) here too.
        status = handler_load (&config.handler);
        go = status == 0;
    }
    if (go) {
        //  Loaded here, before the processes are forked: a bad certificate
        //  stops the worker once, with one message, instead of every process
        //  dying and being restarted. No ZeroMQ context is made.
        config.curve = zp_curve_new (&curve, &status);
        if (config.curve) {
            status = worker_run (&config);
            zp_curve_destroy (&config.curve);
        }
    }
    zp_options_destroy (&parser);
    s_free_args ();
    zlist_destroy (&handler_args);
    return status;
}
