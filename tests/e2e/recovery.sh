#!/usr/bin/env bash
# tests/e2e/recovery.sh - worker processes and whole workers die, stop, leave
# and join in the middle of a batch: every input still comes out once, with
# the right hash (a zguide pipeline loses what a dead worker held, and cannot
# tell). Every run is checked against hashlib (tests/ref/check.py).
#
#  1. a worker child is kill -9ed every 0.5 s while 1,000 tasks run;
#  2. a whole worker (parent and children) is kill -9ed mid-batch;
#  3. a worker is SIGSTOPped and never continued: its tasks go out again
#     within the heartbeat timeout and the batch ends without it;
#  4. a straggler: beside a worker that holds tasks and never finishes them
#     (stopped, but not taken as dead), the idle one is sent copies of them;
#  5. a worker is SIGSTOPped and continued after its tasks were done
#     elsewhere: its late results are counted as duplicates and dropped;
#  6. SIGTERM to a worker: it hands back what it cannot finish and exits
#     within its --task-timeout, even when starved of CPU;
#  7. a worker that holds tasks past the ventilator's --task-timeout (but
#     keeps heartbeating) has them sent to another;
#  8. a worker joins in the middle of a batch and gets its share.
#
# The work is sized to the machine (lib.sh, iterations_for), on the OpenSSL
# engine unless ZP_E2E_ENGINE says otherwise: the slowest, so the most wall
# time for the least hashlib work in check.py.

E2E_ENGINE=openssl
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

# 600 tasks take one process 12 s: a worker stopped or killed 1 s into a
# batch of 600 leaves the other about 10 s of work, well past the 3 s
# heartbeat timeout that the cases wait for, and the 1 s that case 5 then
# waits before it continues the stopped one; a worker that joins 2.5 s into
# a batch of 400 on one process finds most of it still waiting.
N=$(iterations_for 600 1 12)
diag "N=$N: a task takes $(task_seconds "$N") s here"
INPUT=$T_OUT/input.txt
reliability_input "$INPUT" 1000
head -n 600 "$INPUT" >"$T_OUT/input-600.txt"
head -n 700 "$INPUT" >"$T_OUT/input-700.txt"
head -n 400 "$INPUT" >"$T_OUT/input-400.txt"

# summary_ok LABEL FILE INPUT: check.py on a run's summary.
summary_ok() {
    check_summary "$1: every input once, every hash right (hashlib)" \
        --summary "$2" --input "$3" --iterations "$N" --cache "$REF_CACHE"
    show_counts "$1" "$2"
}

# worker_child PID: the worker process of supervisor PID. A slowed worker's
# busy loop was started before bash exec'd the supervisor, so it is the
# supervisor's child too: $T_DIR/busy.pid names it, and it is left out.
worker_child() {
    local child
    # By what it runs, not by elimination: the busy loop's pid file may not
    # be written yet when this looks, and renicing the loop instead of the
    # worker would leave the worker at full speed.
    for child in $(children_of "$1"); do
        if [[ $(cat "/proc/$child/comm" 2>/dev/null) == worker ]]; then
            echo "$child"
            return 0
        fi
    done
    return 1
}

# starve_child PID: nice 19 for the worker process of supervisor PID (by
# PID), beside the busy loop of its session on its core: it gets about 1.5 %
# of the core. The supervisor keeps its share: it has little to do, but it
# must be able to do it.
starve_child() {
    local child tries=50
    until child=$(worker_child "$1") && [[ -n $child ]]; do
        ((tries-- > 0)) || return 1
        sleep 0.1
    done
    renice -n 19 -p "$child" >/dev/null
}

# stop_worker LABEL PID: SIGTERM, exit 0, nothing of it left.
stop_worker() {
    if stop "$2" 10 && [[ $STATUS == 0 ]]; then
        ok "$1: the worker exits 0 on SIGTERM"
    else
        not_ok "$1: the worker exits 0 on SIGTERM"
        diag "status ${STATUS:-unknown}"
    fi
    if wait_group_gone "$2" 3; then
        ok "$1: none of its processes is left"
    else
        not_ok "$1: none of its processes is left"
        kill -KILL -- "-$2" 2>/dev/null
    fi
}

