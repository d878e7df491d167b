#!/usr/bin/env bash
# tests/e2e/pause.sh - the sink is paused in the middle of a batch (SIGSTOP),
# for longer than its peers' ZMTP heartbeat timeout (3 s), then continued
# (SIGCONT): it goes on and completes the batch (issue 12, item 1). With a
# receive HWM on its socket, libzmq 4.3.4 aborted it moments after SIGCONT
# (Assertion failed: !_io_error (src/stream_engine_base.cpp:331), exit 134,
# no summary) and the ventilator waited for ever: see sink/sink.c,
# RECEIVE_HWM.
#
# One case per pause, 4 s and 10 s here: the batch is running when the sink
# is stopped and still running when it is continued (the workers are still
# hashing then); the sink is alive afterwards, logs no assertion, completes
# the batch with every hash right, and exits 0.
#
#   ZP_PAUSES      the pauses, in seconds (default "4 10")
#   ZP_PAUSE_RUNS  how many times each (default 1)
#
# `make soak-pause` (tests/soak/pause.sh) runs 4, 10 and 30 s five times each.
# The work is sized to the machine (lib.sh, iterations_for), on the OpenSSL
# engine unless ZP_E2E_ENGINE says otherwise: the slowest, so the most wall
# time for the least hashlib work in check.py.

E2E_ENGINE=openssl
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

PAUSES=${ZP_PAUSES:-4 10}
RUNS=${ZP_PAUSE_RUNS:-1}
INPUT=$T_OUT/input.txt
reliability_input "$INPUT" 600
# The batch runs this long before the pause, and this much longer than
# the pause and that together: even if the workers went on at full speed
# all through the pause, seconds of work are left when it ends.
BEFORE=1
LEFT=5

# cpu_ticks PID...: the user and system CPU time the processes have used,
# in clock ticks (/proc/PID/stat, fields 14 and 15).
cpu_ticks() {
    local pid total=0 fields
    for pid; do
        fields=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        read -r -a fields <<<"$fields"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# worker_cpu: the CPU ticks of the worker's processes (they do the hashing).
worker_cpu() {
    local kids
    mapfile -t kids < <(children_of "$WORKER")
    cpu_ticks "${kids[@]}"
}

# paused SECONDS RUN: one batch on a worker of two processes; the sink is
# stopped for SECONDS a second into it, then continued.
paused() {
    local secs=$1 run=$2 label n ticks hz before after
    label="sink paused $secs s"
    ((RUNS > 1)) && label+=" (run $run)"
    n=$(iterations_for 600 2 $((BEFORE + secs + LEFT)))
    diag "$label: N=$n: a task takes $(task_seconds "$n") s here"
    tcp_case "paused-${secs}s-$run"
    start_bg sink "$BIN/sink" -b "$R"
    SINK=$LAST_PID
    start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 2
    WORKER=$LAST_PID
    if ! start_batch ventilator "$INPUT" -N "$n" --min-workers 2; then
        not_ok "$label: the batch is announced"
        diag_file "$T_DIR/ventilator.err"
        stop "$VENT" 5; stop "$WORKER" 5; stop "$SINK" 5
        return
    fi
    sleep "$BEFORE"
    if zp_alive "$SINK" && zp_alive "$VENT" && [[ ! -s $T_DIR/sink.out ]]; then
        ok "$label: the batch is running when the sink is stopped"
    else
        not_ok "$label: the batch is running when the sink is stopped"
        diag "sink alive: $(zp_alive "$SINK" && echo yes || echo no)," \
             "ventilator alive: $(zp_alive "$VENT" && echo yes || echo no)," \
             "summary: $(wc -c <"$T_DIR/sink.out") bytes"
    fi
    kill -STOP "$SINK"
    sleep "$secs"
    kill -CONT "$SINK"
    # Still running: the workers go on hashing the batch's tasks after the
    # pause (an idle worker uses next to no CPU). 2 s is also longer than
    # the sink took to abort.
    before=$(worker_cpu)
    sleep 2
    after=$(worker_cpu)
    hz=$(getconf CLK_TCK)
    ticks=$((after - before))
    if zp_alive "$VENT" && ((ticks * 10 >= hz * 2)); then
        ok "$label: the batch is still running when the pause ends"
    else
        not_ok "$label: the batch is still running when the pause ends"
        diag "ventilator alive: $(zp_alive "$VENT" && echo yes || echo no);" \
             "the workers used $ticks ticks of CPU (at $hz a second) in the 2 s after SIGCONT"
    fi
    if zp_alive "$SINK"; then
        ok "$label: the sink is still running 2 s after SIGCONT"
    else
        wait_pid "$SINK" 1
        not_ok "$label: the sink is still running 2 s after SIGCONT"
        diag "it exited with status ${STATUS:-unknown}"
        diag_file "$T_DIR/sink.err" 5
    fi
    finish_pipeline "$label" 0 --input "$INPUT" --iterations "$n" --cache "$REF_CACHE"
    if grep -q 'Assertion failed' "$T_DIR/sink.err"; then
        not_ok "$label: the sink logs no assertion"
        diag "$(grep -m 3 'Assertion failed' "$T_DIR/sink.err")"
    else
        ok "$label: the sink logs no assertion"
    fi
    show_counts "$label" "$T_DIR/sink.out"
}

for secs in $PAUSES; do
    for ((run = 1; run <= RUNS; run++)); do
        paused "$secs" "$run"
    done
done

finish
