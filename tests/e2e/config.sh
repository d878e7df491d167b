#!/usr/bin/env bash
# tests/e2e/config.sh - config files (-c, --config FILE, ZPL) on the real
# executables: every option of every stage through a file, the command line
# over the file, the errors a bad file gives (status 78, file, line, key),
# and a whole pipeline run from one file that holds the three sections.
#
# What a stage took from its file is read back with --print-config, which
# prints the settings in effect as a config section: keys set by the file or
# the command line, the others commented out at their defaults.

# It checks the worker's options as given, --engine among them: never forced.
E2E_OWN_OPTIONS=1
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

# 1. Every option through a file: a section that sets every key to a value
# other than its default reads back, through --print-config, as itself.
case_dir every-option
cat >"$T_DIR/ventilator.zpl" <<'ZPL'
ventilator
    bind = tcp://127.0.0.1:7001
    sink = tcp://127.0.0.1:7002
    input = /tmp/zpipe-input.txt
    iterations = 77
    max-length = 4096
    min-workers = 2
    heartbeat-timeout = 5000
    curve-cert = /etc/zpipe/v.cert
    curve-allow = /etc/zpipe/allow
    curve-sink = /etc/zpipe/s.cert
    task-timeout = 30
    resume = true
    log-syslog = true
    quiet = true
    verbose = false
ZPL
cat >"$T_DIR/worker.zpl" <<'ZPL'
worker
    ventilator = tcp://127.0.0.1:7001
    sink = tcp://127.0.0.1:7002
    processes = 3
    engine = openssl
    heartbeat = 500
    max-iterations = 1000
    handler = /opt/zpipe/libtask.so
    handler-arg = "count=words"
    handler-arg = "mode=two words"
    max-attempts = 5
    curve-cert = /etc/zpipe/w.cert
    curve-ventilator = /etc/zpipe/v.cert
    curve-sink = /etc/zpipe/s.cert
    task-timeout = 20
    log-syslog = true
    quiet = false
    verbose = true
ZPL
cat >"$T_DIR/sink.zpl" <<'ZPL'
sink
    bind = tcp://127.0.0.1:7002
    output = /tmp/summary.json
    format = ndjson
    batches = 4
    journal = /tmp/journal.ndjson
    fsync = second
    max-batch-bytes = 65536
    curve-cert = /etc/zpipe/s.cert
    curve-allow = /etc/zpipe/allow
    http = 127.0.0.1:9558
    log-syslog = true
    quiet = true
    verbose = false
ZPL
# --count excludes --input, so it has a file of its own.
printf 'ventilator\n    count = 3\n' >"$T_DIR/ventilator-more.zpl"
# --exec excludes a --handler library, so it has a file of its own too.
printf 'worker\n    exec = "tr a-z A-Z"\n    exec-persistent = true\n' >"$T_DIR/worker-more.zpl"
for stage in ventilator worker sink; do
    # Every long option but the ones that are not settings has a key here.
    keys=$("$BIN/$stage" --help | grep -oE -- '^  (-., |    )--[a-z0-9-]+' \
        | sed 's/.*--//' | grep -vxE -- '(config|print-config|help|version)' | sort)
    in_file=$(cat "$T_DIR/$stage.zpl" "$T_DIR/$stage-more.zpl" 2>/dev/null \
        | sed -n 's/^    \([a-z0-9-]*\) =.*/\1/p' | sort -u)
    check_eq "$stage: the file sets every option --help lists" "$in_file" "$keys"
    "$BIN/$stage" -c "$T_DIR/$stage.zpl" --print-config >"$T_DIR/$stage.printed" \
        2>"$T_DIR/$stage.err"
    check_eq "$stage -c FILE --print-config exits 0" "$?" 0
    check "$stage: every key of the file is in effect, with its value" \
        diff "$T_DIR/$stage.zpl" <(grep -v '^#' "$T_DIR/$stage.printed")
done
check_eq "worker: exec and exec-persistent through a file" \
    "$("$BIN/worker" -c "$T_DIR/worker-more.zpl" --print-config | grep -E '^    exec')" \
    '    exec = "tr a-z A-Z"
    exec-persistent = true'
check_eq "ventilator: count through a file" \
    "$("$BIN/ventilator" -c "$T_DIR/ventilator-more.zpl" --print-config | grep count)" \
    "    count = 3"

