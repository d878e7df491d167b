#!/usr/bin/env bash
# tests/e2e/pipeline.sh - the three stages on real loopback sockets, with
# awkward input, in every start order, over ipc://, from stdin, into a file,
# two batches through one sink, verbose logging, an empty batch, and each hash
# engine this CPU can run. Every summary is checked against tests/ref/check.py
# (hashlib).

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

N=1000
CORPUS=$T_OUT/corpus.txt
make_corpus "$CORPUS"

# 1. Awkward input, sink first, worker, ventilator last.
case_dir corpus
free_ports 2
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -i "$CORPUS" -N "$N"
finish_pipeline "corpus" 0 --input "$CORPUS" --iterations "$N"

# 2, 3. The other start orders: nobody may depend on who came first.
for order in "ventilator worker sink" "worker ventilator sink"; do
    label="order ${order// //}"
    case_dir "order-${order// /-}"
    free_ports 2
    start_pipeline "$order" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
        -i "$CORPUS" -N "$N"
    finish_pipeline "$label" 0 --input "$CORPUS" --iterations "$N"
done

# 4. ipc:// endpoints. Socket paths are short-lived and must stay under the
# 108-byte limit of sun_path, so they go to a fresh directory under /tmp.
case_dir ipc
IPC_DIR=$(mktemp -d /tmp/zpipe-e2e.XXXXXX)
trap 'stop_all; rm -rf "$IPC_DIR"' EXIT
start_pipeline "sink worker ventilator" "ipc://$IPC_DIR/tasks" "ipc://$IPC_DIR/results" \
    -i "$CORPUS" -N "$N"
finish_pipeline "ipc" 0 --input "$CORPUS" --iterations "$N"

# 5. Input from stdin (-i -), and the summary into a file (-o).
case_dir stdin-and-output-file
write_bytes "$T_DIR/input.txt" 'b"first\nsecond\r\n\n\xce\xb1\xce\xb2\n\xff\xfe\nlast without LF"'
free_ports 2
SINK_ARGS=(-o "$T_DIR/summary.json")
STDIN=$T_DIR/input.txt start_pipeline "sink worker ventilator" \
    "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" -i - -N 7
SUMMARY=$T_DIR/summary.json finish_pipeline "stdin" 0 --input "$T_DIR/input.txt" --iterations 7
stdout_empty "stdin: with -o, the sink prints nothing on stdout" "$T_DIR/sink.out"
SINK_ARGS=()

# 6. Two batches in a row through one sink (--batches 2) and one worker: the
# sink prints one summary per batch, then exits 0; the worker serves both.
tcp_case two-batches
write_lines "$T_DIR/first.txt" one two three
write_lines "$T_DIR/second.txt" four five six seven
start_bg sink "$BIN/sink" -b "$R" --batches 2
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 1
WORKER=$LAST_PID
start_bg ventilator.1 "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/first.txt" -N 20
expect_exit "two batches: the first ventilator exits 0" "$LAST_PID" "$WAIT" 0
start_bg ventilator.2 "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/second.txt" -N 30
expect_exit "two batches: the second ventilator exits 0" "$LAST_PID" "$WAIT" 0
expect_exit "two batches: sink --batches 2 exits 0 after the second" "$SINK" 15 0
if jq -c . "$T_DIR/sink.out" >"$T_DIR/summaries.jsonl" 2>"$T_DIR/jq.err" \
        && [[ $(wc -l <"$T_DIR/summaries.jsonl") == 2 ]]; then
    ok "two batches: the sink printed two JSON summaries"
    sed -n 1p "$T_DIR/summaries.jsonl" >"$T_DIR/summary-1.json"
    sed -n 2p "$T_DIR/summaries.jsonl" >"$T_DIR/summary-2.json"
    check_summary "two batches: the first summary checks out" \
        --summary "$T_DIR/summary-1.json" --input "$T_DIR/first.txt" --iterations 20
    check_summary "two batches: the second summary checks out" \
        --summary "$T_DIR/summary-2.json" --input "$T_DIR/second.txt" --iterations 30
    check "two batches: the batch ids differ" \
        test "$(jq -r .batch "$T_DIR/summary-1.json")" != "$(jq -r .batch "$T_DIR/summary-2.json")"
else
    not_ok "two batches: the sink printed two JSON summaries"
    diag_file "$T_DIR/jq.err" 3
    diag_file "$T_DIR/sink.out" 5
fi
if stop "$WORKER" 10 && [[ $STATUS == 0 ]]; then
    ok "two batches: worker exits 0 on SIGTERM"
else
    not_ok "two batches: worker exits 0 on SIGTERM"
    diag "status ${STATUS:-unknown}"
fi

# 7. Verbose logging everywhere: still nothing but the summary on stdout.
case_dir verbose
write_lines "$T_DIR/input.txt" alpha beta gamma delta
free_ports 2
SINK_ARGS=(-v)
WORKER_ARGS=(--verbose)
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -i "$T_DIR/input.txt" -N 50 -v
finish_pipeline "verbose" 0 --input "$T_DIR/input.txt" --iterations 50
SINK_ARGS=()
WORKER_ARGS=()

# 8. Nothing to do: an input of empty lines is an empty batch, which still
# completes (no hang waiting for results that never come).
case_dir empty-input
write_bytes "$T_DIR/input.txt" 'b"\n\r\n\n"'
free_ports 2
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -i "$T_DIR/input.txt" -N 5
finish_pipeline "empty input" 0 --input "$T_DIR/input.txt" --iterations 5

# 9. Each hash engine this CPU can run, on the awkward input (lines of every
# length exercise the engines' padding and lane handling).
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
has() { local f; for f; do [[ " $flags " == *" $f "* ]] || return 1; done; }
for engine in openssl avx2 avx512; do
    case $engine in
        avx2) has avx2 bmi2 || { skip "engine $engine" "this CPU has no AVX2"; continue; } ;;
        avx512) has avx512f avx512vl avx512bw bmi2 \
                    || { skip "engine $engine" "this CPU has no AVX-512"; continue; } ;;
    esac
    case_dir "engine-$engine"
    free_ports 2
    WORKER_ARGS=(-e "$engine" -p 1)
    start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" \
        "tcp://127.0.0.1:${PORTS[1]}" -i "$CORPUS" -N 3
    finish_pipeline "engine $engine" 0 --input "$CORPUS" --iterations 3
done
WORKER_ARGS=()

finish
