#!/usr/bin/env bash
# tests/e2e/handlers.sh - task handlers (issue 7) with the real stages on
# loopback: the example library (docs/examples/wordcount.c) and the --exec
# examples, each checked against an independent computation in Python; a
# library that segfaults on one input (failed after --max-attempts, every
# other task done, no worker process left dead); a hung --exec command
# killed at --task-timeout; load-time refusals (ABI version, not a library,
# arguments the library refuses) and option errors.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

B=${ZP_BUILD:-$E2E_ROOT/build}
WORDCOUNT=$B/examples/libwordcount.so
CRASHY=$B/handlers/libcrashy.so
CRASHY_BATCH=$B/handlers/libcrashy-batch.so
BADABI=$B/handlers/libbadabi.so
for lib in "$WORDCOUNT" "$CRASHY" "$CRASHY_BATCH" "$BADABI"; do
    if [[ ! -f $lib ]]; then
        not_ok "handler library $lib is built (make tests)"
        finish
    fi
done

# A pipeline with WORKER_ARGS on INPUT at N iterations: the ventilator and
# the sink must exit 0; the summary is in $T_DIR/sink.out.
run_batch() {
    local label=$1 input=$2
    free_ports 2
    start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" \
        "tcp://127.0.0.1:${PORTS[1]}" -i "$input" -N "${N:-1}"
    expect_exit "$label: ventilator exits 0" "$VENT" "$WAIT" 0
    expect_exit "$label: sink exits 0 after the batch" "$SINK" 15 0
}

# run_example LABEL SCRIPT: run_batch on INPUT at 1 iteration, with the
# worker started by docs/examples/SCRIPT (2 processes), as a user would: the
# script execs the worker it finds in ZPIPE_BIN.
run_example() {
    local label=$1 script=$2
    free_ports 2
    start_bg sink "$BIN/sink" -b "tcp://127.0.0.1:${PORTS[1]}"
    SINK=$LAST_PID
    ZPIPE_BIN=$BIN start_bg worker "$E2E_ROOT/docs/examples/$script" -p 2 \
        -v "tcp://127.0.0.1:${PORTS[0]}" -s "tcp://127.0.0.1:${PORTS[1]}"
    WORKER=$LAST_PID
    start_bg ventilator "$BIN/ventilator" -b "tcp://127.0.0.1:${PORTS[0]}" \
        -s "tcp://127.0.0.1:${PORTS[1]}" -i "$INPUT" -N 1
    VENT=$LAST_PID
    expect_exit "$label: ventilator exits 0" "$VENT" "$WAIT" 0
    expect_exit "$label: sink exits 0 after the batch" "$SINK" 15 0
}

# stop_worker LABEL: SIGTERM, exit 0, no process of its group left.
stop_worker() {
    stop "$WORKER" 15
    check_eq "$1: worker exits 0 on SIGTERM" "${STATUS:-killed}" 0
    if wait_group_gone "$WORKER" 5; then
        ok "$1: no worker process is left"
    else
        not_ok "$1: no worker process is left"
        kill -KILL -- "-$WORKER" 2>/dev/null
    fi
}

# verify SUMMARY INPUT PYTHON-EXPR: every input line has a data entry whose
# result equals PYTHON-EXPR computed on the line's bytes `b` (a str result
# is compared as UTF-8); prints what differs.
verify() {
    python3 - "$1" "$2" "$3" <<'PY'
import base64, hashlib, json, sys
summary, path, expr = sys.argv[1:]
with open(path, "rb") as f:
    lines = [l for l in f.read().split(b"\n") if l]
doc = json.load(open(summary))
got = {}
for entry in doc["data"]:
    if "error" in entry:
        print("failed:", entry); continue
    if "input_base64" in entry:
        key = base64.b64decode(entry["input_base64"])
    elif "input" in entry:
        key = entry["input"].encode()
    else:
        (k, v), = entry.items(); key = k.encode(); entry = {"output": v}
    out = entry.get("output", entry.get("hash"))
    got[key] = base64.b64decode(entry["output_base64"]) if "output_base64" in entry else out.encode()
bad = 0
for b in lines:
    want = eval(expr, {"hashlib": hashlib}, {"b": b})
    want = want.encode() if isinstance(want, str) else want
    if got.get(b) != want:
        bad += 1
        if bad < 5: print("line", b[:60], "got", got.get(b, b"(none)")[:60], "want", want[:60])
if len(got) != len(set(lines)) or doc["failed"] != 0 or not doc["complete"]:
    print("results", len(got), "lines", len(set(lines)), "failed", doc["failed"], "complete", doc["complete"])
    bad += 1
sys.exit(1 if bad else 0)
PY
}

