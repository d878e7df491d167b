#!/usr/bin/env bash
# tests/e2e/stream.sh - always on: the ventilator streams a FIFO or a pipe
# (each line is handed out as it arrives; the batch ends at EOF), the sink
# writes NDJSON results as they come (--format ndjson), and one sink and one
# worker serve batch after batch (--batches 0) until SIGTERM. Every result is
# checked against tests/ref/check.py (hashlib).

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

# feed_and_wait FD OUTPUT INPUT-COPY LINE...: write each LINE (printf %b
# escapes allowed) to FD, then wait until the sink's NDJSON OUTPUT has the
# result of that task before writing the next: results come before EOF.
# Every line is also appended to INPUT-COPY for check.py. Returns 1 (and says
# which) if a result does not come within $WAIT seconds. The first line is
# task $FIRST_TASK (default 0).
feed_and_wait() {
    local fd=$1 output=$2 copy=$3 task=${FIRST_TASK:-0} line
    shift 3
    for line in "$@"; do
        printf '%b\n' "$line" >&"$fd"
        printf '%b\n' "$line" >>"$copy"
        if ! wait_for_line "$output" "\"task\":$task," "$WAIT"; then
            diag "no result line for task $task ($line) within ${WAIT}s"
            return 1
        fi
        task=$((task + 1))
    done
}

# start_fifo_stream SINK ITERATIONS [SINK-ARGS...]: on T and R, the sink SINK
# (with SINK-ARGS), a worker of one process, and a ventilator (-N ITERATIONS)
# streaming the FIFO $T_DIR/fifo, whose write end is then the fd in $feed.
# $T_DIR/input.txt is empty, for feed_and_wait to fill. PIDs in SINK, WORKER
# and VENT.
start_fifo_stream() {
    local sink=$1 iterations=$2
    shift 2
    mkfifo "$T_DIR/fifo"
    : >"$T_DIR/input.txt"
    start_bg "$sink" "$BIN/sink" -b "$R" "$@"
    SINK=$LAST_PID
    start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 1
    WORKER=$LAST_PID
    start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/fifo" -N "$iterations"
    VENT=$LAST_PID
    # Opened read-write, so the open does not wait for the reader; after the
    # stages start, so none of them inherits it: closing it is the stream's EOF.
    exec {feed}<>"$T_DIR/fifo"
}

LINES=(alpha 'with "quotes" and \\ backslash' 'h\xc3\xa9llo' 'invalid \xff\xfe UTF-8'
       'crlf line\r' 'tab\there' omega)

# 1. A named FIFO (-i FIFO), one line at a time: each result is in the
# sink's output before the next line is written, the summary only after EOF.
tcp_case fifo
start_fifo_stream sink 1000 --format ndjson -o "$T_DIR/out.ndjson"
if feed_and_wait "$feed" "$T_DIR/out.ndjson" "$T_DIR/input.txt" "${LINES[@]}"; then
    ok "fifo: every line's result is written (and flushed) before the next line is"
else
    not_ok "fifo: every line's result is written (and flushed) before the next line is"
    diag_file "$T_DIR/ventilator.err"
    diag_file "$T_DIR/sink.err"
fi
# Before EOF the batch is open: no summary line, the ventilator still runs.
check_eq "fifo: no summary before the input ends" \
    "$(grep -vc '"task":' "$T_DIR/out.ndjson")" 0
if zp_alive "$VENT"; then
    ok "fifo: the ventilator waits for more input"
else
    not_ok "fifo: the ventilator waits for more input"
    diag_file "$T_DIR/ventilator.err"
fi
exec {feed}>&-
expect_exit "fifo: the ventilator exits 0 at EOF once the sink has everything" "$VENT" "$WAIT" 0
expect_exit "fifo: the sink exits 0 after the batch" "$SINK" 15 0
check_summary "fifo: the NDJSON results and summary check out" --ndjson \
    --summary "$T_DIR/out.ndjson" --input "$T_DIR/input.txt" --iterations 1000
check_eq "fifo: the summary is the last line" \
    "$(tail -n 1 "$T_DIR/out.ndjson" | jq -r 'has("task"), .complete' | tr '\n' ' ')" \
    "false true "
stop "$WORKER" 10
check_eq "fifo: the worker exits 0 on SIGTERM" "$STATUS" 0