# start_pinned NAME INPUT [VENTILATOR-ARGS...]: case NAME with a sink, two
# workers of one process each, a on core 0 and b on core 1 (so that stopping
# one takes no CPU from the other), and a ventilator for both on INPUT. PIDs in
# SINK, A, B and VENT; back once the batch runs (see start_batch).
start_pinned() {
    local name=$1 input=$2
    shift 2
    tcp_case "$name"
    start_bg sink "$BIN/sink" -b "$R"
    SINK=$LAST_PID
    start_bg a taskset -c 0 "$BIN/worker" -v "$T" -s "$R" -p 1
    A=$LAST_PID
    start_bg b taskset -c 1 "$BIN/worker" -v "$T" -s "$R" -p 1
    B=$LAST_PID
    start_batch ventilator "$input" -N "$N" --min-workers 2 "$@"
}

# start_fast_and_slow: a sink, a worker `fast` on core 0 and a worker `slow`
# (--task-timeout 2) on core 1 whose process is starved: nice 19 beside a busy
# loop of its session, whose PID is in $T_DIR/busy.pid for the case to kill.
# PIDs in SINK, FAST and SLOW.
start_fast_and_slow() {
    start_bg sink "$BIN/sink" -b "$R"
    SINK=$LAST_PID
    start_bg fast taskset -c 0 "$BIN/worker" -v "$T" -s "$R" -p 1
    FAST=$LAST_PID
    start_bg slow bash -c 'taskset -c 1 bash -c "while :; do :; done" & echo $! >"$1"; shift
                           exec taskset -c 1 "$@"' slow "$T_DIR/busy.pid" \
        "$BIN/worker" -v "$T" -s "$R" -p 1 --task-timeout 2
    SLOW=$LAST_PID
    starve_child "$SLOW"
}

# term_within DESC PID: SIGTERM to the worker PID (started with
# --task-timeout 2), which must exit 0 within that timeout, and a second to
# close its sockets and be reaped (its drain ends at 9/10 of it; on a busy
# machine 2.3 s was once 2.34); DESC names it in the checks ("LABEL: the
# worker"). Without the bound a starved worker takes far longer.
term_within() {
    local desc=$1 pid=$2 termed took
    kill -TERM "$pid"
    termed=$(now_s)
    if wait_pid "$pid" 5; then
        took=$(seconds_between "$termed" "$(now_s)")
        if [[ $STATUS == 0 ]] && at_most "$took" 3; then
            ok "$desc exits 0 within --task-timeout 2, and 1 s to close ($took s)"
        else
            not_ok "$desc exits 0 within --task-timeout 2, and 1 s to close"
            diag "status $STATUS after $took s"
            diag_file "$T_DIR/${T_NAME[$pid]}.err"
        fi
    else
        not_ok "$desc exits within --task-timeout 2"
        stop "$pid" 1
    fi
}

