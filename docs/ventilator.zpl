#   ventilator.zpl - an annotated config file for the ventilator.
#
#   ventilator -c docs/ventilator.zpl [OPTION]...
#
#   ZPL (rfc.zeromq.org/spec:4): one "key = value" per line, indented by
#   four spaces under the name of the stage; '#' starts a comment. Every
#   key is the long name of a command-line option and takes the same values;
#   an option given on the command line wins over the file. One file may
#   hold the sections of all three stages: each reads its own and checks
#   that the others are stage names. A key that is not an option, a value
#   out of range, or a key given twice stops the stage with exit status 78
#   and a line that names the file, the line and the key.
#   `ventilator --print-config` prints the settings in effect in this form.

ventilator
    #   Where the workers connect for tasks.
    bind = "tcp://*:5557"
    #   The sink, to tell it what the batch is.
    sink = "tcp://localhost:5558"
    #   Generate this many random UUIDv4 strings ...
    count = 16
    #   ... or read one string per line from a file ('-' = standard input).
    #   input = "/srv/zpipe/strings.txt"
    #   SHA-512 chain length per task.
    iterations = 1000000
    #   Longer input lines are rejected (counted, exit status 65).
    max-length = 1048576
    #   Hand nothing out before this many worker processes are ready.
    min-workers = 1
    #   A worker process silent this long (ms) is dead: its tasks go again.
    heartbeat-timeout = 3000
    #   A task held longer than this (s) is handed out again.
    task-timeout = 60
    #   Continue the batch of this same input that the sink has open.
    resume = false
    #   CURVE on every link (see README "Security"):
    #   curve-cert = "/etc/zpipe/ventilator.cert"
    #   curve-allow = "/etc/zpipe/clients"
    #   curve-sink = "/etc/zpipe/sink.cert"
    #   Logging: quiet = errors and warnings only; verbose = debug detail.
    #   Log to syslog (facility daemon) instead of standard error.
    log-syslog = false
    quiet = false
    verbose = false
