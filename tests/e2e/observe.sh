#!/usr/bin/env bash
# tests/e2e/observe.sh - seeing inside a running pipeline: the sink's --http
# server (/metrics checked by promtool and against the summary, /status
# against the worker processes we started, / loaded in headless Chromium:
# its DOM and a screenshot), worker processes marked gone when their reports
# stop and back when they resume, --http's errors, and the progress bar on a
# pseudo-terminal (script(1)): it advances, ends at 100 %, and never reaches
# stdout; with -q or without a terminal there is none.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

OC=$E2E_ROOT/tests/e2e/observe_check.py

for tool in curl promtool chromium script; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        not_ok "$tool is installed (scripts/install-deps installs it)"
        finish
    fi
done

# fetch URL FILE: the body of a GET into FILE; false unless HTTP 200.
fetch() {
    local code
    code=$(curl -sS --max-time 10 -o "$2" -w '%{http_code}' "$1" 2>/dev/null)
    [[ $code == 200 ]]
}

# wait_status URL JQ-EXPR SECONDS FILE: poll URL (/status) every 0.2 s until
# the JSON it returns makes JQ-EXPR true; the last answer stays in FILE.
wait_status() {
    local ticks
    ticks=$(awk -v s="$3" 'BEGIN { printf "%d", s * 5 }')
    until fetch "$1" "$4" && jq -e "$2" "$4" >/dev/null 2>&1; do
        ((ticks-- > 0)) || return 1
        sleep 0.2
    done
}

# browse OUT ARGS...: headless Chromium with ARGS, stdout to OUT, bounded.
browse() {
    local out=$1 sandbox=()
    shift
    [[ $(id -u) == 0 ]] && sandbox=(--no-sandbox)
    timeout -k 10 120 chromium --headless "${sandbox[@]}" --disable-gpu --disable-dev-shm-usage \
        --no-first-run --user-data-dir="$T_DIR/chromium" "$@" >"$out" 2>>"$T_DIR/chromium.err"
}

