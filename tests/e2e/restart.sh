#!/usr/bin/env bash
# tests/e2e/restart.sh - the sink and the ventilator die in the middle of a
# batch and come back: the sink on its journal (--journal), the ventilator
# with --resume on the same input. The batch goes on where it was, without
# starting over, and every input still comes out once with the right hash.
#
#  1. the sink is kill -9ed mid-batch and restarted on its journal;
#  2. the ventilator is kill -9ed mid-batch and restarted with --resume;
#  3. the sink gets SIGTERM mid-batch: it writes a summary marked incomplete
#     and exits 75; restarted on its journal, it completes the batch;
#  4. the sink is killed and restarted at other moments: as soon as the
#     batch is announced, with most of it journaled, and while the ventilator
#     is paused, so that the new sink finishes the batch from what the
#     workers held before the ventilator is back, or finishes it and exits
#     before: the ventilator learns the batch is complete every time and
#     exits 0 (it waited for ever once: issue 17);
#     a new sink that lacks results the ventilator had acknowledged (its
#     journal missing a record, or no journal) gets them again;
#     each end logs the other's silence and its return;
#  5. damaged journals are refused.
#
# The work is sized to the machine (lib.sh, iterations_for), on the OpenSSL
# engine unless ZP_E2E_ENGINE says otherwise: the slowest, so the most wall
# time for the least hashlib work in check.py.

E2E_ENGINE=openssl
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

# 600 tasks on the two processes last about 4 s: killed after 1 s, a
# stage dies with the batch well under way and well before its end.
N=$(iterations_for 600 2 4)
INPUT=$T_OUT/input.txt
reliability_input "$INPUT" 600
diag "N=$N: a task takes $(task_seconds "$N") s here"

summary_ok() {
    check_summary "$1: every input once, every hash right (hashlib)" \
        --summary "$2" --input "$INPUT" --iterations "$N" --cache "$REF_CACHE"
    show_counts "$1" "$2"
}

# journal_once LABEL JOURNAL: one result record per task, none twice.
journal_once() {
    local lines distinct
    lines=$(jq -r 'select(.type == "result") | .task' "$2" 2>/dev/null | wc -l)
    distinct=$(jq -r 'select(.type == "result") | .task' "$2" 2>/dev/null | sort -un | wc -l)
    if [[ $lines == 600 && $distinct == 600 ]]; then
        ok "$1: the journal holds each of the 600 results once"
    else
        not_ok "$1: the journal holds each of the 600 results once"
        diag "$lines result records, $distinct distinct tasks"
    fi
}

# not_started_over LABEL SUMMARY: a restart costs what was in flight, not
# the batch: fewer tasks sent again than half of it.
not_started_over() {
    local again
    again=$(json_field "$2" redelivered)
    if [[ -n $again ]] && ((again < 300)); then
        ok "$1: the batch went on, it did not start over ($again of 600 sent again)"
    else
        not_ok "$1: the batch went on, it did not start over"
        diag "redelivered is '${again}'"
    fi
}

stop_worker() {
    if stop "$2" 10 && [[ $STATUS == 0 ]]; then
        ok "$1: the worker exits 0 on SIGTERM"
    else
        not_ok "$1: the worker exits 0 on SIGTERM"
        diag "status ${STATUS:-unknown}"
    fi
}

# start_run SINK-NAME VENTILATOR-NAME [SINK-ARGS...]: case endpoints T and R,
# the sink SINK-NAME (with SINK-ARGS), a worker of two processes and the
# ventilator VENTILATOR-NAME on the 600 lines; back once the batch has run for
# a second, so that a stage killed then dies with results in flight.
start_run() {
    start_bg "$1" "$BIN/sink" -b "$R" "${@:3}"
    SINK=$LAST_PID
    start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 2
    WORKER=$LAST_PID
    start_batch "$2" "$INPUT" -N "$N" --min-workers 2
    sleep 1
}

# --------------------------------------------------------------- 1. the sink
tcp_case sink-killed
J=$T_DIR/journal.ndjson
start_run sink1 ventilator --journal "$J"
{ kill -KILL "$SINK"; wait_pid "$SINK" 5; } 2>/dev/null
had=$(jq -r 'select(.type == "result") | .task' "$J" 2>/dev/null | wc -l)
if zp_alive "$VENT" && ((had > 0 && had < 600)); then
    ok "sink killed: it died mid-batch, with $had of 600 results in its journal"
