#!/usr/bin/env bash
# tests/sim/mutants.sh - does the simulator find issue 12's failures by itself?
#
#   tests/sim/mutants.sh [SEEDS]
#
# Each mutant puts one of the bugs issue 12 found back into a copy of
# ventilator/core.c (or, for failure 6, runs the worker model as the worker
# was before its fix), builds the simulator against it and runs SEEDS
# random schedules (default 2000; no named scenario). A mutant passes when
# some seed breaks an invariant; the first seeds that did are printed, so
# that `build/sim/sim --seed N --trace` shows how. Run from the top of the
# tree after `make tests`. Exit status 1 if any mutant went unnoticed.

set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

seeds=${1:-2000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cflags=$(make -s -f - print-cflags <<'EOF'
include Makefile
print-cflags:
	@echo $(ALL_CFLAGS)
EOF
)
libs=$(pkg-config --libs libzmq libczmq libcrypto jansson libmicrohttpd)
shared=$(ls build/shared/*.o)

pass=0 fail=0

# mutant NAME FAILURE FROM TO [SIM-ARGS]: core.c with FROM replaced by TO
mutant() {
    local name=$1 failure=$2 from=$3 to=$4
    shift 4
    local dir=$tmp/$name
    mkdir -p "$dir/ventilator"
    cp ventilator/*.h "$dir/ventilator/"
    if ! FROM=$from TO=$to python3 - ventilator/core.c "$dir/ventilator/core.c" <<'EOF'
import os, sys
text = open(sys.argv[1]).read()
if os.environ["FROM"] not in text:
    sys.exit(1)
open(sys.argv[2], "w").write(text.replace(os.environ["FROM"], os.environ["TO"], 1))
EOF
    then
        echo "not ok - $name: the code to mutate is not in ventilator/core.c any more"
        fail=$((fail + 1))
        return
    fi
    mkdir -p "$dir/tests/sim"
    cp tests/sim/sim.c "$dir/tests/sim/"
    # shellcheck disable=SC2086
    if ! cc $cflags -Iventilator -o "$dir/sim" "$dir/tests/sim/sim.c" "$dir/ventilator/core.c" \
            ventilator/ledger.c $shared $libs 2>"$dir/cc.log"; then
        echo "not ok - $name: does not build"
        sed 's/^/#   /' "$dir/cc.log" | head -n 20
        fail=$((fail + 1))
        return
    fi
    local out
    out=$("$dir/sim" --seeds "0-$((seeds - 1))" "$@")
    local found
    found=$(grep -c '^seed ' <<<"$out")
    if ((found > 0)); then
        echo "ok - $name (failure $failure): $found of $seeds schedules broke an invariant," \
             "first: $(grep '^seed ' <<<"$out" | sort -t' ' -k2n | head -n 3 | cut -d: -f1 \
                       | tr '\n' ' ')"
        grep '^seed ' <<<"$out" | sort -t' ' -k2n | head -n 1 | sed 's/^/#   /'
        pass=$((pass + 1))
    else
        echo "not ok - $name (failure $failure): no schedule noticed it"
        fail=$((fail + 1))
    fi
}

mutant loss-by-count "2 and 3" \
    'if ((ack->flags & ZP_ACK_SNAPSHOT) && !(ack->flags & ZP_ACK_COMPLETE))
        s_on_snapshot (self, message);' \
    '(void) s_on_snapshot;'

mutant no-credit-cap 4 \
    'if (allowed > earned)
        allowed = earned;' \
    '(void) earned;'

mutant copies-of-busy-holders 5 \
    'worker->progress_us < since_us' \
    'worker->progress_us <= self->now'

# Failure 6 was the worker's: READY at its heartbeat only, not when a
# connection comes up. The core is as it is; the worker model goes back.
mutant ready-at-heartbeat 6 'STRAGGLER_FACTOR 1.5' 'STRAGGLER_FACTOR 1.5' --ready-at-heartbeat

mutant no-idle-copies "found by the simulator" \
    ': STRAGGLER_IDLE_US;' ': INT64_MAX / 2;'

echo "$pass passed, $fail failed"
((fail == 0))
