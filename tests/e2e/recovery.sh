#!/usr/bin/env bash
# tests/e2e/recovery.sh - a worker dies in the middle of a batch (SIGKILL: no
# goodbye, no results): the tasks it held go to the other worker and the batch
# still completes with every hash right (zguide's pipeline loses them).

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

N=1000000
case_dir worker-killed
free_ports 2
T=tcp://127.0.0.1:${PORTS[0]} R=tcp://127.0.0.1:${PORTS[1]}
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_bg survivor "$BIN/worker" -v "$T" -s "$R" -p 1
SURVIVOR=$LAST_PID
start_bg victim "$BIN/worker" -v "$T" -s "$R" -p 1
VICTIM=$LAST_PID
# Both must have joined before dispatch, so the victim holds tasks when it dies.
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -n 16 -N "$N" --min-workers 2
VENT=$LAST_PID

# A task of this size takes a couple of seconds per lane: 1.2 s in, the
# victim is in the middle of its first tasks. (If the machine is so fast that
# it is done, the test is weaker, not wrong.)
sleep 1.2
if zp_alive "$VENT"; then
    ok "the batch is still running when the victim is killed"
else
    not_ok "the batch is still running when the victim is killed"
    diag "the ventilator already exited; make the tasks longer (N=$N)"
fi
# (bash's "Killed" notice for this deliberate kill goes to /dev/null.)
{
    kill -KILL -- "-$VICTIM"
    wait_pid "$VICTIM" 5
} 2>/dev/null

if expect_exit "ventilator exits 0: the batch completes without the victim" "$VENT" "$WAIT" 0; then
    cp "$T_DIR/sink.out" "$T_DIR/summary-when-ventilator-exited.json"
fi
expect_exit "sink exits 0" "$SINK" 15 0
check_summary "summary checks out: every task done once, by someone" \
    --summary "$T_DIR/sink.out" --uuids 16 --iterations "$N"
if stop "$SURVIVOR" 10 && [[ $STATUS == 0 ]]; then
    ok "the surviving worker exits 0 on SIGTERM"
else
    not_ok "the surviving worker exits 0 on SIGTERM"
    diag "status ${STATUS:-unknown}"
    diag_file "$T_DIR/survivor.err"
fi

finish
