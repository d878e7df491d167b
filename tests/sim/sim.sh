#!/usr/bin/env bash
# tests/sim/sim.sh - the fault simulator as a suite of `make test` (TAP).
#
# Issue 12's eight failures as named scenarios, then ZP_SIM_SEEDS random
# schedules (default 10000, seeds from 0) over two processes. Every line of
# a failing seed is shown; `build/sim/sim --seed N --trace` replays it.
# `make sim SEEDS=1000000` is the long run; tests/sim/mutants.sh shows that
# the schedules find the failures when their fixes are taken out.

set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

sim=${ZP_BUILD:-build}/sim/sim
seeds=${ZP_SIM_SEEDS:-10000}
n=0

if [[ ! -x $sim ]]; then
    echo "not ok 1 - $sim is not built (make tests)"
    exit 1
fi

scenarios=$("$sim" --scenario all)
scenarios_rc=$?
while IFS= read -r line; do
    n=$((n + 1))
    case $line in
        "ok "*) echo "ok $n - ${line#ok }" ;;
        *) echo "not ok $n - ${line#FAIL }" ;;
    esac
done <<<"$scenarios"
if ((scenarios_rc != 0)) && ! grep -q '^FAIL' <<<"$scenarios"; then
    n=$((n + 1))
    echo "not ok $n - the scenarios ended with status $scenarios_rc"
fi

out=$("$sim" --seeds "0-$((seeds - 1))" --jobs 2)
rc=$?
n=$((n + 1))
summary=$(tail -n 1 <<<"$out")
if ((rc == 0)); then
    echo "ok $n - $summary"
else
    echo "not ok $n - $summary"
    grep '^seed ' <<<"$out" | head -n 20 | sed 's/^/#   /'
fi
