#!/usr/bin/env bash
# tests/soak/pause.sh - `make soak-pause`: the sink is paused (SIGSTOP) in the
# middle of a batch for 4, 10 and 30 s, five times each, and continued
# (SIGCONT); every time it must go on, complete the batch with every hash
# right and exit 0 (issue 12, item 1: libzmq 4.3.4 aborted it). It runs the
# cases of tests/e2e/pause.sh, which `make test` runs once at 4 and 10 s,
# with longer pauses and repeats. About 10 minutes; not part of `make test`.
#
#   ZP_SOAK_PAUSES  the pauses, in seconds ("4 10 30")
#   ZP_SOAK_RUNS    how many times each (5)
#   ZP_SOAK_LIMIT   seconds the whole run may take (3600)
#
# Prints the suite's TAP lines, one line per pause (how many runs passed
# every check), then "N passed, N failed"; exits 1 if any check failed.
# Logs: tests/out/pause/ (each case's stages), tests/out/soak-pause.log.

set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PAUSES=${ZP_SOAK_PAUSES:-4 10 30}
RUNS=${ZP_SOAK_RUNS:-5}
LIMIT=${ZP_SOAK_LIMIT:-3600}
LOG=$ROOT/tests/out/soak-pause.log
mkdir -p "$ROOT/tests/out"

ZP_PAUSES=$PAUSES ZP_PAUSE_RUNS=$RUNS \
    timeout -k 30 "$LIMIT" bash "$ROOT/tests/e2e/pause.sh" </dev/null 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}

passed=$(grep -c '^ok [0-9]' "$LOG")
failed=$(grep -c '^not ok [0-9]' "$LOG")
for secs in $PAUSES; do
    good=0
    for ((run = 1; run <= RUNS; run++)); do
        label="sink paused $secs s"
        ((RUNS > 1)) && label+=" (run $run)"
        if grep -Fq -- "- $label: " "$LOG" && ! grep -Fq -- "not ok" <(grep -F -- "- $label: " "$LOG")
        then
            good=$((good + 1))
        fi
    done
    echo "soak: sink paused $secs s: $good of $RUNS runs passed every check"
done
if ((rc != 0 && failed == 0)); then
    echo "soak: the suite exited with status $rc without a failing check (time limit ${LIMIT} s?)"
    failed=1
fi
echo "$passed passed, $failed failed"
((failed == 0))