# worker_pids WORKER N: wait until the supervisor WORKER has N processes;
# their pids go to PIDS.
worker_pids() {
    local ticks=300
    PIDS=()
    while ((ticks-- > 0)); do
        mapfile -t PIDS < <(children_of "$1")
        ((${#PIDS[@]} == $2)) && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- 1. --http

case_dir http
free_ports 3
T=tcp://127.0.0.1:${PORTS[0]} R=tcp://127.0.0.1:${PORTS[1]} H=127.0.0.1:${PORTS[2]}
python3 -c 'import sys
with open(sys.argv[1], "w") as f:
    for i in range(60):
        f.write(f"observe-{i:03d}\n")' "$T_DIR/input.txt"
start_bg sink "$BIN/sink" -b "$R" --http "$H" --batches 0
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 2
WORKER=$LAST_PID
if worker_pids "$WORKER" 2; then
    ok "http: the worker runs 2 processes (${PIDS[*]})"
else
    not_ok "http: the worker runs 2 processes"
    diag "children of $WORKER: ${PIDS[*]:-none}"
    diag_file "$T_DIR/worker.err"
fi

if wait_status "http://$H/status" '[.workers[] | select(.state == "alive" and .reporting)]
        | length == 2' "$WAIT" "$T_DIR/status-before.json"; then
    ok "http: /status lists both worker processes, reporting, before any batch"
else
    not_ok "http: /status lists both worker processes, reporting, before any batch"
    diag_file "$T_DIR/status-before.json" 5
    diag_file "$T_DIR/sink.err"
fi
check "http: /status before the batch: one alive row per worker process" \
    python3 "$OC" state "$T_DIR/status-before.json" alive "${PIDS[@]}"

# The page, before the batch: a virtual-time budget of 5 s lets its script
# poll /status several times.
browse "$T_DIR/dom-before.html" --virtual-time-budget=5000 --dump-dom "http://$H/"
check "http: / in Chromium shows one row per worker process and refreshes itself" \
    python3 "$OC" dom "$T_DIR/dom-before.html" 3 "${PIDS[@]}"

start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/input.txt" -N 20000
VENT=$LAST_PID
expect_exit "http: ventilator exits 0" "$VENT" "$WAIT" 0
if wait_status "http://$H/status" '.batch.complete == true and .sink.batches_completed == 1' \
        30 "$T_DIR/status.json"; then
    ok "http: /status shows the batch complete"
else
    not_ok "http: /status shows the batch complete"
    diag_file "$T_DIR/status.json" 5
fi
check_summary "http: summary checks out" --summary "$T_DIR/sink.out" \
    --input "$T_DIR/input.txt" --iterations 20000
if fetch "http://$H/metrics" "$T_DIR/metrics.txt"; then
    ok "http: GET /metrics answers 200"
else
    not_ok "http: GET /metrics answers 200"
fi
check "http: /metrics passes promtool check metrics" \
    sh -c 'promtool check metrics <"$1"' sh "$T_DIR/metrics.txt"
check "http: /metrics counters match the summary, one series per worker process" \
    python3 "$OC" metrics "$T_DIR/metrics.txt" "$T_DIR/sink.out" "${PIDS[@]}"
check "http: /status matches the summary, one row per worker process" \
    python3 "$OC" status "$T_DIR/status.json" "$T_DIR/sink.out" "${PIDS[@]}"
check "http: /metrics is served as the text format 0.0.4" \
    sh -c 'curl -sS --max-time 10 -D - -o /dev/null "$1" | grep -qi "^content-type: text/plain; version=0.0.4"' \
    sh "http://$H/metrics"

# The page after the batch: the same rows, and the batch line moved on.
browse "$T_DIR/dom-after.html" --virtual-time-budget=3000 --dump-dom "http://$H/"
check "http: / after the batch shows the worker rows" \
    python3 "$OC" dom "$T_DIR/dom-after.html" 1 "${PIDS[@]}"
before=$(python3 "$OC" dom "$T_DIR/dom-before.html" 0 "${PIDS[@]}" 2>&1)
after=$(python3 "$OC" dom "$T_DIR/dom-after.html" 0 "${PIDS[@]}" 2>&1)
if [[ $before == *"no batch yet"* && $after == *"60 / 60 tasks (100.0 %)"*"complete"* ]]; then
    ok "http: the page shows the batch's progress as it changes"
else
    not_ok "http: the page shows the batch's progress as it changes"
    diag "before: $before" "after: $after"
fi
browse "$T_DIR/screenshot.out" --virtual-time-budget=3000 --window-size=1200,600 \
    --screenshot="$T_DIR/page.png" "http://$H/"
check "http: a screenshot of / is a PNG with something drawn on it" \
    python3 "$OC" png "$T_DIR/page.png"

code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "http://$H/nothing-here")
check_eq "http: an unknown path is 404" "$code" 404
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST "http://$H/status")
check_eq "http: POST is 405" "$code" 405

# Stopping the worker: every process says it leaves; rows stay, as left.
stop "$WORKER" 15
check_eq "http: worker exits 0 on SIGTERM" "$STATUS" 0
if wait_status "http://$H/status" '[.workers[] | select(.state == "left")] | length == 2' \
        30 "$T_DIR/status-left.json"; then
    ok "http: after the worker stops, both rows stay, marked left"
else
    not_ok "http: after the worker stops, both rows stay, marked left"
    diag_file "$T_DIR/status-left.json" 5
fi
stop "$SINK" 15
check_eq "http: sink --batches 0 exits 0 on SIGTERM between batches" "$STATUS" 0
if grep -q $'\r' "$T_DIR/sink.err" || grep -Eq '\] +[0-9.]+ %' "$T_DIR/sink.err"; then
    not_ok "http: no progress bar when stderr is not a terminal"
    diag_file "$T_DIR/sink.err" 5
else
    ok "http: no progress bar when stderr is not a terminal"
fi

# ---------------------------------------------------------------- 2. gone

case_dir gone
free_ports 3
T=tcp://127.0.0.1:${PORTS[0]} R=tcp://127.0.0.1:${PORTS[1]} H=127.0.0.1:${PORTS[2]}
start_bg sink "$BIN/sink" -b "$R" --http "$H" --batches 0
SINK=$LAST_PID
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 1 --heartbeat 200
WORKER=$LAST_PID
worker_pids "$WORKER" 1
if wait_status "http://$H/status" '[.workers[] | select(.state == "alive")] | length == 1' \
        "$WAIT" "$T_DIR/status-alive.json"; then
    ok "gone: the worker process is alive"
else
    not_ok "gone: the worker process is alive"
    diag_file "$T_DIR/status-alive.json" 5
fi
# Stopped (the supervisor too), the process sends nothing: gone after three
# of its 200 ms intervals.
kill -STOP -- "-$WORKER"
if wait_status "http://$H/status" '([.workers[] | select(.state == "gone")] | length == 1)
        and .sink.processes_gone == 1' 30 "$T_DIR/status-gone.json"; then
    ok "gone: a stopped worker process is marked gone, and counted"
else
    not_ok "gone: a stopped worker process is marked gone, and counted"
    diag_file "$T_DIR/status-gone.json" 5
fi
check "gone: the row is kept, for that pid" \
    python3 "$OC" state "$T_DIR/status-gone.json" gone "${PIDS[@]}"
fetch "http://$H/metrics" "$T_DIR/metrics.txt"
check "gone: /metrics counts it gone and down" \
    grep -Eq '^zpipe_worker_processes_gone_total 1$' "$T_DIR/metrics.txt"
check "gone: /metrics says zpipe_worker_up 0 for it" \
    grep -Eq "^zpipe_worker_up\{host=\"[^\"]*\",pid=\"${PIDS[0]:-none}\"\} 0$" "$T_DIR/metrics.txt"
kill -CONT -- "-$WORKER"
if wait_status "http://$H/status" '[.workers[] | select(.state == "alive")] | length == 1' \
        30 "$T_DIR/status-back.json"; then
    ok "gone: it is alive again once it reports again"
else
    not_ok "gone: it is alive again once it reports again"
    diag_file "$T_DIR/status-back.json" 5
fi
stop "$WORKER" 15
stop "$SINK" 15
check_eq "gone: sink exits 0 on SIGTERM" "$STATUS" 0

# ---------------------------------------------------------------- 3. errors

case_dir errors
free_ports 3
R=tcp://127.0.0.1:${PORTS[0]}
for bad in 1.2.3.4.5:80 127.0.0.1:70000 127.0.0.1: host.example:80 '[::1:80' 0; do
    start_bg "bad-$bad" "$BIN/sink" -b "$R" --http "$bad"
    if expect_exit "errors: --http '$bad' is a usage error (64)" "$LAST_PID" 15 64; then
        check "errors: --http '$bad': one line naming the option" \
            sh -c '[ "$(wc -l <"$1")" = 1 ] && grep -q -- "--http" "$1"' sh "$T_DIR/bad-$bad.err"
    fi
done
# :PORT alone is loopback; a second sink on the same address cannot bind.
P=${PORTS[1]}
start_bg first "$BIN/sink" -b "$R" --http ":$P" --batches 0
FIRST=$LAST_PID
if wait_for_line "$T_DIR/first.err" "http://127\\.0\\.0\\.1:$P/" 30 \
        && fetch "http://127.0.0.1:$P/metrics" "$T_DIR/metrics.txt"; then
    ok "errors: --http :PORT serves on 127.0.0.1:PORT"
else
    not_ok "errors: --http :PORT serves on 127.0.0.1:PORT"
    diag_file "$T_DIR/first.err"
fi
start_bg second "$BIN/sink" -b "tcp://127.0.0.1:${PORTS[2]}" --http "127.0.0.1:$P"
if expect_exit "errors: an --http address in use: exit 69" "$LAST_PID" 15 69; then
    check "errors: the line names the address and why" \
        grep -q "can't serve HTTP on 127.0.0.1:$P: Address already in use" "$T_DIR/second.err"
fi
stop "$FIRST" 15

# ---------------------------------------------------------------- 4. progress

# run_on_tty NAME SINK-ARGS...: the sink on a pseudo-terminal (script), its
# stdout into NAME.json, what the terminal showed into NAME.out.
run_on_tty() {
    local name=$1 command
    shift
    printf -v command '%q ' "$BIN/sink" "$@"
    command+=">$(printf '%q' "$T_DIR/$name.json")"
    start_bg "$name" script -q -e -c "$command" /dev/null
    TTY=$LAST_PID
    # The sink is script's child, in a session of its own: record it too,
    # so that it is stopped with everything else if the suite is cut short.
    local ticks=100 child
    while ((ticks-- > 0)); do
        child=$(children_of "$TTY" | head -n 1)
        [[ -n $child ]] && break
        sleep 0.1
    done
    [[ -n ${child:-} ]] && T_PIDS+=("$child") && T_NAME[$child]="$name (sink)"
}

tcp_case progress
python3 -c 'import sys
with open(sys.argv[1], "w") as f:
    for i in range(32):
        f.write(f"progress-{i:03d}\n")' "$T_DIR/input.txt"
start_bg worker "$BIN/worker" -v "$T" -s "$R" -p 1
WORKER=$LAST_PID
run_on_tty tty -b "$R"
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/input.txt" -N 300000
expect_exit "progress: ventilator exits 0" "$LAST_PID" "$WAIT" 0
expect_exit "progress: the sink on a terminal exits 0" "$TTY" 30 0
check "progress: the bar advances and ends at 100 %" python3 "$OC" progress "$T_DIR/tty.out"
check_summary "progress: stdout has the summary and nothing else" \
    --summary "$T_DIR/tty.json" --input "$T_DIR/input.txt" --iterations 300000

run_on_tty quiet -b "$R" -q
start_bg ventilator2 "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/input.txt" -N 10
expect_exit "progress: second ventilator exits 0" "$LAST_PID" "$WAIT" 0
expect_exit "progress: sink -q on a terminal exits 0" "$TTY" 30 0
if grep -Eq '\] +[0-9.]+ %' "$T_DIR/quiet.out"; then
    not_ok "progress: with -q there is no bar"
    diag_file "$T_DIR/quiet.out" 5
else
    ok "progress: with -q there is no bar"
fi
check_summary "progress: -q: the summary checks out" \
    --summary "$T_DIR/quiet.json" --input "$T_DIR/input.txt" --iterations 10
stop "$WORKER" 15

finish
