#!/usr/bin/env bash
# tests/e2e/errors.sh - what goes wrong at run time: a rejected input line, a
# missing input file, endpoints that cannot be bound or parsed, an output
# file that cannot be written, a sink out of descriptors. Each gives its
# sysexits status (or, for what a server survives, a log line) and a message
# that names the line, the file, the endpoint or the limit.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

# expect_stderr DESC NAME REGEX: a line of the stage's stderr matches the
# extended REGEX, not counting czmq's info and debug lines ("I: ", "D: "): the
# error itself must name the thing, not some log line before it.
expect_stderr() {
    if grep -Ev '^[ID]: ' "$T_DIR/$2.err" | grep -Eq -- "$3"; then
        ok "$1"
    else
        not_ok "$1"
        diag "no match for /$3/ in $2's stderr (info and debug lines aside)"
        diag_file "$T_DIR/$2.err"
    fi
}

# run_alone STAGE DESC WANT-STATUSES REGEX CMD...: start one stage on its own,
# expect it to exit within 15 s with one of WANT-STATUSES ("64|69"), to name
# REGEX in its error message, and to print nothing on stdout. Logs go to
# $T_DIR/STAGE.K.{out,err}.
runs=0
run_alone() {
    local name=$1.$((++runs)) desc=$2 want=$3 regex=$4
    shift 4
    local -a wants
    IFS='|' read -r -a wants <<<"$want"
    start_bg "$name" "$@"
    if expect_exit "$desc: exits ${want//|/ or }" "$LAST_PID" 15 "${wants[@]}"; then
        expect_stderr "$desc: the error message names it" "$name" "$regex"
    fi
    stdout_empty "$desc: nothing on stdout (logs go to stderr)" "$T_DIR/$name.out"
}

# 1. A line longer than --max-length: line 3 is rejected and named, the
# others are hashed, the ventilator exits 65.
case_dir max-length
write_bytes "$T_DIR/input.txt" 'b"line one\nline two\n" + b"L" * 200 + b"\nline four\nline five\n"'
free_ports 2
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -i "$T_DIR/input.txt" -N 100 --max-length 100
finish_pipeline "line too long" 65 --input "$T_DIR/input.txt" --iterations 100 --max-length 100
expect_stderr "line too long: the ventilator names line 3" ventilator 'line 3([^0-9]|$)'

# 2. The input file does not exist.
case_dir missing-input
free_ports 2
run_alone ventilator "ventilator -i missing file" 66 "no-such-file\.txt" \
    "$BIN/ventilator" -b "tcp://127.0.0.1:${PORTS[0]}" -s "tcp://127.0.0.1:${PORTS[1]}" \
    -i "$T_DIR/no-such-file.txt" -N 10

# 3. An address that is not on this host (TEST-NET-1; bind fails locally, no
# packet is sent).
case_dir foreign-address
free_ports 1
run_alone ventilator "ventilator -b tcp://192.0.2.1:5557" 69 '192\.0\.2\.1:5557' \
    "$BIN/ventilator" -b tcp://192.0.2.1:5557 -s "tcp://127.0.0.1:${PORTS[0]}" -n 1 -N 10
run_alone sink "sink -b tcp://192.0.2.1:5558" 69 '192\.0\.2\.1:5558' \
    "$BIN/sink" -b tcp://192.0.2.1:5558

# 4. A port already in use (held by a plain listening socket).
case_dir port-in-use
start_bg holder python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(120)'
holder=$LAST_PID
busy=
for _ in $(seq 50); do
    busy=$(head -n1 "$T_DIR/holder.out" 2>/dev/null)
    [[ -n $busy ]] && break
    sleep 0.1
done
if [[ -z $busy ]]; then
    not_ok "a listening socket holds a port"
    diag_file "$T_DIR/holder.err"
else
    free_ports 1
    run_alone sink "sink -b on a port in use" 69 "127\.0\.0\.1:$busy" \
        "$BIN/sink" -b "tcp://127.0.0.1:$busy"
    run_alone ventilator "ventilator -b on a port in use" 69 "127\.0\.0\.1:$busy" \
        "$BIN/ventilator" -b "tcp://127.0.0.1:$busy" -s "tcp://127.0.0.1:${PORTS[0]}" -n 1 -N 10
