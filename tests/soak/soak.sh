#!/usr/bin/env bash
# tests/soak/soak.sh - `make soak`: batches of 100,000 tasks, one after the
# other for 10 minutes, while every stage is killed at random: worker
# processes (kill -9), whole workers (kill -9 of the group, or SIGTERM),
# the sink (kill -9 or SIGTERM; restarted on its journal) and the ventilator
# (kill -9; restarted with --resume). Every batch's summary is checked against
# hashlib (tests/ref/check.py); nothing may be lost. Prints what it did and the
# counts; exits 1 if any batch failed. Not part of `make test`.
#
#   ZP_SOAK_SECONDS     how long to go on starting batches (600)
#   ZP_SOAK_TASKS       tasks per batch (100000)
#   ZP_SOAK_ITERATIONS  iterations per task (200: the pipeline's messaging, not
#                       the hash, is what a soak should wear out)
#   ZP_SOAK_BATCH_LIMIT seconds one batch may take before it counts as stuck (600)
#
# Processes are started and stopped by PID only; every wait is bounded.

set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/scripts/lib.sh"
BIN=${ZP_BIN:-$ROOT/bin}
SECONDS_TOTAL=${ZP_SOAK_SECONDS:-600}
TASKS=${ZP_SOAK_TASKS:-100000}
N=${ZP_SOAK_ITERATIONS:-200}
BATCH_LIMIT=${ZP_SOAK_BATCH_LIMIT:-600}
OUT=$ROOT/tests/out/soak
rm -rf "$OUT"
mkdir -p "$OUT"
INPUT=$OUT/input.txt
CACHE=$ROOT/tests/out/refcache.txt

for b in ventilator worker sink; do
    [[ -x $BIN/$b ]] || { echo "soak: $BIN/$b is missing (make all)" >&2; exit 1; }
done
python3 -c 'import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(f"soak-{i:06d}\n")' "$INPUT" "$TASKS"

say() { echo "soak: $*"; }

declare -A KILLS=()
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    done
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# spawn VAR NAME CMD...: start CMD in its own process group, logs in the
# batch directory, PID into VAR.
spawn() {
    local var=$1 name=$2
    shift 2
    setsid "$@" </dev/null >>"$DIR/$name.out" 2>>"$DIR/$name.err" &
    printf -v "$var" '%s' "$!"
    PIDS+=("$!")
}

# gone PID: true once PID has exited; its status is then in ZP_STATUS.
gone() {
    zp_alive "$1" && return 1
    zp_wait_pid "$1" 1
}

batches=0 failed=0 started=$(date +%s)
sum_dup=0 sum_red=0 sum_res=0 sum_lost=0 sum_tasks=0
while (($(date +%s) - started < SECONDS_TOTAL)); do
    batches=$((batches + 1))
    DIR=$OUT/batch-$batches
    mkdir -p "$DIR"
    read -r tp rp < <(zp_free_ports 2)
    T=tcp://127.0.0.1:$tp R=tcp://127.0.0.1:$rp
    J=$DIR/journal.ndjson
    sinks=0
    start_sink() {
        sinks=$((sinks + 1))
        spawn SINK "sink-$sinks" "$BIN/sink" -q -b "$R" --journal "$J" --fsync second \
            -o "$DIR/summary-$sinks.json"
    }
    start_worker() {   # start_worker VAR PROCESSES
        spawn "$1" "worker-$1" "$BIN/worker" -q -v "$T" -s "$R" -p "$2" --task-timeout 10
    }
    start_sink
    start_worker W1 2
    start_worker W2 1
    spawn VENT ventilator "$BIN/ventilator" -q -b "$T" -s "$R" -i "$INPUT" -N "$N"
    batch_start=$(date +%s)
    done_ok=
    while (($(date +%s) - batch_start < BATCH_LIMIT)); do
        sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.5 + r % 150 / 100 }')"
        # The batch is done when a sink exits 0: it wrote the summary.
        if gone "$SINK"; then
            if [[ $ZP_STATUS == 0 ]]; then done_ok=1; break; fi
            start_sink
        fi
        gone "$VENT" && spawn VENT ventilator "$BIN/ventilator" -q -b "$T" -s "$R" -i "$INPUT" \
            -N "$N" --resume
        gone "$W1" && start_worker W1 2
        gone "$W2" && start_worker W2 1
        case $((RANDOM % 10)) in
            0 | 1 | 2)
                kind="worker process, kill -9"
                mapfile -t kids < <(ps -o pid=,stat= --ppid "$W1" --ppid "$W2" 2>/dev/null \
                                    | awk '$2 !~ /^Z/ { print $1 }')
                ((${#kids[@]})) && kill -KILL "${kids[RANDOM % ${#kids[@]}]}" ;;
            3)
                kind="whole worker, kill -9"
                kill -KILL -- "-$W1" 2>/dev/null ;;
            4)
                kind="whole worker, SIGTERM"
                kill -TERM "$W2" 2>/dev/null ;;
            5 | 6)
                kind="sink, kill -9"
                kill -KILL "$SINK" 2>/dev/null ;;
            7)
                kind="sink, SIGTERM"
                kill -TERM "$SINK" 2>/dev/null ;;
            *)
                kind="ventilator, kill -9"
                kill -KILL "$VENT" 2>/dev/null ;;
        esac
        KILLS[$kind]=$((${KILLS[$kind]:-0} + 1))
    done
    took=$(($(date +%s) - batch_start))
    for pid in "$VENT" "$W1" "$W2" "$SINK"; do
        zp_stop "$pid" 15 >/dev/null 2>&1
        kill -KILL -- "-$pid" 2>/dev/null
    done
    summary=$(grep -l '"complete": true' "$DIR"/summary-*.json 2>/dev/null | tail -n1)
    if [[ -z $done_ok || -z $summary ]]; then
        say "batch $batches: FAILED: not done after ${took} s (logs in ${DIR#"$ROOT"/})"
        failed=$((failed + 1))
        continue
    fi
    if ! out=$(python3 "$ROOT/tests/ref/check.py" --input "$INPUT" --iterations "$N" \
                   --summary "$summary" --cache "$CACHE" 2>&1); then
        say "batch $batches: FAILED the reference check:"
        printf '%s\n' "$out" | tail -n 10 | sed 's/^/    /'
        failed=$((failed + 1))
        continue
    fi
    read -r t d r w l < <(jq -r '[.tasks, .duplicates, .redelivered, .worker_restarts, .lost] | @tsv' \
                               "$summary")
    sum_tasks=$((sum_tasks + t)) sum_dup=$((sum_dup + d)) sum_red=$((sum_red + r))
    sum_res=$((sum_res + w)) sum_lost=$((sum_lost + l))
    say "batch $batches: $t tasks in ${took} s, $sinks sink starts; every hash right;" \
        "duplicates $d, redelivered $r, worker_restarts $w, lost $l"
done 2>>"$OUT/driver.err"    # bash's notices of the processes killed on purpose

say "done: $batches batches of $TASKS tasks ($N iterations) in $(($(date +%s) - started)) s"
for kind in "${!KILLS[@]}"; do
    printf 'soak:   %4d x %s\n' "${KILLS[$kind]}" "$kind"
done
say "tasks checked $sum_tasks; duplicates $sum_dup, redelivered $sum_red," \
    "worker_restarts $sum_res, lost $sum_lost; failed batches $failed"
((failed == 0 && sum_lost == 0))
