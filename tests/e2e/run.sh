#!/usr/bin/env bash
# tests/e2e/run.sh - `make run` and its job, scripts/run, end to end: the
# default workload's summary on stdout, ventilator arguments after --, and an
# interrupted run that must leave no process behind.
#
# Each run is started in a process group of its own, and scripts/run starts
# its stages without leaving that group: when it has exited, an empty group
# proves that it stopped everything it started.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

RUN=$E2E_ROOT/scripts/run

# check_run_leftovers LABEL PGID
check_run_leftovers() {
    if wait_group_gone "$2" 3; then
        ok "$1: nothing left running after scripts/run exits"
    else
        not_ok "$1: nothing left running after scripts/run exits"
        diag "processes of group $2 still alive; killing them"
        kill -KILL -- "-$2" 2>/dev/null
    fi
}

# 1. `make -s run`, as a user types it: the default workload, 16 random UUIDv4
# strings, 1,000,000 iterations each (a few seconds on two cores; the bound
# only catches a hang). Its stdout must be the summary and nothing else.
case_dir default
# (Without the outer make's MAKEFLAGS when `make test` runs this.)
start_bg run env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$E2E_ROOT" run
expect_exit "make -s run exits 0" "$LAST_PID" 600 0
check_run_leftovers "make -s run" "$LAST_PID"
out=$T_DIR/run.out
check_eq "make -s run: stdout is one JSON document with 16 entries in data" \
    "$(jq -s 'if length == 1 then .[0].data | length else "\(length) documents" end' "$out" 2>&1)" 16
check_eq "make -s run: totaltime_in_s is a number" "$(jq -r '.totaltime_in_s | type' "$out" 2>&1)" number
check "make -s run: complete is true and tasks is 16" jq -e '.complete == true and .tasks == 16' "$out"
check_summary "make -s run: summary checks out (16 UUIDv4, 1000000 iterations)" \
    --summary "$out" --uuids 16 --iterations 1000000

# 2. Ventilator arguments after --.
case_dir with-arguments
start_bg run "$RUN" -- -n 3 -N 1000
expect_exit "scripts/run -- -n 3 -N 1000 exits 0" "$LAST_PID" "$WAIT" 0
check_run_leftovers "-n 3 -N 1000" "$LAST_PID"
check_summary "-n 3 -N 1000: summary checks out" --summary "$T_DIR/run.out" --uuids 3 --iterations 1000

# 3. An input file, a worker count, and a rejected line: the ventilator's
# status 65 comes through, the summary still has the other lines.
case_dir input-file
write_bytes "$T_DIR/input.txt" 'b"one\ntwo\n" + b"x" * 300 + b"\nfour\n"'
start_bg run "$RUN" -w 1 -- -i "$T_DIR/input.txt" -N 10 --max-length 200
expect_exit "scripts/run with a rejected line exits 65" "$LAST_PID" "$WAIT" 65
check_run_leftovers "input file" "$LAST_PID"
check_summary "input file: summary checks out" --summary "$T_DIR/run.out" \
    --input "$T_DIR/input.txt" --iterations 10 --max-length 200

# 4. Interrupted in the middle of a long batch (SIGTERM, as from a timeout;
# SIGINT, as from Ctrl-C: `env --default-signal` undoes the SIG_IGN that bash
# gives background jobs). It must stop the pipeline and say so in its status.
for sig in TERM INT; do
    case_dir "interrupted-$sig"
    if [[ $sig == INT ]]; then
        start_bg run env --default-signal=INT "$RUN" -- -n 4 -N 1000000000
    else
        start_bg run "$RUN" -- -n 4 -N 1000000000
    fi
    pid=$LAST_PID
    # Wait until the ventilator has started (scripts/run announces the
    # endpoints first), then a little for the stages to get going.
    for _ in $(seq 100); do
        [[ -s $T_DIR/run.err ]] && break
        sleep 0.1
    done
    sleep 1.5
    kill -"$sig" "$pid"
    want=$((128 + $(kill -l "$sig")))
    expect_exit "SIG$sig: scripts/run stops the pipeline and exits $want" "$pid" 30 "$want"
    check_run_leftovers "SIG$sig" "$pid"
done

finish