# 2. The command line wins over the file, whichever comes first.
case_dir precedence
printf 'worker\n    processes = 3\n    engine = openssl\n' >"$T_DIR/w.zpl"
got=$("$BIN/worker" -p 1 -c "$T_DIR/w.zpl" --print-config | grep -E '^.   (processes|engine) =')
check_eq "worker: -p before -c wins, the file's engine stays" "$got" \
"    processes = 1
    engine = openssl"
got=$("$BIN/worker" --config="$T_DIR/w.zpl" --engine auto --print-config \
    | grep -E '^.   (processes|engine) =')
check_eq "worker: --engine after --config wins" "$got" \
"    processes = 3
    engine = auto"
printf 'ventilator\n    count = 5\n' >"$T_DIR/v.zpl"
"$BIN/ventilator" -c "$T_DIR/v.zpl" -i - --print-config >/dev/null 2>"$T_DIR/v.err"
check_eq "ventilator: --count from the file and --input from the command line exclude each other (64)" \
    "$?" 64

# 3. Bad files: status 78 and one line on stderr naming the file, the line
# and the key; nothing on stdout.
case_dir bad-files
bad_file() { # STAGE TEXT EXPECTED-STDERR-AFTER-"STAGE: config FILE"
    local stage=$1 text=$2 want=$3 file=$T_DIR/bad$T_NUM.zpl
    printf '%b' "$text" >"$file"
    "$BIN/$stage" -c "$file" >"$T_DIR/bad.out" 2>"$T_DIR/bad.err"
    local status=$?
    check_eq "$stage, bad file ($want): status 78, one line, nothing on stdout" \
        "$status|$(cat "$T_DIR/bad.err")|$(wc -c <"$T_DIR/bad.out")" \
        "78|$stage: config $file$want|0"
}
bad_file sink 'sink\n    fsync = sometimes\n' \
    ", line 2: key 'fsync': 'sometimes' is not one of always, second, never"
bad_file ventilator '# a comment\n\nventilator\n    iterations = 0\n' \
    ", line 4: key 'iterations': '0' is not a whole number from 1 to 1099511627776"
bad_file worker 'worker\n    processes = 2\n    procesess = 3\n' \
    ", line 3: key 'procesess': no such option for the worker"
bad_file worker 'workers\n    processes = 2\n' \
    ", line 1: 'workers' is not a section (ventilator, worker or sink)"
bad_file sink 'sink\n   bind = x\n' ", line 2: indent 4 spaces at once"
bad_file ventilator 'ventilator\n    resume = perhaps\n' \
    ", line 2: key 'resume': 'perhaps' is not one of true, false, yes, no, 1, 0"
bad_file worker 'worker\n    heartbeat = 100\n    heartbeat = 200\n' \
    ", line 3: key 'heartbeat': given twice"
"$BIN/sink" -c "$T_DIR/missing.zpl" 2>"$T_DIR/bad.err"
check_eq "sink, missing file: status 78 and the reason" "$?|$(cat "$T_DIR/bad.err")" \
    "78|sink: config $T_DIR/missing.zpl: can't open: No such file or directory"

# 4. One file, three sections, a whole batch: the stages take their
# endpoints, sizes and output from it and nothing from the command line.
case_dir pipeline
free_ports 2
cat >"$T_DIR/zpipe.zpl" <<ZPL
# One deployment, one file.
ventilator
    bind = "tcp://127.0.0.1:${PORTS[0]}"
    sink = "tcp://127.0.0.1:${PORTS[1]}"
    count = 6
    iterations = 500
worker
    ventilator = "tcp://127.0.0.1:${PORTS[0]}"
    sink = "tcp://127.0.0.1:${PORTS[1]}"
    processes = 2
sink
    bind = "tcp://127.0.0.1:${PORTS[1]}"
    output = "$T_DIR/summary.json"
ZPL
start_bg sink "$BIN/sink" -c "$T_DIR/zpipe.zpl"
SINK=$LAST_PID
start_bg worker "$BIN/worker" -c "$T_DIR/zpipe.zpl"
WORKER=$LAST_PID
start_bg ventilator "$BIN/ventilator" -c "$T_DIR/zpipe.zpl"
VENT=$LAST_PID
SUMMARY=$T_DIR/summary.json finish_pipeline "from one config file" 0 --uuids 6 --iterations 500

finish