# 2. Standard input from a pipe-like stream (-i - on a FIFO), and a last line
# without LF: the stream's end completes it.
tcp_case stdin
mkfifo "$T_DIR/fifo"
: >"$T_DIR/input.txt"
start_bg sink "$BIN/sink" -b "$R" --format ndjson
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 1
WORKER=$LAST_PID
# The ventilator's standard input opens once there is a writer: ours.
STDIN=$T_DIR/fifo start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i - -N 1000 -v
VENT=$LAST_PID
exec {feed}<>"$T_DIR/fifo"
if feed_and_wait "$feed" "$T_DIR/sink.out" "$T_DIR/input.txt" first second; then
    ok "stdin: results come as the lines do"
else
    not_ok "stdin: results come as the lines do"
    diag_file "$T_DIR/ventilator.err"
fi
printf 'last without LF' >&"$feed"
printf 'last without LF' >>"$T_DIR/input.txt"
exec {feed}>&-
expect_exit "stdin: the ventilator exits 0 at EOF" "$VENT" "$WAIT" 0
expect_exit "stdin: the sink exits 0" "$SINK" 15 0
check_summary "stdin: NDJSON on stdout checks out" --ndjson \
    --summary "$T_DIR/sink.out" --input "$T_DIR/input.txt" --iterations 1000
check "stdin: the ventilator logged that it streams" \
    grep -q 'as standard input brings them' "$T_DIR/ventilator.err"
stop "$WORKER" 10

# 3. A big stream through a pipe: more lines than the ventilator queues
# (65,536), so reading pauses and resumes; every result is still there once.
tcp_case big-pipe
python3 -c 'import sys
with open(sys.argv[1], "w") as f:
    for i in range(150000):
        f.write(f"stream-{i}\n")' "$T_DIR/input.txt"
mkfifo "$T_DIR/fifo"
start_bg sink "$BIN/sink" -b "$R" --format ndjson -o "$T_DIR/out.ndjson"
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 2
WORKER=$LAST_PID
STDIN=$T_DIR/fifo start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i - -N 1 -v
VENT=$LAST_PID
# cat blocks on the FIFO until the ventilator reads: a writer held back.
start_bg feeder sh -c 'exec cat "$1" >"$2"' feeder "$T_DIR/input.txt" "$T_DIR/fifo"
FEEDER=$LAST_PID
expect_exit "big pipe: the writer gets everything through" "$FEEDER" "$((WAIT * 2))" 0
expect_exit "big pipe: the ventilator exits 0" "$VENT" "$((WAIT * 2))" 0
expect_exit "big pipe: the sink exits 0" "$SINK" 30 0
check_summary "big pipe: 150,000 results, each once, check out" --ndjson \
    --summary "$T_DIR/out.ndjson" --input "$T_DIR/input.txt" --iterations 1
check "big pipe: reading paused while the queue was full" \
    grep -q 'reading standard input pauses' "$T_DIR/ventilator.err"
stop "$WORKER" 10

# 4. Always on: one sink (--batches 0) and one worker, started once, serve
# three ventilator runs in a row -- a file, a FIFO stream, stdin from a file
# -- with one correct summary each; then SIGTERM stops the idle sink with 0.
tcp_case three-batches
write_lines "$T_DIR/first.txt" one two three
write_lines "$T_DIR/second.txt" four five six seven
write_lines "$T_DIR/third.txt" eight nine
mkfifo "$T_DIR/fifo"
start_bg sink "$BIN/sink" -b "$R" --batches 0 -o "$T_DIR/summaries.json"
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 1
WORKER=$LAST_PID
start_bg ventilator.1 "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/first.txt" -N 1000
expect_exit "three batches: the first ventilator (a file) exits 0" "$LAST_PID" "$WAIT" 0
start_bg ventilator.2 "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/fifo" -N 2000
VENT=$LAST_PID
start_bg feeder sh -c 'exec cat "$1" >"$2"' feeder "$T_DIR/second.txt" "$T_DIR/fifo"
expect_exit "three batches: the second ventilator (a FIFO) exits 0" "$VENT" "$WAIT" 0
STDIN=$T_DIR/third.txt start_bg ventilator.3 "$BIN/ventilator" -b "$T" -s "$R" -i - -N 3000
expect_exit "three batches: the third ventilator (stdin) exits 0" "$LAST_PID" "$WAIT" 0
if zp_alive "$SINK"; then
    ok "three batches: the sink keeps running"
else
    not_ok "three batches: the sink keeps running"
    diag_file "$T_DIR/sink.err"