else
    not_ok "sink killed: it died mid-batch"
    diag "$had results in the journal; ventilator alive: $(zp_alive "$VENT" && echo yes || echo no)"
fi
sleep 0.5
start_bg sink2 "$BIN/sink" -b "$R" --journal "$J"
SINK=$LAST_PID
expect_exit "sink killed: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "sink killed: the restarted sink exits 0" "$SINK" 15 0
summary_ok "sink killed" "$T_DIR/sink2.out"
check "sink killed: the restarted sink read the batch back from its journal" \
    grep -Eq 'journal .*: 1 batches open with [1-9][0-9]* results' "$T_DIR/sink2.err"
journal_once "sink killed" "$J"
not_started_over "sink killed" "$T_DIR/sink2.out"
stop_worker "sink killed" "$WORKER"

# --------------------------------------------------------------- 2. the ventilator
tcp_case ventilator-killed
start_run sink ventilator1
batch=$(grep -Eo 'batch [0-9a-f]{16}: 600 tasks' "$T_DIR/ventilator1.err" | head -n1 | cut -d' ' -f2 | tr -d :)
{ kill -KILL "$VENT"; wait_pid "$VENT" 5; } 2>/dev/null
sleep 0.5
if zp_alive "$SINK"; then
    ok "ventilator killed: it died mid-batch"
else
    not_ok "ventilator killed: it died mid-batch"
    diag "the sink is done already; make the batch longer"
fi
start_bg ventilator2 "$BIN/ventilator" -b "$T" -s "$R" -i "$INPUT" -N "$N" --resume
VENT=$LAST_PID
expect_exit "ventilator killed: the resumed ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "ventilator killed: the sink exits 0" "$SINK" 15 0
summary_ok "ventilator killed" "$T_DIR/sink.out"
check "ventilator killed: --resume continued batch ${batch:-?}" \
    grep -q "resuming batch ${batch:-none}" "$T_DIR/ventilator2.err"
check_eq "ventilator killed: the summary is of that batch" \
    "$(json_field "$T_DIR/sink.out" batch)" "${batch:-?}"
not_started_over "ventilator killed" "$T_DIR/sink.out"
stop_worker "ventilator killed" "$WORKER"

# --------------------------------------------------------------- 3. SIGTERM to the sink
tcp_case sink-stopped
J=$T_DIR/journal.ndjson
start_run sink1 ventilator --journal "$J" --fsync second
kill -TERM "$SINK"
expect_exit "sink stopped: SIGTERM mid-batch, the sink exits 75" "$SINK" 10 75
if jq -e '.complete == false and .results < .tasks and .tasks == 600 and .lost == 0' \
       "$T_DIR/sink1.out" >/dev/null 2>&1; then
    ok "sink stopped: its summary says complete: false, with what it had"
else
    not_ok "sink stopped: its summary says complete: false, with what it had"
    diag_file "$T_DIR/sink1.out" 3
fi
start_bg sink2 "$BIN/sink" -b "$R" --journal "$J" --fsync second
SINK=$LAST_PID
expect_exit "sink stopped: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "sink stopped: the restarted sink exits 0" "$SINK" 15 0
summary_ok "sink stopped" "$T_DIR/sink2.out"
journal_once "sink stopped" "$J"
stop_worker "sink stopped" "$WORKER"

# --------------------------------------------------------------- 4. other moments
# restart_at NAME LABEL COUNT: case NAME, a batch of 600 with a journal;
# once the journal holds COUNT results (0: as soon as the batch is
# announced), the sink is killed and a new one started on the journal half
# a second later. The ventilator exits 0 and the new sink's summary is right.
restart_at() {
    local label=$2
    journaled_run "$1" "$3"
    { kill -KILL "$SINK"; wait_pid "$SINK" 5; } 2>/dev/null
    diag "$label: killed with $(journaled "$J") of 600 results journaled"
    sleep 0.5
    start_bg sink2 "$BIN/sink" -b "$R" --journal "$J"
    SINK=$LAST_PID
    expect_exit "sink restarted $label: the ventilator exits 0" "$VENT" "$WAIT" 0
    expect_exit "sink restarted $label: the new sink exits 0" "$SINK" 15 0
    summary_ok "sink restarted $label" "$T_DIR/sink2.out"
    stop_worker "sink restarted $label" "$WORKER"
}