# Words and spaces, tabs, a line of blanks, non-ASCII.
INPUT=$T_OUT/words.txt
python3 - "$INPUT" <<'PY'
import random, sys
random.seed(7)
words = ["zpipe", "hash", "état", "naïve", "x", "tab\tbed", "a-b", "ünïcode", "42"]
with open(sys.argv[1], "w") as f:
    for i in range(300):
        n = random.randrange(0, 12)
        f.write(f"line{i} " + (" " * random.randrange(1, 4)).join(random.choice(words) for _ in range(n)) + "\n")
    f.write("   \t  \n")
PY

# 1. The example library, words and then bytes (--handler-arg reaches init).
case_dir wordcount
WORKER_ARGS=(-p 2 --handler "$WORDCOUNT")
run_batch "wordcount" "$INPUT"
check "wordcount: every line's count equals Python's len(b.split())" \
    verify "$T_DIR/sink.out" "$INPUT" 'str(len(b.split()))'
stop_worker "wordcount"

case_dir wordcount-bytes
WORKER_ARGS=(-p 2 --handler "$WORDCOUNT" --handler-arg count=bytes)
run_batch "wordcount count=bytes" "$INPUT"
check "wordcount count=bytes: --handler-arg reached the handler: every count is len(b)" \
    verify "$T_DIR/sink.out" "$INPUT" 'str(len(b))'
stop_worker "wordcount count=bytes"

# 2. --exec: the shell one-liner of docs/examples/exec-sha256.sh, run as the
# example script itself (it execs the worker).
case_dir exec
run_example "exec" exec-sha256.sh
check "exec: every result is Python's hashlib.sha256 of the line" \
    verify "$T_DIR/sink.out" "$INPUT" 'hashlib.sha256(b).hexdigest()'
stop_worker "exec"

# 3. --exec-persistent: docs/examples/exec-persistent-upper.sh, one command
# per process, one line in and one out per task.
case_dir exec-persistent
run_example "exec-persistent" exec-persistent-upper.sh
# tr a-z A-Z upper-cases ASCII only, as bytes.upper() does.
check "exec-persistent: every result is the line upper-cased (Python bytes.upper)" \
    verify "$T_DIR/sink.out" "$INPUT" 'b.upper()'
stop_worker "exec-persistent"

