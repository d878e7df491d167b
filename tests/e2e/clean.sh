#!/usr/bin/env bash
# tests/e2e/clean.sh - nothing disturbed, nothing is sent twice: batch after
# batch against a standing sink (--batches 0) and a standing worker of two
# processes, every batch's summary says redelivered 0 and duplicates 0; and a
# new ventilator gets a standing worker's READY at once.
#
# A straggler copy is for a holder that stalled; one that goes on finishing
# tasks is no straggler. Before that rule, one idle process was sent copies of
# whatever another still had queued at the end of a batch of tiny tasks: 5 of
# 6 batches of 200,000 one-step tasks re-sent 23,960 tasks and 8,960 came
# back twice (issue 12). The ventilators run one after another, as a
# benchmark script runs them.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

tcp_case standing
start_bg sink "$BIN/sink" -b "$R" --batches 0 --format ndjson
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 2
WORKER=$LAST_PID

# run_batches COUNT TASKS N: COUNT ventilators in turn, each exits 0.
run_batches() {
    local i failed=0
    for ((i = 1; i <= $1; i++)); do
        start_bg "ventilator-$2-$i" "$BIN/ventilator" -b "$T" -s "$R" -n "$2" -N "$3" \
            --min-workers 2
        if ! wait_pid "$LAST_PID" "$WAIT" || [[ $STATUS != 0 ]]; then
            failed=$((failed + 1))
            diag "ventilator $i of $1 ($2 x $3): status ${STATUS:-still running}"
            stop "$LAST_PID" 5
        fi
    done
    check_eq "$1 batches of $2 x $3: every ventilator exits 0" "$failed" 0
}

run_batches 6 200000 1
run_batches 20 100 1000

# The summary lines, in the order the batches ran (the result lines, 1.3
# million of them, are not read again: pipeline.sh and the others check
# hashes; here what counts is what was sent twice).
summaries=$T_DIR/summaries.ndjson
grep '"totaltime_in_s"' "$T_DIR/sink.out" \
    | jq -c '{tasks, results, complete, redelivered, duplicates}' >"$summaries" 2>"$T_DIR/jq.err"
check_eq "26 batches, 26 summaries" "$(wc -l <"$summaries")" 26
check_eq "every batch complete, with as many results as tasks" \
    "$(jq -s '[.[] | select(.complete != true or .results != .tasks)] | length' "$summaries")" 0
resent=$(jq -s '[.[] | select(.redelivered != 0 or .duplicates != 0)]' "$summaries")
if [[ $(jq length <<<"$resent") == 0 ]]; then
    ok "no batch sent a task twice or got a result twice"
else
    not_ok "no batch sent a task twice or got a result twice"
    diag "$(jq -c '.[]' <<<"$resent" | head -n 10)"
fi
((T_FAILED == 0)) && rm -f "$T_DIR/sink.out"

stop "$WORKER" 10
check_eq "the worker exits 0 on SIGTERM" "$STATUS" 0
stop "$SINK" 10
check_eq "the standing sink exits 0 on SIGTERM, between batches" "$STATUS" 0

# A new ventilator hears a standing worker as soon as their connection is up,
# not at the worker's next heartbeat READY: with --heartbeat 30000 the second
# ventilator would wait up to 30 s for its first READY (it waited up to the
# default 1 s each time before: issue 12). It has 10 s, for a batch of a few
# milliseconds; its --heartbeat-timeout is raised to match the worker's.
tcp_case heartbeat-30s
start_bg sink "$BIN/sink" -b "$R" --batches 0 -o /dev/null
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 1 --heartbeat 30000
WORKER=$LAST_PID
for i in 1 2 3; do
    start_bg "ventilator-$i" "$BIN/ventilator" -b "$T" -s "$R" -n 16 -N 1000 \
        --heartbeat-timeout 120000
    expect_exit "heartbeat 30 s: ventilator $i of 3 in a row exits 0 within 10 s" \
        "$LAST_PID" 10 0
done
stop "$WORKER" 10
stop "$SINK" 10

finish