# journaled JOURNAL: how many results it holds.
journaled() {
    jq -r 'select(.type == "result") | .task' "$1" 2>/dev/null | wc -l
}

# journaled_run NAME COUNT: case NAME, the sink sink1 on the journal J, a
# worker of two processes and the ventilator on the 600 lines; back once J
# holds COUNT results (polled every 50 ms for at most 20 s; the batch lasts
# about 4).
journaled_run() {
    local ticks=400
    tcp_case "$1"
    J=$T_DIR/journal.ndjson
    start_bg sink1 "$BIN/sink" -b "$R" --journal "$J"
    SINK=$LAST_PID
    start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 2
    WORKER=$LAST_PID
    start_batch ventilator "$INPUT" -N "$N" --min-workers 2
    until (($(journaled "$J") >= $2)); do
        ((ticks-- > 0)) || break
        sleep 0.05
    done
}

restart_at restart-announced "when the batch is announced" 0
restart_at restart-most "with 90 % journaled" 540

# One round of tasks: every process gets one per lane at once and holds
# nothing more, so once they are out nothing waits at the ventilator, and
# the ventilator can be paused while the batch finishes without it.
# paused_ventilator LABEL KILL: a batch of one round (tasks of about 2 s);
# once its tasks are out the ventilator is paused. With KILL the sink is
# killed and a new one started on the journal, which gets every result from
# the workers; without, the sink finishes, waits for the ventilator's
# confirmation and exits, and a new one is started on its journal. Once the
# new sink has the batch complete, the ventilator is continued: it must
# learn that and exit 0.
paused_ventilator() {
    local label=$1 kill=$2 tasks
    measure_engine
    tasks=$((2 * CHAIN_LANES))
    tcp_case "paused-ventilator-$kill"
    head -n "$tasks" "$INPUT" >"$T_DIR/input.txt"
    local n
    n=$(iterations_for "$tasks" 2 2)
    J=$T_DIR/journal.ndjson
    start_bg sink1 "$BIN/sink" -b "$R" --journal "$J"
    SINK=$LAST_PID
    start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 2
    WORKER=$LAST_PID
    start_batch ventilator "$T_DIR/input.txt" -N "$n" --min-workers 2
    # Dispatch is one round trip on loopback (well under 10 ms); a task
    # takes 2 s: at 0.3 s every task is out and none is done.
    sleep 0.3
    kill -STOP "$VENT"
    if [[ $kill == kill ]]; then
        { kill -KILL "$SINK"; wait_pid "$SINK" 5; } 2>/dev/null
    else
        expect_exit "$label: the first sink finishes and exits 0" "$SINK" "$WAIT" 0
    fi
    start_bg sink2 "$BIN/sink" -b "$R" --journal "$J"
    SINK=$LAST_PID
    if [[ $kill == kill ]]; then
        check "$label: the new sink completes the batch from what the workers held" \
            wait_for_line "$T_DIR/sink2.err" "batch [0-9a-f]+ complete" "$WAIT"
    else
        check "$label: the new sink has the batch from its journal" \
            wait_for_line "$T_DIR/sink2.err" "every batch is reported already" 10
    fi
    kill -CONT "$VENT"
    expect_exit "$label: the ventilator, continued, exits 0" "$VENT" 15 0
    expect_exit "$label: the new sink exits 0" "$SINK" 15 0
    check_summary "$label: every input once, every hash right (hashlib)" \
        --summary "$T_DIR/$([[ $kill == kill ]] && echo sink2 || echo sink1).out" \
        --input "$T_DIR/input.txt" --iterations "$n" --cache "$REF_CACHE"
    stop_worker "$label" "$WORKER"
}

paused_ventilator "sink killed while the ventilator is paused" kill
paused_ventilator "sink done while the ventilator is paused" finished