fi
stop "$holder" 5

# 5. Malformed endpoints.
case_dir malformed-endpoint
free_ports 2
t=tcp://127.0.0.1:${PORTS[0]} r=tcp://127.0.0.1:${PORTS[1]}
run_alone sink "sink -b bogus://x" '64|69' 'bogus://x' "$BIN/sink" -b bogus://x
run_alone ventilator "ventilator -b bogus://x" '64|69' 'bogus://x' \
    "$BIN/ventilator" -b bogus://x -s "$r" -n 1 -N 10
run_alone ventilator "ventilator -s bogus://x" '64|69' 'bogus://x' \
    "$BIN/ventilator" -b "$t" -s bogus://x -n 1 -N 10
run_alone worker "worker -v bogus://x" '64|69' 'bogus://x' \
    "$BIN/worker" -v bogus://x -s "$r" -p 1
run_alone worker "worker -s bogus://x" '64|69' 'bogus://x' \
    "$BIN/worker" -v "$t" -s bogus://x -p 1

# 6. An engine this CPU cannot run: refused at start (78, EX_CONFIG, as the
# worker's --help documents), not a crash on the first task.
case_dir unsupported-engine
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
lacking=
for engine in avx512 avx2; do
    case $engine in
        avx512) need="avx512f avx512vl avx512bw bmi2" ;;
        avx2) need="avx2 bmi2" ;;
    esac
    for f in $need; do
        [[ " $flags " == *" $f "* ]] || { lacking=$engine; break 2; }
    done
done
if [[ -n $lacking ]]; then
    free_ports 2
    run_alone worker "worker -e $lacking on a CPU without it" 78 "$lacking" \
        "$BIN/worker" -v "tcp://127.0.0.1:${PORTS[0]}" -s "tcp://127.0.0.1:${PORTS[1]}" -p 1 -e "$lacking"
else
    skip "worker -e with an engine this CPU lacks" "this CPU runs every engine"
fi

# 7. The sink cannot write its output file: 74, whenever it finds out (at
# start or when it writes the summary), naming the file.
case_dir unwritable-output
free_ports 2
SINK_ARGS=(-o /nonexistent/dir/out.json)
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -n 2 -N 10
if expect_exit "sink -o /nonexistent/dir/out.json: exits 74" "$SINK" "$WAIT" 74; then
    expect_stderr "sink -o /nonexistent/dir/out.json: the message names the file" sink \
        '/nonexistent/dir/out\.json'
fi
stdout_empty "sink -o unwritable: nothing on stdout either" "$T_DIR/sink.out"
SINK_ARGS=()
stop "$VENT" 5
stop "$WORKER" 5

# 8. A batch whose results outgrow the sink's --max-batch-bytes: the results
# that do not fit are failed tasks that say why (refusing them would have the
# ventilator send them again forever), the batch ends, the rest is right.
case_dir max-batch-bytes
free_ports 2
for i in $(seq 1 12); do printf 'line-%02d-%s\n' "$i" "$(printf 'x%.0s' $(seq 1 60))"; done \
    >"$T_DIR/input.txt"
SINK_ARGS=(--max-batch-bytes 1024)
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -i "$T_DIR/input.txt" -N 10
SINK_ARGS=()
expect_exit "over --max-batch-bytes: the ventilator exits 0 (the batch ends)" "$VENT" "$WAIT" 0
expect_exit "over --max-batch-bytes: the sink exits 0" "$SINK" 15 0
check "over --max-batch-bytes: what fits is right, the rest failed saying why" python3 - \
    "$T_DIR/input.txt" "$T_DIR/sink.out" <<'PY'
import hashlib, json, sys
lines = open(sys.argv[1], "rb").read().split(b"\n")[:-1]
summary = json.load(open(sys.argv[2]))
ok = failed = 0
assert len(summary["data"]) == len(lines), "one entry per line"
for line, entry in zip(lines, summary["data"]):
    if "error" in entry:
        assert "--max-batch-bytes (1024)" in entry["error"], entry
        failed += 1
        continue
    h = line
    for _ in range(10):
        h = hashlib.sha512(h).hexdigest().encode()
    assert entry == {line.decode(): h.decode()}, entry
    ok += 1
