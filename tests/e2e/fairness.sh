#!/usr/bin/env bash
# tests/e2e/fairness.sh - the default-like workload (16 random UUIDv4 strings)
# on two worker processes: both get their share, the summary's workers are the
# real processes (finish_pipeline also checks that SIGTERM to the worker stops
# both of them).

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

N=200000
case_dir uuids-two-processes
free_ports 2
WORKER_ARGS=(-p 2)
# --min-workers 2: dispatch waits for both processes, so neither gets a head start.
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -n 16 -N "$N" --min-workers 2

# The worker's processes, while they still run: every pid the sink reports must
# be one of them (same process group as the worker we started).
if wait_pid "$VENT" "$WAIT"; then
    pids=$(jq -r '.workers[]?.pid' "$T_DIR/sink.out" 2>/dev/null)
    bad=
    for pid in $pids; do
        pgrp=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f3)
        [[ $pgrp == "$WORKER" ]] || bad+=" $pid(pgrp ${pgrp:-gone})"
    done
    if [[ -n $pids && -z $bad ]]; then
        ok "workers in the summary are the worker's processes: ${pids//$'\n'/ }"
    else
        not_ok "workers in the summary are the worker's processes"
        diag "worker pid (and process group) $WORKER; not in it:${bad:- (no pids in summary)}"
    fi
    hosts=$(jq -r '[.workers[]?.host] | unique | join(",")' "$T_DIR/sink.out" 2>/dev/null)
    check_eq "workers' host is this host" "$hosts" "$(uname -n)"
fi
finish_pipeline "16 uuids, worker -p 2" 0 --uuids 16 --iterations "$N" --workers 2 --worker-tasks 7..9

finish