# --------------------------------------------------------------- 1. child kills
tcp_case child-kills
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 2
WORKER=$LAST_PID
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$INPUT" -N "$N" --min-workers 2
VENT=$LAST_PID
kills=0
# Until the batch is done (at most 180 s): every 0.5 s, one of the worker's
# processes (found by parent PID), picked at random, gets SIGKILL.
for ((tick = 0; tick < 360; tick++)); do
    sleep 0.5
    zp_alive "$VENT" || break
    mapfile -t children < <(children_of "$WORKER")
    ((${#children[@]})) || continue
    victim=${children[RANDOM % ${#children[@]}]}
    kill -KILL "$victim" 2>/dev/null && kills=$((kills + 1))
done
diag "$kills worker processes killed"
if ((kills >= 4)); then
    ok "child kills: worker processes were killed while the batch ran ($kills)"
else
    not_ok "child kills: worker processes were killed while the batch ran"
    diag "only $kills kills: the batch was over too soon to test anything"
fi
expect_exit "child kills: the ventilator exits 0 (the sink has everything)" "$VENT" 30 0
expect_exit "child kills: the sink exits 0" "$SINK" 15 0
summary_ok "child kills" "$T_DIR/sink.out" "$INPUT"
restarts=$(json_field "$T_DIR/sink.out" worker_restarts)
if [[ -n $restarts ]] && ((restarts >= 1 && restarts <= kills)); then
    ok "child kills: worker_restarts counts the restarts ($restarts of $kills kills)"
else
    not_ok "child kills: worker_restarts counts the restarts"
    diag "worker_restarts is '${restarts}', $kills kills"
fi
n=$(grep -c 'restarting it' "$T_DIR/worker.err")
check_eq "child kills: the supervisor restarted every killed process" "$n" "$kills"
stop_worker "child kills" "$WORKER"

# --------------------------------------------------------------- 2. a whole worker
tcp_case whole-worker-killed
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_bg survivor "$BIN/worker" -v "$T" -s "$R" -p 1
SURVIVOR=$LAST_PID
start_bg victim "$BIN/worker" -v "$T" -s "$R" -p 2
VICTIM=$LAST_PID
# All three processes join before dispatch, so the victim holds tasks.
if start_batch ventilator "$T_OUT/input-600.txt" -N "$N" --min-workers 3; then
    sleep 1
    if zp_alive "$VENT"; then
        ok "whole worker: the batch is running when the victim is killed"
    else
        not_ok "whole worker: the batch is running when the victim is killed"
    fi
    { kill -KILL -- "-$VICTIM"; wait_pid "$VICTIM" 5; } 2>/dev/null
else
    not_ok "whole worker: the batch started"
fi
expect_exit "whole worker: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "whole worker: the sink exits 0" "$SINK" 15 0
summary_ok "whole worker" "$T_DIR/sink.out" "$T_OUT/input-600.txt"
check "whole worker: the ventilator saw the victim's processes go silent" \
    grep -q 'went silent' "$T_DIR/ventilator.err"
stop_worker "whole worker" "$SURVIVOR"

# --------------------------------------------------------------- 3. SIGSTOP
start_pinned stopped-for-good "$T_OUT/input-600.txt"
sleep 1
mapfile -t b_procs < <(children_of "$B")
kill -STOP "$B" "${b_procs[@]}"
stopped=$(now_s)
if wait_for_line "$T_DIR/ventilator.err" "worker [^ ]*/${b_procs[0]:-none} went silent" 10; then
    detected=$(seconds_between "$stopped" "$(now_s)")
    diag "B's tasks went out again ${detected} s after SIGSTOP (heartbeat timeout 3 s)"
    if at_most "$detected" 3.6; then
        ok "SIGSTOP: B's tasks go out again within the 3 s heartbeat timeout (${detected} s)"
    else
        not_ok "SIGSTOP: B's tasks go out again within the 3 s heartbeat timeout"
        diag "${detected} s (3 s plus at most 0.6 s for the timer and this poll)"
    fi
else
    not_ok "SIGSTOP: the ventilator noticed B went silent"
fi
expect_exit "SIGSTOP: the ventilator exits 0 with B still stopped" "$VENT" "$WAIT" 0
expect_exit "SIGSTOP: the sink exits 0" "$SINK" 15 0
summary_ok "SIGSTOP" "$T_DIR/sink.out" "$T_OUT/input-600.txt"
# That it completed with B still stopped is the proof it did not wait for
# B; how long it took is for the reader (speed belongs to make bench).
diag "SIGSTOP: the batch took $(json_field "$T_DIR/sink.out" totaltime_in_s) s"
kill -CONT "$B" "${b_procs[@]}" 2>/dev/null
stop "$A" 10
stop "$B" 10

# --------------------------------------------------------------- 4. straggler
# A worker that holds tasks and never finishes them, but is not taken as
# dead: SIGSTOPped, beside a ventilator whose --heartbeat-timeout and
# --task-timeout are an hour. Nothing but straggler copies can end the batch
# then: when nothing waits, the idle worker A must be sent copies of what
# the stopped one holds. The batch ending proves it; the ventilator's debug
# log and the summary show the copies. (A clock would prove less: how much
# later the batch would end without copies depends on the machine's load.)
tcp_case straggler
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_bg a "$BIN/worker" -v "$T" -s "$R" -p 1
A=$LAST_PID
start_bg held "$BIN/worker" -v "$T" -s "$R" -p 1
HELD=$LAST_PID
start_batch ventilator "$T_OUT/input-600.txt" -N "$N" \
    --min-workers 2 --heartbeat-timeout 3600000 --task-timeout 3600 --verbose
sleep 1
mapfile -t held_procs < <(children_of "$HELD")
kill -STOP "$HELD" "${held_procs[@]}"
expect_exit "straggler: the ventilator exits 0 while a worker holds tasks, stopped" \
    "$VENT" "$WAIT" 0
expect_exit "straggler: the sink exits 0" "$SINK" 15 0
summary_ok "straggler" "$T_DIR/sink.out" "$T_OUT/input-600.txt"
a_pid=$(children_of "$A" | head -n1)
check "straggler: A was sent copies of the stopped worker's tasks" \
    grep -qE "sent [0-9]+ straggler copies to [^ ]*/${a_pid:-none}\b" "$T_DIR/ventilator.err"
check "straggler: the summary counts the copies as redelivered" \
    jq -e '.redelivered >= 1' "$T_DIR/sink.out"
check "straggler: the stopped worker was never taken as dead" \
    bash -c "! grep -q 'went silent' '$T_DIR/ventilator.err'"
kill -CONT "$HELD" "${held_procs[@]}" 2>/dev/null
stop "$A" 10
stop "$HELD" 10

# --------------------------------------------------------------- 5. SIGSTOP, SIGCONT
start_pinned stopped-and-continued "$T_OUT/input-700.txt"
sleep 1
mapfile -t b_procs < <(children_of "$B")
kill -STOP "$B" "${b_procs[@]}"
if wait_for_line "$T_DIR/ventilator.err" "worker [^ ]*/${b_procs[0]:-none} went silent" 10; then
    # B's tasks are A's now; give A a moment to finish them, then let B go on
    # with its copies: whatever it delivers now comes twice.
    sleep 1
    kill -CONT "$B" "${b_procs[@]}"
    if zp_alive "$VENT"; then
        ok "continued: B goes on while the batch still runs"
    else
        not_ok "continued: B goes on while the batch still runs"
        diag "the batch was over already; make it longer"
    fi
else
    kill -CONT "$B" "${b_procs[@]}"
    not_ok "continued: the ventilator noticed B went silent"
fi
expect_exit "continued: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "continued: the sink exits 0" "$SINK" 15 0
summary_ok "continued" "$T_DIR/sink.out" "$T_OUT/input-700.txt"
dups=$(json_field "$T_DIR/sink.out" duplicates)
if [[ -n $dups ]] && ((dups >= 1)); then
    ok "continued: B's late results are counted as duplicates and dropped ($dups)"
else
    not_ok "continued: B's late results are counted as duplicates and dropped"
    diag "duplicates is '${dups}'"
fi
# B's connections timed out while it was stopped (ZeroMQ heartbeats); it
# came back on new ones.
joins=$(grep -c "worker [^ ]*/${b_procs[0]:-none} joined" "$T_DIR/ventilator.err")
if ((joins >= 2)); then
    ok "continued: B came back to the ventilator after SIGCONT"
else
    not_ok "continued: B came back to the ventilator after SIGCONT"
    diag "it joined $joins times"
fi
stop_worker "continued A" "$A"
stop_worker "continued B" "$B"

# --------------------------------------------------------------- 6. SIGTERM
# First the hand-back itself, with chains far too long to finish: a worker
# holding one per lane of its engine gets SIGTERM, hands them back within
# its --task-timeout and the ventilator has them to send again. (Not run to
# the end: no hashes.)
tcp_case hand-back
measure_engine
held=$CHAIN_LANES
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 1 --task-timeout 2
WORKER=$LAST_PID
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -n "$held" -N 1000000000
VENT=$LAST_PID
wait_for_line "$T_DIR/ventilator.err" "batch [0-9a-f]+: $held tasks" 20
sleep 0.5
term_within "hand-back: the worker" "$WORKER"
check "hand-back: it handed its $held unfinished tasks back" \
    grep -q "stopping: handing $held unfinished tasks back" "$T_DIR/worker.err"
check "hand-back: the ventilator has all $held to send again" \
    grep -Eq "left; $held of its tasks go to others" "$T_DIR/ventilator.err"
stop "$VENT" 5
check_eq "hand-back: the ventilator, stopped unfinished, exits 75" "$STATUS" 75
stop "$SINK" 5
check_eq "hand-back: the sink, stopped unfinished, exits 75" "$STATUS" 75

# Then under the worst conditions: the slow worker's process runs at a
# fraction of its speed (nice 19 beside a busy loop in the same session, so
# the same scheduler group, on core 1). It gets SIGTERM with its first chains far from
# done; whether it manages to hand them back or is killed at 9/10 of its
# --task-timeout (it gets a few milliseconds of CPU a second), it is gone
# within the timeout and nothing is lost. (A worker that can finish what it
# runs does so: see the late joiner.)
tcp_case graceful-stop
start_fast_and_slow
start_batch ventilator "$T_OUT/input-400.txt" -N "$N" --min-workers 2
sleep 0.3
term_within "SIGTERM: the slow worker" "$SLOW"
kill -KILL "$(cat "$T_DIR/busy.pid" 2>/dev/null)" 2>/dev/null
expect_exit "SIGTERM: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "SIGTERM: the sink exits 0" "$SINK" 15 0
summary_ok "SIGTERM" "$T_DIR/sink.out" "$T_OUT/input-400.txt"
diag "how its tasks came back:" \
    "$(cat "$T_DIR/slow.err" "$T_DIR/ventilator.err" \
       | grep -E 'handing|handed back|left;|went silent' | cut -c1-150)"
stdout_empty "SIGTERM: the worker's processes log to stderr, not stdout" "$T_DIR/slow.out"
check "SIGTERM: the ventilator heard the slow worker drain" \
    grep -q 'is stopping' "$T_DIR/ventilator.err"
stop_worker "SIGTERM" "$FAST"

# --------------------------------------------------------------- 7. leases
# A worker starved of CPU keeps heartbeating but holds its tasks far longer
# than the ventilator's --task-timeout 1: they are sent to the other worker
# while the batch goes on (and whichever result comes first wins).
tcp_case lease
start_fast_and_slow
start_batch ventilator "$T_OUT/input-400.txt" -N "$N" --min-workers 2 --task-timeout 1
if wait_for_line "$T_DIR/ventilator.err" 'held past --task-timeout' 10 && zp_alive "$VENT"; then
    ok "lease: tasks held past --task-timeout go out again while the batch runs"
else
    not_ok "lease: tasks held past --task-timeout go out again while the batch runs"
fi
expect_exit "lease: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "lease: the sink exits 0" "$SINK" 15 0
kill -KILL "$(cat "$T_DIR/busy.pid" 2>/dev/null)" 2>/dev/null
summary_ok "lease" "$T_DIR/sink.out" "$T_OUT/input-400.txt"
stop "$SLOW" 5
stop "$FAST" 5

# --------------------------------------------------------------- 8. late joiner
# Ventilator first, the sink last, a second worker half-way through.
tcp_case late-joiner
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$T_OUT/input-400.txt" -N "$N"
VENT=$LAST_PID
sleep 0.3
start_bg first taskset -c 0 "$BIN/worker" -v "$T" -s "$R" -p 1
FIRST=$LAST_PID
sleep 0.3
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
wait_for_line "$T_DIR/ventilator.err" 'batch [0-9a-f]+: 400 tasks' 20
sleep 1.5
start_bg second taskset -c 1 "$BIN/worker" -v "$T" -s "$R" -p 1
SECOND=$LAST_PID
# Once the second one works, the first is stopped: it finishes what it runs
# (short tasks, --task-timeout 60) and leaves the rest to the second.
sleep 0.3
second_pid=$(children_of "$SECOND" | head -n1)
if wait_for_line "$T_DIR/ventilator.err" "worker [^ ]*/${second_pid:-none} joined" 10 \
&& sleep 0.5 && zp_alive "$VENT"; then
    kill -TERM "$FIRST"
    if wait_pid "$FIRST" 10 && [[ $STATUS == 0 ]]; then
        ok "late joiner: the first worker, stopped mid-batch, exits 0"
    else
        not_ok "late joiner: the first worker, stopped mid-batch, exits 0"
        diag "status ${STATUS:-still running}"
    fi
    if grep -q 'handing' "$T_DIR/first.err"; then
        not_ok "late joiner: the first worker finished what it ran instead of handing it back"
        diag_file "$T_DIR/first.err" 5
    else
        ok "late joiner: the first worker finished what it ran instead of handing it back"
    fi
else
    not_ok "late joiner: the second worker joined while the batch ran"
fi
expect_exit "late joiner: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "late joiner: the sink exits 0" "$SINK" 15 0
summary_ok "late joiner" "$T_DIR/sink.out" "$T_OUT/input-400.txt"
got=$(jq -r --argjson pid "${second_pid:-0}" '[.workers[] | select(.pid == $pid) | .tasks] | add // 0' \
      "$T_DIR/sink.out" 2>/dev/null)
if [[ -n $got ]] && ((got > 0)); then
    ok "late joiner: the worker that joined mid-batch did some of it ($got tasks)"
else
    not_ok "late joiner: the worker that joined mid-batch did some of it"
    diag "pid ${second_pid:-?} did ${got:-?} tasks"
fi
stop_worker "late joiner second" "$SECOND"

finish
