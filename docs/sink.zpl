#   sink.zpl - an annotated config file for the sink.
#
#   sink -c docs/sink.zpl [OPTION]...
#
#   ZPL: one "key = value" per line, four spaces under the stage's name, '#'
#   comments; every key is a long option and the command line wins. See
#   docs/ventilator.zpl for the rules and README "Config files".

sink
    #   Where the workers and the ventilator connect.
    bind = "tcp://*:5558"
    #   Summaries go here ('-' = standard output).
    output = "-"
    #   json: one document per batch when it is complete; ndjson: one line
    #   per result as it comes, then a summary line per batch.
    format = json
    #   Exit after this many batches; 0 serves until stopped.
    batches = 1
    #   Append every accepted result here before acknowledging it, and
    #   continue from it after a restart.
    #   journal = "/var/lib/zpipe/journal.ndjson"
    #   When the journal is synced: always, second or never.
    fsync = always
    #   Most bytes of results one batch may hold.
    max-batch-bytes = 4294967296
    #   CURVE on every link:
    #   curve-cert = "/etc/zpipe/sink.cert"
    #   curve-allow = "/etc/zpipe/clients"
    #   Serve /metrics, /status and a live page over HTTP (off when absent;
    #   "9558" alone is 127.0.0.1:9558, "*:9558" every interface).
    #   http = "127.0.0.1:9558"
    #   Log to syslog (facility daemon) instead of standard error.
    log-syslog = false
    quiet = false
    verbose = false