assert ok >= 1 and failed >= 1, (ok, failed)
assert summary["failed"] == failed and summary["complete"] is True, summary
print(f"{ok} right, {failed} failed")
PY
stop "$WORKER" 10

# 9. Out of descriptors. The sink and the ventilator raise their soft limit on
# open descriptors to the hard limit at start (every worker process takes one
# of each). Past the hard limit the sink can't accept a connection: it must
# say so -- EMFILE, the limit, what to raise -- and the stages it can't take
# must say what they see (no handshake within 5 s), with no word of CURVE in
# this plain-text run. The running sink's limit is set with prlimit to what
# it holds plus two, so that most of six worker processes can't get in, nor
# the ventilator started after them.

# soft_limit_raised NAME PID HARD: within 5 s, PID's soft limit on open
# descriptors (started at 64) is HARD.
soft_limit_raised() {
    local soft ticks=50
    while :; do
        soft=$(awk '/^Max open files/ { print $4 }' "/proc/$2/limits" 2>/dev/null)
        [[ $soft == "$3" ]] || ((ticks-- <= 0)) && break
        sleep 0.1
    done
    check_eq "out of descriptors: the $1 raised its soft limit (64) to the hard one" \
        "$soft" "$3"
}

case_dir emfile
free_ports 2
t=tcp://127.0.0.1:${PORTS[0]} r=tcp://127.0.0.1:${PORTS[1]} r_re=127\\.0\\.0\\.1:${PORTS[1]}
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || ((hard <= 64)); then
    skip "out of descriptors" "the hard limit is $hard: nothing to raise to"
else
    start_bg sink bash -c 'ulimit -Sn 64 && exec "$@"' sink "$BIN/sink" -b "$r"
    sink=$LAST_PID
    wait_for_line "$T_DIR/sink.err" 'collecting results at' 10
    soft_limit_raised sink "$sink" "$hard"
    held=$(find "/proc/$sink/fd" -mindepth 1 -maxdepth 1 | wc -l)
    limit=$((held + 2))
    check "out of descriptors: the sink's limit set to $limit (it holds $held)" \
        prlimit --pid "$sink" --nofile="$limit:$limit"
    start_bg worker "$BIN/worker" -v "$t" -s "$r" -p 6
    worker=$LAST_PID
    wait_for_line "$T_DIR/sink.err" 'EMFILE' 5
    start_bg ventilator bash -c 'ulimit -Sn 64 && exec "$@"' ventilator \
        "$BIN/ventilator" -b "$t" -s "$r" -n 1 -N 10
    vent=$LAST_PID
    soft_limit_raised ventilator "$vent" "$hard"
    expect_stderr "out of descriptors: the sink says EMFILE, the limit and what to raise" sink \
        "can't accept a connection at tcp://$r_re: .*\\(EMFILE\\).* the limit is $limit descriptors .*ulimit -n"
    wait_for_line "$T_DIR/worker.err" "handshake with tcp://$r_re" 10
    wait_for_line "$T_DIR/ventilator.err" "handshake with tcp://$r_re" 10
    for name in worker ventilator; do
        expect_stderr "out of descriptors: the $name says the sink did not finish the handshake" \
            "$name" "handshake with tcp://$r_re.* 5 s"
    done
    # The sink spins on the connection it can't take (libzmq retries at
    # once): still the first line, then at most one a second.
    lines=$(grep -c 'EMFILE' "$T_DIR/sink.err")
    if ((lines >= 1 && lines <= 12)); then
        ok "out of descriptors: the sink's EMFILE lines are rate-limited ($lines lines)"
    else
        not_ok "out of descriptors: the sink's EMFILE lines are rate-limited"
        diag "$lines EMFILE lines"
    fi
    curve=$(grep -hi 'curve' "$T_DIR/sink.err" "$T_DIR/worker.err" "$T_DIR/ventilator.err")
    if [[ -z $curve ]]; then
        ok "out of descriptors: no stage of this plain-text run hints at CURVE"
    else
        not_ok "out of descriptors: no stage of this plain-text run hints at CURVE"
        diag "$(head -n 3 <<<"$curve")"
    fi
    stop "$worker" 10
    stop "$vent" 5
    stop "$sink" 5
fi

finish
