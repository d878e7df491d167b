#   worker.zpl - an annotated config file for the worker.
#
#   worker -c docs/worker.zpl [OPTION]...
#
#   ZPL: one "key = value" per line, four spaces under the stage's name, '#'
#   comments; every key is a long option and the command line wins. See
#   docs/ventilator.zpl for the rules and README "Config files".

worker
    #   The ventilator's task endpoint and the sink's endpoint.
    ventilator = "tcp://localhost:5557"
    sink = "tcp://localhost:5558"
    #   Worker processes; leave it out to run one per online core.
    #   processes = 4
    #   Hash engine: auto (the fastest this CPU runs), openssl, avx2, avx512.
    engine = auto
    #   Tell the ventilator we are alive, and the sink what each process
    #   does, this often (ms); well under the ventilator's
    #   heartbeat-timeout.
    heartbeat = 1000
    #   Refuse tasks of more iterations (a failed result that says why).
    max-iterations = 1000000000
    #   What runs a task: sha512-chain (built in) or a handler library (.so);
    #   handler-arg (repeatable) passes KEY=VALUE to the library's init.
    handler = sha512-chain
    #   handler = "/usr/local/lib/zpipe/libwordcount.so"
    #   handler-arg = "count=words"
    #   Or a command per task (stdin the task, stdout the result); with
    #   exec-persistent one command per process, one line in and out per task.
    #   exec = 'sha256sum | cut -d" " -f1'
    #   exec-persistent = false
    #   A task that crashed its handler library this often is failed.
    max-attempts = 3
    #   An exec command running longer is killed and its task failed; on
    #   SIGTERM, finish what runs within half of this (s), hand back the rest.
    task-timeout = 60
    #   CURVE on every link:
    #   curve-cert = "/etc/zpipe/worker.cert"
    #   curve-ventilator = "/etc/zpipe/ventilator.cert"
    #   curve-sink = "/etc/zpipe/sink.cert"
    #   Log to syslog (facility daemon) instead of standard error.
    log-syslog = false
    quiet = false
    verbose = false