# 4. A library that segfaults on one input. Every other task succeeds (and
# was attempted once: the journal says so), "segfault" is failed after 3
# attempts with the signal in its reason, the worker keeps all its processes.
CRASH_INPUT=$T_OUT/crash.txt
{
    for i in $(seq 1 40); do echo "task-$i"; done
    echo segfault
    for i in $(seq 41 60); do echo "task-$i"; done
    echo fail
    echo binary
} >"$CRASH_INPUT"
for variant in crashy crashy-batch; do
    case_dir "$variant"
    lib=$CRASHY
    [[ $variant == crashy-batch ]] && lib=$CRASHY_BATCH
    SINK_ARGS=(--journal "$T_DIR/journal.ndjson")
    WORKER_ARGS=(-p 2 --handler "$lib" --handler-arg prefix=R:)
    run_batch "$variant" "$CRASH_INPUT"
    SINK_ARGS=()
    got=$(jq -c '[.complete, .results, .failed, (.data[] | select(.input == "segfault") | [.attempts, (.error | test("crashed on this task 3 times [(]last: (killed by signal 11|its process exited with status 1)"))])]' \
        "$T_DIR/sink.out" 2>&1)
    check_eq "$variant: the segfaulting task is failed after 3 attempts, with the signal" \
        "$got" '[true,63,2,[3,true]]'
    got=$(jq -c '[.data[] | select(.input == "fail")] | map([.error, .attempts])' "$T_DIR/sink.out" 2>&1)
    check_eq "$variant: a task the handler fails is failed with its reason, attempted once" \
        "$got" '[["crashy: told to fail",1]]'
    got=$(jq -c '[.data[] | select(.input == "binary")] | map(.output_base64)' "$T_DIR/sink.out" 2>&1)
    check_eq "$variant: an output that is not UTF-8 is written as output_base64" "$got" '["/wD+"]'
    bad=$(python3 - "$T_DIR/sink.out" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
ok = {k: v for e in doc["data"] if "error" not in e and "output_base64" not in e for k, v in e.items()}
want = {f"task-{i}": "R:" + f"task-{i}"[::-1] for i in range(1, 61)}
print(sorted(set(want.items()) ^ set(ok.items()))[:5])
PY
)
    check_eq "$variant: the 60 other tasks succeeded with the right result" "$bad" "[]"
    if [[ $variant == crashy ]]; then
        # One task a call: only the task in the handler is blamed, never the
        # ones waiting in the same process. (With process_batch, the tasks
        # in the call with it are blamed once, then it runs alone.)
        got=$(jq -c 'select(.type == "result" and .status == 0) | .attempts' \
            "$T_DIR/journal.ndjson" | sort | uniq -c | awk '{ print $2 "x" $1 }' | tr '\n' ' ')
        check_eq "$variant: every successful task was attempted exactly once" "$got" "1x61 "
    else
        got=$(jq -c 'select(.type == "result" and .status == 0) | .attempts' \
            "$T_DIR/journal.ndjson" | sort -u | tr '\n' ' ')
        check "$variant: no successful task was attempted more than twice ($got)" \
            test -z "$(jq -c 'select(.type == "result" and .status == 0 and .attempts > 2)' "$T_DIR/journal.ndjson")"
    fi
    # (Under ASan a segfault is an exit with status 1 after its report.)
    crashes=$(grep -c 'died in its handler with' "$T_DIR/worker.err")
    check_eq "$variant: the supervisor saw exactly 3 deaths in the handler" "$crashes" 3
    # The supervisor restarts each: 2 processes alive (waited for: the last
    # restart has a backoff).
    alive=0
    for _ in $(seq 1 100); do
        alive=$(children_of "$WORKER" | wc -l)
        [[ $alive == 2 ]] && break
        sleep 0.1
    done
    check_eq "$variant: both worker processes are alive after the batch" "$alive" 2
    stop_worker "$variant"
done

# 4b. A library call longer than the ventilator's heartbeat timeout (3 s):
# the process runs it in a thread and keeps heartbeating, so the ventilator
# never takes it for dead and sends nothing again. One process, so that no
# other one has credit for a straggler's copy.
case_dir slow-call
write_lines "$T_DIR/input.txt" before sleep after
WORKER_ARGS=(-p 1 --handler "$CRASHY")
run_batch "slow-call" "$T_DIR/input.txt"
got=$(jq -c '[.complete, .failed, .redelivered, .worker_restarts, .data]' "$T_DIR/sink.out" 2>&1)
check_eq "slow-call: a 5 s call completes, nothing redelivered" \
    "$got" '[true,0,0,0,[{"before":"erofeb"},{"sleep":"peels"},{"after":"retfa"}]]'
# (A process that stops heartbeating is logged so: "worker HOST/PID went silent".)
if grep -q 'went silent' "$T_DIR/ventilator.err"; then
    not_ok "slow-call: the ventilator never took the process for silent"
    diag_file "$T_DIR/ventilator.err"
else
    ok "slow-call: the ventilator never took the process for silent"
fi
stop_worker "slow-call"

# 5. A hung --exec command is killed at --task-timeout (its whole process
# group) and its task is failed; the others are done.
case_dir exec-hang
HANG_INPUT=$T_DIR/input.txt
write_lines "$HANG_INPUT" one two hang three
PIDS_FILE=$T_DIR/hang.pids
WORKER_ARGS=(-p 2 --task-timeout 2 --exec "x=\$(cat); if [ \"\$x\" = hang ]; then echo \$\$ >>$PIDS_FILE; sleep 600; fi; printf '%s!' \"\$x\"")
run_batch "exec-hang" "$HANG_INPUT"
got=$(jq -c '[.complete, .failed, (.data[] | select(.input == "hang") | .error), [.data[] | select(.error == null)]]' \
    "$T_DIR/sink.out" 2>&1)
