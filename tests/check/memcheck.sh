#!/usr/bin/env bash
# tests/check/memcheck.sh - the end-to-end run under valgrind memcheck
# (`make check`; too slow for `make test`).
#
# A CURVE pipeline on loopback -- sink, a worker of two processes and the
# ventilator, every one under valgrind, forked worker processes included --
# runs a small batch of awkward input; then a rogue peer's invalid frames
# hit both servers. Every process's valgrind log must say 0 errors, with
# nothing definitely or indirectly lost. The summary must still be right.

# shellcheck source=../e2e/lib.sh
. "$(dirname "$0")/../e2e/lib.sh"
need_bins

VALGRIND=(valgrind --tool=memcheck --leak-check=full "--show-leak-kinds=definite,indirect"
          "--errors-for-leak-kinds=definite,indirect" --track-fds=no --num-callers=30
          --error-exitcode=99)
ROGUE=${ZP_TOOLS:-$E2E_ROOT/build/tools}/rogue
KEYGEN=$E2E_ROOT/scripts/zpipe-keygen
# valgrind runs code 20 to 50 times slower.
SLOW=$((WAIT * 3))

if ! command -v valgrind >/dev/null 2>&1; then
    not_ok "valgrind is installed (scripts/install-deps installs it)"
    finish
fi

case_dir memcheck
K=$T_DIR/keys
for name in sink vent worker; do
    "$KEYGEN" "$name" "$K" >/dev/null
done
mkdir -p "$T_DIR/vallow" "$T_DIR/sallow"
cp "$K/worker.cert" "$T_DIR/vallow/"
cp "$K/worker.cert" "$K/vent.cert" "$T_DIR/sallow/"
write_bytes "$T_DIR/input.txt" \
    'b"alpha\nbeta\r\n\xff\xfe not utf-8\n\nnul\x00inside\n" + b"x" * 5000 + b"\nlast"'
free_ports 2
T=tcp://127.0.0.1:${PORTS[0]}
R=tcp://127.0.0.1:${PORTS[1]}

start_bg sink "${VALGRIND[@]}" --log-file="$T_DIR/vg-sink.%p.log" \
    "$BIN/sink" -b "$R" --curve-cert "$K/sink.cert" --curve-allow "$T_DIR/sallow"
SINK=$LAST_PID
start_bg worker "${VALGRIND[@]}" --log-file="$T_DIR/vg-worker.%p.log" \
    "$BIN/worker" -p 2 -v "$T" -s "$R" --curve-cert "$K/worker.cert" \
    --curve-ventilator "$K/vent.cert" --curve-sink "$K/sink.cert"
WORKER=$LAST_PID
start_bg ventilator "${VALGRIND[@]}" --log-file="$T_DIR/vg-ventilator.%p.log" \
    "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/input.txt" -N 500 \
    --curve-cert "$K/vent.cert" --curve-allow "$T_DIR/vallow" --curve-sink "$K/sink.cert"
VENT=$LAST_PID
# Hostile bytes too (they cannot get past CURVE, but the refusals run).
if [[ -x $ROGUE ]]; then
    start_bg rogue-sink "$ROGUE" attack "$R" sink 2
    start_bg rogue-vent "$ROGUE" attack "$T" ventilator 2
fi

expect_exit "memcheck: ventilator exits 0" "$VENT" "$SLOW" 0
expect_exit "memcheck: sink exits 0" "$SINK" "$SLOW" 0
check_summary "memcheck: summary checks out" --summary "$T_DIR/sink.out" \
    --input "$T_DIR/input.txt" --iterations 500
stop "$WORKER" 60
check_eq "memcheck: worker exits 0 on SIGTERM" "$STATUS" 0
wait_group_gone "$WORKER" 30

logs=("$T_DIR"/vg-*.log)
if ((${#logs[@]} < 5)); then
    not_ok "memcheck: a valgrind log for every process (sink, ventilator, worker and 2 processes)"
    diag "only ${#logs[@]}: ${logs[*]}"
else
    ok "memcheck: a valgrind log for every process (${#logs[@]})"
fi
for log in "${logs[@]}"; do
    name=$(basename "$log" .log)
    problems=()
    grep -q 'ERROR SUMMARY: 0 errors' "$log" || problems+=("errors")
    grep -Eq 'definitely lost: [1-9]' "$log" && problems+=("definitely lost")
    grep -Eq 'indirectly lost: [1-9]' "$log" && problems+=("indirectly lost")
    if ((${#problems[@]} == 0)); then
        ok "memcheck: $name: no errors, no leaks"
    else
        not_ok "memcheck: $name: ${problems[*]}"
        diag_file "$log" 60
    fi
done

finish