# --------------------------------------------------------------- acknowledged, then lost
# lost_acknowledged NAME LABEL JOURNAL-MODE: once 100 results are journaled,
# the ventilator is paused and the sink killed; a new sink starts with the
# journal less its first result record (acknowledged long ago: a restored
# backup, or --fsync never and a power cut), or without a journal at all.
# The workers deliver what they still held to the new sink, so its count
# can be above what the ventilator had acknowledged although it lacks a
# result it acknowledged: the ventilator, continued, must find that by the
# ids of the sink's snapshot (issue 12: it went by the count and waited
# for ever).
lost_acknowledged() {
    local label=$2 mode=$3 had
    journaled_run "$1" 100
    kill -STOP "$VENT"
    { kill -KILL "$SINK"; wait_pid "$SINK" 5; } 2>/dev/null
    had=$(journaled "$J")
    local args=()
    if [[ $mode == journal ]]; then
        python3 - "$J" <<'EOF2'
import json, sys
lines = open(sys.argv[1]).read().splitlines(True)
first = next(i for i, l in enumerate(lines) if json.loads(l).get("type") == "result")
open(sys.argv[1], "w").writelines(lines[:first] + lines[first + 1:])
EOF2
        args=(--journal "$J")
    fi
    diag "$label: killed with $had results journaled"
    start_bg sink2 "$BIN/sink" -b "$R" "${args[@]}"
    SINK=$LAST_PID
    # The workers' last results reach the new sink within a second (they
    # reconnect every 100 ms); then the ventilator goes on.
    sleep 1
    kill -CONT "$VENT"
    expect_exit "$label: the ventilator exits 0" "$VENT" "$WAIT" 0
    expect_exit "$label: the new sink exits 0" "$SINK" 15 0
    summary_ok "$label" "$T_DIR/sink2.out"
    check "$label: the ventilator says what the sink lacks goes out again" \
        grep -Eq "but not [1-9][0-9]* it had acknowledged .*; they go out again" \
        "$T_DIR/ventilator.err"
    stop_worker "$label" "$WORKER"
}

lost_acknowledged lost-record "journal missing an acknowledged record" journal
lost_acknowledged lost-journal "sink restarted without its journal" none

# --------------------------------------------------------------- silence
# Each end logs the other's silence (3 s without a word: they speak every
# second) and its return: the sink when the ventilator is paused, the
# ventilator when the sink is killed and started again on its journal
# (issue 12: before, neither said anything, and the sink's progress showed
# a stale ETA for good).
tcp_case silence
J=$T_DIR/journal.ndjson
start_run sink1 ventilator --journal "$J"
kill -STOP "$VENT"
check "silence: the sink logs that the ventilator went silent" \
    wait_for_line "$T_DIR/sink1.err" "its ventilator has been silent for 3 s" 10
kill -CONT "$VENT"
check "silence: and that it is back" \
    wait_for_line "$T_DIR/sink1.err" "its ventilator is back, after [0-9.]+ s" 10
{ kill -KILL "$SINK"; wait_pid "$SINK" 5; } 2>/dev/null
check "silence: the ventilator logs that the sink went silent" \
    wait_for_line "$T_DIR/ventilator.err" "the sink at $R has been silent for 3 s" 10
start_bg sink2 "$BIN/sink" -b "$R" --journal "$J"
SINK=$LAST_PID
check "silence: and that it answers again" \
    wait_for_line "$T_DIR/ventilator.err" "the sink at $R answers again" 10
expect_exit "silence: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "silence: the restarted sink exits 0" "$SINK" 15 0
summary_ok "silence" "$T_DIR/sink2.out"
stop_worker "silence" "$WORKER"

# --------------------------------------------------------------- 5. bad journals
# A journal damaged in the middle is refused (65) with its line number; one
# that can't be opened is an I/O error (74). Neither binds anything.
case_dir bad-journal
free_ports 1
R=tcp://127.0.0.1:${PORTS[0]}
printf '%s\n' '{"type":"complete","batch":"000000000000002a"}' 'not json' \
    '{"type":"complete","batch":"000000000000002b"}' >"$T_DIR/damaged.ndjson"
start_bg damaged "$BIN/sink" -b "$R" --journal "$T_DIR/damaged.ndjson"
expect_exit "a damaged journal: the sink exits 65" "$LAST_PID" 10 65
check "a damaged journal: the message names the file and the line" \
    grep -q "damaged.ndjson line 2" "$T_DIR/damaged.err"
mkdir -p "$T_DIR/a-directory"
start_bg directory "$BIN/sink" -b "$R" --journal "$T_DIR/a-directory"
expect_exit "a journal that can't be opened: the sink exits 74" "$LAST_PID" 10 74
check "a journal that can't be opened: the message names it" \
    grep -q "can't open the journal .*a-directory" "$T_DIR/directory.err"

finish