check_eq "exec-hang: the hung task is failed 'timed out after 2 s', the rest succeed" \
    "$got" '[true,1,"timed out after 2 s",[{"one":"one!"},{"two":"two!"},{"three":"three!"}]]'
gone=1
for _ in $(seq 1 100); do
    gone=1
    while read -r pid; do
        kill -0 "$pid" 2>/dev/null && gone=0
    done <"$PIDS_FILE"
    ((gone)) && break
    sleep 0.1
done
if ((gone)) && [[ -s $PIDS_FILE ]]; then
    ok "exec-hang: the hung command (pids $(tr '\n' ' ' <"$PIDS_FILE")) is gone"
else
    not_ok "exec-hang: the hung command is gone"
fi
stop_worker "exec-hang"

# 5b. A worker process killed outright (SIGKILL) while its --exec command
# runs: the supervisor kills the command's process group too, nothing is
# left behind, and the task is done by the restarted process.
case_dir exec-orphan
write_lines "$T_DIR/input.txt" once
GROUPS_FILE=$T_DIR/groups
WORKER_ARGS=(-p 1 --exec "cat >/dev/null; if ! [ -e $T_DIR/killed ]; then echo \$\$ >>$GROUPS_FILE; sleep 600; fi; echo done")
free_ports 2
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" \
    "tcp://127.0.0.1:${PORTS[1]}" -i "$T_DIR/input.txt" -N 1
if wait_for_line "$GROUPS_FILE" '^[0-9]+$' 20; then
    process=$(children_of "$WORKER" | head -n1)
    touch "$T_DIR/killed"
    kill -KILL "${process:-none}"
    group=$(head -n1 "$GROUPS_FILE")
    if wait_group_gone "$group" 10; then
        ok "exec-orphan: the command's group ($group) is gone after its process was SIGKILLed"
    else
        not_ok "exec-orphan: the command's group ($group) is gone after its process was SIGKILLed"
        kill -KILL -- "-$group" 2>/dev/null
    fi
else
    not_ok "exec-orphan: the command started"
fi
expect_exit "exec-orphan: ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "exec-orphan: sink exits 0" "$SINK" 15 0
check_eq "exec-orphan: the task was done by the restarted process" \
    "$(jq -c '.data' "$T_DIR/sink.out" 2>&1)" '[{"once":"done"}]'
stop_worker "exec-orphan"

# 6. Refused at load, before any process starts: one line, exit 78.
case_dir refusals
refuse() {
    local desc=$1 want=$2 regex=$3
    shift 3
    start_bg "worker.$T_NUM" "$BIN/worker" -v tcp://127.0.0.1:1 -s tcp://127.0.0.1:1 "$@"
    local name=worker.$T_NUM
    if expect_exit "$desc: exits $want" "$LAST_PID" 15 "$want"; then
        if grep -Eq -- "$regex" "$T_DIR/$name.err"; then
            ok "$desc: the message says so"
        else
            not_ok "$desc: the message says so"
            diag "no match for /$regex/"
            diag_file "$T_DIR/$name.err"
        fi
    fi
}
refuse "another ABI version" 78 "handler: .*libbadabi.so is built for handler ABI version 1001, this worker takes version 1" \
    --handler "$BADABI"
echo "not a library" >"$T_DIR/notalib.so"
refuse "not a library" 78 "handler: can't load .*notalib.so" --handler "$T_DIR/notalib.so"
refuse "no such file" 78 "handler: can't load $T_DIR/missing.so" --handler "$T_DIR/missing.so"
refuse "arguments the library refuses" 78 "handler-arg: .*refused its arguments: unknown argument 'bogus'" \
    --handler "$WORDCOUNT" --handler-arg bogus=1
refuse "--handler-arg without KEY=VALUE" 64 "handler-arg: 'novalue' is not KEY=VALUE" \
    --handler "$WORDCOUNT" --handler-arg novalue
refuse "--handler-arg for the built-in handler" 64 "handler-arg needs --handler LIBRARY" \
    --handler-arg a=b
refuse "--exec-persistent alone" 64 "exec-persistent needs --exec" --exec-persistent
refuse "--exec with a library" 64 "exec and --handler .* exclude each other" \
    --exec cat --handler "$WORDCOUNT"
refuse "--max-attempts 0" 64 "max-attempts" --max-attempts 0

finish