fi
if jq -c . "$T_DIR/summaries.json" >"$T_DIR/summaries.jsonl" 2>"$T_DIR/jq.err" \
        && [[ $(wc -l <"$T_DIR/summaries.jsonl") == 3 ]]; then
    ok "three batches: three JSON summaries"
else
    not_ok "three batches: three JSON summaries"
    diag_file "$T_DIR/jq.err" 3
fi
n=0
for spec in first:1000 second:2000 third:3000; do
    n=$((n + 1))
    sed -n "${n}p" "$T_DIR/summaries.jsonl" >"$T_DIR/summary-$n.json"
    check_summary "three batches: summary $n (${spec%%:*}) checks out" \
        --summary "$T_DIR/summary-$n.json" --input "$T_DIR/${spec%%:*}.txt" \
        --iterations "${spec#*:}" --workers 1
done
check_eq "three batches: three different batch ids" \
    "$(jq -r .batch "$T_DIR/summaries.jsonl" | sort -u | wc -l)" 3
stop "$SINK" 10
check_eq "three batches: the idle sink exits 0 on SIGTERM" "$STATUS" 0
stop "$WORKER" 10
check_eq "three batches: the worker exits 0 on SIGTERM" "$STATUS" 0

# 5. SIGTERM in the middle of a stream: the NDJSON sink writes what it has,
# a summary line with "complete": false, and exits 75.
tcp_case stopped-mid-stream
start_fifo_stream sink 10 --batches 0 --format ndjson -o "$T_DIR/out.ndjson"
if feed_and_wait "$feed" "$T_DIR/out.ndjson" "$T_DIR/input.txt" x y; then
    ok "stopped: two results in"
else
    not_ok "stopped: two results in"
fi
stop "$SINK" 10
check_eq "stopped: the sink exits 75 with the stream's batch open" "$STATUS" 75
check_eq "stopped: its last line is the incomplete summary" \
    "$(tail -n 1 "$T_DIR/out.ndjson" | jq -c '[.complete, .results, .tasks]')" "[false,2,2]"
exec {feed}>&-
stop "$VENT" 10
check_eq "stopped: the ventilator, stopped without its sink, exits 75" "$STATUS" 75
stop "$WORKER" 10

# 6. A sink killed mid-stream and started again on its journal, with a new
# output: that output has every result once (what the first sink had comes
# first, from the journal) and the summary.
tcp_case journal
start_fifo_stream sink.1 100 --format ndjson --journal "$T_DIR/journal" \
    -o "$T_DIR/out-1.ndjson"
if feed_and_wait "$feed" "$T_DIR/out-1.ndjson" "$T_DIR/input.txt" one two; then
    ok "journal: the first sink writes two results"
else
    not_ok "journal: the first sink writes two results"
fi
kill -KILL "$SINK"
wait_pid "$SINK" 10
# Started with our end of the FIFO closed, or closing it would be no EOF.
start_bg sink.2 "$BIN/sink" -b "$R" --format ndjson --journal "$T_DIR/journal" \
    -o "$T_DIR/out-2.ndjson" {feed}>&-
SINK=$LAST_PID
# Task 2 is the first new one: its line comes after the two replayed.
if FIRST_TASK=2 feed_and_wait "$feed" "$T_DIR/out-2.ndjson" "$T_DIR/input.txt" three; then
    ok "journal: the restarted sink takes the stream's next line"
else
    not_ok "journal: the restarted sink takes the stream's next line"
    diag_file "$T_DIR/sink.2.err"
fi
exec {feed}>&-
expect_exit "journal: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "journal: the restarted sink exits 0" "$SINK" 15 0
check_summary "journal: the new output alone has every result once, and the summary" \
    --ndjson --summary "$T_DIR/out-2.ndjson" --input "$T_DIR/input.txt" --iterations 100
stop "$WORKER" 10

# 7. --resume cannot read a stream again: refused, naming the input.
case_dir resume-stream
mkfifo "$T_DIR/fifo"
free_ports 2
start_bg ventilator "$BIN/ventilator" -b "tcp://127.0.0.1:${PORTS[0]}" \
    -s "tcp://127.0.0.1:${PORTS[1]}" -i "$T_DIR/fifo" --resume
exec {feed}<>"$T_DIR/fifo"
expect_exit "resume: a stream with --resume is a usage error (64)" "$LAST_PID" 15 64
check "resume: the message names the input and why" \
    grep -q "fifo is a stream" "$T_DIR/ventilator.err"
exec {feed}>&-

finish
