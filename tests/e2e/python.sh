#!/usr/bin/env bash
# tests/e2e/python.sh - the Python worker (worker/python, `python3 -m
# zpipe_worker`, issue 16) against the real ventilator and sink on loopback:
#
#  1. its command line: --help, --version, a bad option, a function or an
#     endpoint it can't use, each with the C worker's exit status;
#  2. the built-in sha512-chain on the awkward corpus (NUL, invalid UTF-8, a
#     100 KB line) on 2 processes: every hash right against hashlib
#     (tests/ref/check.py), and the checks every complete run gets; the
#     README's example (docs/examples/seed_chain.py) run by the launcher;
#  3. a user's --function: bytes or str out, the task's iterations passed in,
#     an exception (or a wrong return type) fails that task with its message
#     (one function that does what each line asks);
#  4. -p 3: three processes, each gets tasks;
#  5. SIGTERM mid-batch: the process hands back what it has not started,
#     finishes what it runs, leaves, exits 0; nothing is done twice; one
#     still running at the drain's deadline leaves handing that task back;
#  6. kill -9 of a process: its supervisor starts another, which names the
#     dead one (READY replaces), so its tasks go out again at once;
#  7. beside the C worker on one batch: both get tasks, every hash right,
#     and a Python process killed -9 mid-batch loses nothing;
#  8. a function that kills its process on one input: that task fails after
#     --max-attempts, every other is done;
#  9. a function that hangs: failed at --task-timeout, the process replaced;
# 10. a function that runs past the ventilator's 3 s heartbeat timeout, CPU
#     bound in pure Python: its process is not taken as dead;
# 11. --max-iterations: a task above it is refused with a failed result;
# 12. a sink that starts late gets every result the workers held.
#
# Interpreter: ZP_PYTHON (or ZPIPE_PYTHON), else /usr/bin/python3, which sees
# Debian's python3-zmq (a pyenv python3 on PATH may not). Fault cases use
# functions that sleep rather than hash, so their timing does not depend on
# the CPU; case 7 sizes its chains to the measured rate of both workers.

E2E_ENGINE=openssl
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

PY=${ZP_PYTHON:-${ZPIPE_PYTHON:-/usr/bin/python3}}
PKG=$E2E_ROOT/worker/python
FN_DIR=$T_OUT/functions
mkdir -p "$FN_DIR"

if "$PY" -c 'import zmq' 2>"$T_OUT/pyzmq.err"; then
    ok "$PY imports zmq (pyzmq)"
else
    not_ok "$PY imports zmq (pyzmq)"
    diag "install Debian's python3-zmq (scripts/install-deps test), or set ZP_PYTHON"
    diag_file "$T_OUT/pyzmq.err"
    finish
fi

# The users' functions of these cases.
cat >"$FN_DIR/userfns.py" <<'EOF'
import hashlib, os, signal, time

def behave(data, iterations):
    """What a line asks for: bytes out (the default), str out, the task's
    iterations, or one of the failures."""
    kind, _, rest = data.partition(b":")
    if kind == b"str":
        return f"{len(rest)} bytes \u2192 {hashlib.sha256(rest).hexdigest()[:12]}"
    if kind == b"rep":
        return rest * iterations
    if kind == b"bad":
        raise ValueError(f"no thanks: {rest.decode()}")
    if kind == b"none":
        return None
    if kind == b"empty-error":
        raise KeyError()
    return data.upper()

def nap(data, iterations):
    """Sleeps `iterations` ms: fault cases whose timing is not the CPU's."""
    time.sleep(iterations / 1000)
    return hashlib.sha256(data).hexdigest()

def spin(data, iterations):
    """Busy for `iterations` ms in pure Python (holds the GIL but for switches)."""
    end = time.monotonic() + iterations / 1000
    count = 0
    while time.monotonic() < end:
        count += 1
    return b"spun"

def crashy(data):
    if data == b"crash":
        os.kill(os.getpid(), signal.SIGKILL)
    return data[::-1]

def hang(data):
    if data == b"hang":
        time.sleep(3600)
    return data[::-1]
EOF

# start_py NAME ARGS...: the Python worker NAME (PID in LAST_PID) on T and R.
start_py() {
    local name=$1
    shift
    start_bg "$name" env PYTHONPATH="$PKG:$FN_DIR" "$PY" -m zpipe_worker -v "$T" -s "$R" "$@"
}

# run_py LABEL INPUT N WORKER-ARGS...: sink, the Python worker (WORKER), then
# the ventilator on INPUT at N iterations; the ventilator and the sink must
# exit 0. The summary is $T_DIR/sink.out.
run_py() {
    local label=$1 input=$2 n=$3
    shift 3
    start_bg sink "$BIN/sink" -b "$R"
    SINK=$LAST_PID
    start_py worker "$@"
    WORKER=$LAST_PID
    sleep 0.3
    start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$input" -N "$n"
    VENT=$LAST_PID
    expect_exit "$label: ventilator exits 0" "$VENT" "$WAIT" 0
    expect_exit "$label: sink exits 0 after the batch" "$SINK" 15 0
}

# stop_worker LABEL [PID]: SIGTERM, exit 0, no process of its group left.
stop_worker() {
    local pid=${2:-$WORKER}
    stop "$pid" 15
    if [[ ${STATUS:-} == 0 ]] && wait_group_gone "$pid" 5; then
        ok "$1: worker exits 0 on SIGTERM, no process of it left"
    else
        not_ok "$1: worker exits 0 on SIGTERM, no process of it left"
        diag "status ${STATUS:-killed}"
        kill -KILL -- "-$pid" 2>/dev/null
        diag_file "$T_DIR/${T_NAME[$pid]:-worker}.err"
    fi
}

# verify SUMMARY INPUT N EXPR: every input line has one result; EXPR, a
# Python expression of the line's bytes `b` and the iterations `n`, gives
# what it must be: bytes or str for a result, Err("text") for a failed task
# whose reason contains text (with `attempts` A: Err("text", A)). Prints
# what differs.
verify() {
    "$PY" - "$@" <<'PY'
import base64, hashlib, json, sys
summary, path, n, expr = sys.argv[1:]
class Err:
    def __init__(self, text, attempts=1): self.text, self.attempts = text, attempts
with open(path, "rb") as f:
    lines = [l for l in f.read().split(b"\n") if l]
doc = json.load(open(summary))
got = {}
for entry in doc["data"]:
    if "input_base64" in entry:
        key = base64.b64decode(entry["input_base64"])
    elif "input" in entry:
        key = entry["input"].encode()
    else:
        (k, v), = entry.items(); key = k.encode(); entry = {"output": v}
    if key in got:
        print("twice:", key[:60]); sys.exit(1)
    if "error" in entry:
        got[key] = ("error", entry["error"], entry.get("attempts"))
    elif "output_base64" in entry:
        got[key] = base64.b64decode(entry["output_base64"])
    else:
        got[key] = entry.get("output", entry.get("hash")).encode()
bad = 0
for b in lines:
    want = eval(expr, {"hashlib": hashlib, "Err": Err}, {"b": b, "n": int(n)})
    have = got.get(b)
    if isinstance(want, Err):
        fine = (isinstance(have, tuple) and want.text in have[1]
                and have[2] == want.attempts)
        want = f"error containing {want.text!r}, attempts {want.attempts}"
    else:
        want = want.encode() if isinstance(want, str) else want
        fine = have == want
    if not fine:
        bad += 1
        if bad <= 5:
            print("line", b[:60], "got", str(have)[:120], "want", str(want)[:120])
if len(got) != len(set(lines)) or not doc["complete"]:
    print("results", len(got), "lines", len(set(lines)), "complete", doc["complete"])
    bad += 1
sys.exit(1 if bad else 0)
PY
}

# field FILE EXPR: a jq expression on a summary.
field() {
    jq -r "$2" "$1" 2>/dev/null
}

# wait_children PID COUNT SECONDS: true once PID has COUNT living children.
wait_children() {
    local ticks=$(($3 * 20))
    until (($(children_of "$1" | wc -l) >= $2)); do
        ((ticks-- > 0)) || return 1
        sleep 0.05
    done
}

# ---------------------------------------------------------------- 1. cli

case_dir cli
T=tcp://127.0.0.1:1 R=tcp://127.0.0.1:2
py() { env PYTHONPATH="$PKG:$FN_DIR" "$PY" -m zpipe_worker "$@"; }
if py --help >"$T_DIR/help.out" 2>&1 && grep -q -- "--function" "$T_DIR/help.out" \
        && grep -q -- "--processes" "$T_DIR/help.out"; then
    ok "cli: --help exits 0 and names --function and --processes"
else
    not_ok "cli: --help exits 0 and names --function and --processes"
    diag_file "$T_DIR/help.out"
fi
check "cli: -V says worker-py (zpipe) VERSION" \
    bash -c "env PYTHONPATH='$PKG' '$PY' -m zpipe_worker -V | grep -q '^worker-py (zpipe) [0-9]'"
py --no-such-option >/dev/null 2>"$T_DIR/bad-option.err"
check_eq "cli: an unknown option exits 64 (usage)" "$?" 64
py --function nosuchmodule:fn -p 1 >/dev/null 2>"$T_DIR/bad-function.err"
rc=$?
if [[ $rc == 78 ]] && grep -q "can't import nosuchmodule" "$T_DIR/bad-function.err"; then
    ok "cli: a module that can't be imported exits 78 and says so"
else
    not_ok "cli: a module that can't be imported exits 78 and says so"
    diag "status $rc"
    diag_file "$T_DIR/bad-function.err"
fi
py --function userfns:nosuch -p 1 >/dev/null 2>"$T_DIR/no-attribute.err"
check_eq "cli: a module without that function exits 78" "$?" 78
timeout 20 env PYTHONPATH="$PKG" "$PY" -m zpipe_worker -v not-an-endpoint -s "$R" -p 1 \
    >/dev/null 2>"$T_DIR/bad-endpoint.err"
check_eq "cli: an endpoint libzmq refuses exits 64, as the C worker" "$?" 64

# ---------------------------------------------------------------- 2. chain

tcp_case chain
CORPUS=$T_OUT/corpus.txt
make_corpus "$CORPUS"
N=100
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_py worker -p 2
WORKER=$LAST_PID
sleep 0.3
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$CORPUS" -N "$N"
VENT=$LAST_PID
finish_pipeline "chain" 0 --input "$CORPUS" --iterations "$N" --cache "$REF_CACHE"
check_eq "chain: the sink rejected none of its messages (RESULTS, STATS)" \
    "$(field "$T_DIR/sink.out" .rejected_messages)" 0
if grep -q "joined (python/sha512-chain" "$T_DIR/ventilator.err" \
        && ! grep -q "dropped a message" "$T_DIR/ventilator.err"; then
    ok "chain: the ventilator took every READY (engine python/sha512-chain)"
else
    not_ok "chain: the ventilator took every READY (engine python/sha512-chain)"
    diag_file "$T_DIR/ventilator.err"
fi

# The README's example, run as it says: the seed's hashing as a user's
# function (docs/examples/seed_chain.py), from its directory, by the launcher.
tcp_case seed-example
reliability_input "$T_OUT/seed.txt" 20
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
cd "$E2E_ROOT/docs/examples" || exit 1
ZPIPE_PYTHON=$PY start_bg worker "$PKG/zpipe-worker-py" --function seed_chain:chain -p 2 \
    -v "$T" -s "$R"
WORKER=$LAST_PID
cd - >/dev/null || exit 1
sleep 0.3
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$T_OUT/seed.txt" -N 1000
VENT=$LAST_PID
expect_exit "seed example: ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "seed example: sink exits 0 after the batch" "$SINK" 15 0
check_summary "seed example: docs/examples/seed_chain.py's hashes are hashlib's, checked as the C worker's" \
    --summary "$T_DIR/sink.out" --input "$T_OUT/seed.txt" --iterations 1000 --cache "$REF_CACHE"
stop_worker "seed example"

# ---------------------------------------------------------------- 3. functions

WORDS=$T_OUT/words.txt
write_lines "$WORDS" "zpipe" "ünïcode line" "tab	bed" "x" "str:a longer line" "str:ünï" \
    "rep:ab" "rep:" "bad:apple" "none" "empty-error" "bad:"
printf 'nul\000inside\n\377\376 not utf-8\nrep:\377\n' >>"$WORDS"
tcp_case functions
run_py "functions" "$WORDS" 3 -p 2 --function userfns:behave
check "functions: bytes or str out, the iterations passed in, an exception fails its task with its type and message" \
    verify "$T_DIR/sink.out" "$WORDS" 3 '(
        f"{len(b[4:])} bytes \u2192 {hashlib.sha256(b[4:]).hexdigest()[:12]}" if b.startswith(b"str:")
        else b[4:] * n if b.startswith(b"rep:")
        else Err("ValueError: no thanks: " + b[4:].decode()) if b.startswith(b"bad:")
        else Err("TypeError: the function returned NoneType, not bytes or str") if b == b"none"
        else Err("KeyError") if b == b"empty-error"
        else b.upper())'
check_eq "functions: the summary counts 4 failed tasks" "$(field "$T_DIR/sink.out" .failed)" 4
stop_worker "functions"

# ---------------------------------------------------------------- 4. -p 3

tcp_case processes
seq -f 'nap-%03g' 1 24 >"$T_OUT/naps.txt"
run_py "-p 3" "$T_OUT/naps.txt" 100 -p 3 --function userfns:nap
check "-p 3: every result right" \
    verify "$T_DIR/sink.out" "$T_OUT/naps.txt" 100 'hashlib.sha256(b).hexdigest()'
busy=$(field "$T_DIR/sink.out" '[.workers[] | select(.tasks > 0)] | length')
check_eq "-p 3: three processes did tasks" "$busy" 3
stop_worker "-p 3"

# ---------------------------------------------------------------- 5. SIGTERM

# Worker A (one process, --capacity 3: one task runs, two wait) and worker B
# (two processes) on 8 naps of 600 ms; A is stopped 0.3 s into the batch,
# in the middle of its first task.
tcp_case drain
seq -f 'drain-%03g' 1 8 >"$T_OUT/drain.txt"
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_py worker-a -p 1 --capacity 3 --function userfns:nap
A=$LAST_PID
start_py worker-b -p 2 --function userfns:nap
B=$LAST_PID
wait_children "$A" 1 10
wait_children "$B" 2 10
sleep 0.5
start_batch ventilator "$T_OUT/drain.txt" -N 600
sleep 0.3
a_child=$(children_of "$A" | head -n 1)
t0=$(now_s)
kill -TERM "$A"
if wait_pid "$A" 5 && [[ $STATUS == 0 ]]; then
    ok "drain: worker A exits 0 on SIGTERM ($(seconds_between "$t0" "$(now_s)") s)"
else
    not_ok "drain: worker A exits 0 on SIGTERM"
    diag "status ${STATUS:-still running}"
fi
if grep -Eq "stopping: 1 tasks running, 2 not started handed back" "$T_DIR/worker-a.err" \
        && grep -q "worker [^ ]*/$a_child handed back 2 tasks" "$T_DIR/ventilator.err" \
        && grep -q "worker [^ ]*/$a_child left; 0 of its tasks go to others" \
            "$T_DIR/ventilator.err"; then
    ok "drain: A handed back the 2 it had not started (RETURN), finished the one it ran, left (nothing to send again)"
else
    not_ok "drain: A handed back the 2 it had not started (RETURN), finished the one it ran, left (nothing to send again)"
    diag_file "$T_DIR/worker-a.err" 5
    diag_file "$T_DIR/ventilator.err" 10
fi
expect_exit "drain: ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "drain: sink exits 0" "$SINK" 15 0
check "drain: every result right" \
    verify "$T_DIR/sink.out" "$T_OUT/drain.txt" 600 'hashlib.sha256(b).hexdigest()'
check_eq "drain: nothing done twice (duplicates)" "$(field "$T_DIR/sink.out" .duplicates)" 0
a_tasks=$(field "$T_DIR/sink.out" "[.workers[] | select(.pid == ${a_child:-0}) | .tasks] | add")
check_eq "drain: the task A was running when stopped is A's result" "${a_tasks:-0}" 1
stop_worker "drain" "$B"

# The drain's deadline: A (--task-timeout 2, so 1 s to finish) is stopped
# 0.3 s into a 2.5 s nap; at the deadline it leaves (READY LEAVING) handing
# the running task back, and B (two processes) does it. Its last STATS
# (LEAVING) must say it holds nothing: the sink refuses one whose running
# list is longer than what it holds.
tcp_case drain-deadline
write_lines "$T_OUT/deadline.txt" deadline-1 deadline-2
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_py worker-a -p 1 --task-timeout 2 --function userfns:nap
A=$LAST_PID
wait_children "$A" 1 10
sleep 0.5
start_batch ventilator "$T_OUT/deadline.txt" -N 2500
start_py worker-b -p 2 --function userfns:nap
B=$LAST_PID
sleep 0.3
a_child=$(children_of "$A" | head -n 1)
t0=$(now_s)
kill -TERM "$A"
if wait_pid "$A" 5 && [[ $STATUS == 0 ]]; then
    took=$(seconds_between "$t0" "$(now_s)")
    if at_most "$took" 2; then
        ok "drain deadline: A exits 0 within --task-timeout ($took s), its task unfinished"
    else
        not_ok "drain deadline: A exits 0 within --task-timeout"
        diag "took $took s"
    fi
else
    not_ok "drain deadline: A exits 0 within --task-timeout"
    diag "status ${STATUS:-still running}"
fi
check "drain deadline: A left handing back the task it was running" \
    grep -q "worker [^ ]*/$a_child left; 1 of its tasks go to others" "$T_DIR/ventilator.err"
expect_exit "drain deadline: ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "drain deadline: sink exits 0" "$SINK" 15 0
check "drain deadline: every result right" \
    verify "$T_DIR/sink.out" "$T_OUT/deadline.txt" 2500 'hashlib.sha256(b).hexdigest()'
if [[ $(field "$T_DIR/sink.out" .rejected_messages) == 0 ]] \
        && ! grep -q "dropped a message" "$T_DIR/sink.err"; then
    ok "drain deadline: the sink took every message, the last STATS included"
else
    not_ok "drain deadline: the sink took every message, the last STATS included"
    diag_file "$T_DIR/sink.err" 5
fi
stop_worker "drain deadline" "$B"

# ---------------------------------------------------------------- 6. kill -9

tcp_case kill
seq -f 'kill-%03g' 1 12 >"$T_OUT/kill.txt"
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_py worker -p 2 --function userfns:nap
WORKER=$LAST_PID
wait_children "$WORKER" 2 10
start_batch ventilator "$T_OUT/kill.txt" -N 250
sleep 0.6
before=$(children_of "$WORKER" | sort)
victim=$(head -n 1 <<<"$before")
t0=$(now_s)
kill -KILL "$victim"
replaced=
for _ in $(seq 40); do
    if grep -q "worker [^ ]*/$victim died (pid [0-9]* replaces it)" "$T_DIR/ventilator.err"; then
        replaced=$(seconds_between "$t0" "$(now_s)")
        break
    fi
    sleep 0.05
done
if [[ -n $replaced ]] && at_most "$replaced" 2; then
    ok "kill -9: a new process names the dead one (replaces) within $replaced s"
else
    not_ok "kill -9: a new process names the dead one (replaces) within 2 s"
    diag_file "$T_DIR/ventilator.err" 10
fi
after=$(children_of "$WORKER" | sort)
check_eq "kill -9: the supervisor runs 2 processes again, one of them new" \
    "$(comm -13 <(echo "$before") <(echo "$after") | wc -l) $(wc -l <<<"$after")" "1 2"
expect_exit "kill -9: ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "kill -9: sink exits 0" "$SINK" 15 0
check "kill -9: every result right, none lost" \
    verify "$T_DIR/sink.out" "$T_OUT/kill.txt" 250 'hashlib.sha256(b).hexdigest()'
check_eq "kill -9: the summary counts the restart" \
    "$(field "$T_DIR/sink.out" '.worker_restarts >= 1')" true
stop_worker "kill -9"

# ---------------------------------------------------------------- 7. beside C

# One C process (the OpenSSL engine: one chain at a time) and one Python
# process on one batch of 30 chains that take the Python process about 0.1 s
# each; its process is killed -9 0.4 s in.
tcp_case mixed
py_rate=$("$PY" -c 'import hashlib, time
h, n, t = b"rate", 20000, time.perf_counter()
for _ in range(n): h = hashlib.sha512(h).hexdigest().encode()
print(int(n / (time.perf_counter() - t)))')
N=$(awk -v r="$py_rate" 'BEGIN { n = r * 0.1; e = 10 ^ (int(log(n) / log(10)) - 1); printf "%d", int(n / e) * e }')
diag "mixed: python3 runs $py_rate chain steps/s here; N=$N"
reliability_input "$T_OUT/mixed.txt" 30
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
start_bg worker-c "$BIN/worker" -v "$T" -s "$R" -p 1
C=$LAST_PID
start_py worker -p 1
WORKER=$LAST_PID
wait_children "$WORKER" 1 10
wait_children "$C" 1 10
c_child=$(children_of "$C")
py_first=$(children_of "$WORKER")
start_batch ventilator "$T_OUT/mixed.txt" -N "$N"
sleep 0.4
kill -KILL "$py_first"
expect_exit "mixed: ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "mixed: sink exits 0" "$SINK" 15 0
check_summary "mixed: every input once, every hash right (hashlib), none lost" \
    --summary "$T_DIR/sink.out" --input "$T_OUT/mixed.txt" --iterations "$N" --cache "$REF_CACHE"
show_counts "mixed" "$T_DIR/sink.out"
c_tasks=$(field "$T_DIR/sink.out" "[.workers[] | select(.pid == ${c_child:-0}) | .tasks] | add")
py_tasks=$(field "$T_DIR/sink.out" \
    "[.workers[] | select(.pid != ${c_child:-0}) | .tasks] | add")
if ((${c_tasks:-0} > 0 && ${py_tasks:-0} > 0)); then
    ok "mixed: the C process did $c_tasks tasks, the Python processes $py_tasks"
else
    not_ok "mixed: both the C and the Python processes did tasks"
    diag "C: ${c_tasks:-none}, Python: ${py_tasks:-none}"
    diag "$(jq -c .workers "$T_DIR/sink.out" 2>/dev/null)"
fi
check "mixed: the ventilator took the killed Python process's replacement at once" \
    grep -q "worker [^ ]*/$py_first died (pid [0-9]* replaces it)" "$T_DIR/ventilator.err"
stop_worker "mixed: Python" "$WORKER"
stop_worker "mixed: C" "$C"

# ---------------------------------------------------------------- 8. crashes

tcp_case crashy
write_lines "$T_OUT/crashy.txt" one two crash three four five
run_py "crashy" "$T_OUT/crashy.txt" 1 -p 2 --function userfns:crashy
check "crashy: the task that kills its process fails after 3 attempts, the rest are done" \
    verify "$T_DIR/sink.out" "$T_OUT/crashy.txt" 1 \
    'Err("crashed its process on this task 3 times (last: killed by signal 9", 3) if b == b"crash" else b[::-1]'
if wait_children "$WORKER" 2 5; then
    ok "crashy: the worker runs its 2 processes again"
else
    not_ok "crashy: the worker runs its 2 processes again"
    diag_file "$T_DIR/worker.err"
fi
stop_worker "crashy"

# ---------------------------------------------------------------- 9. hang

tcp_case hang
write_lines "$T_OUT/hang.txt" one hang two three
run_py "hang" "$T_OUT/hang.txt" 1 -p 1 --task-timeout 1 --function userfns:hang
check "hang: the function past --task-timeout 1 fails its task, the rest are done" \
    verify "$T_DIR/sink.out" "$T_OUT/hang.txt" 1 \
    'Err("timed out after 1 s") if b == b"hang" else b[::-1]'
check "hang: its process left and another took its place" \
    grep -q "exited with status 75; restarting" "$T_DIR/worker.err"
stop_worker "hang"

# ---------------------------------------------------------------- 10. heartbeat

# A 3.5 s task, past the ventilator's 3 s heartbeat timeout, CPU bound in pure
# Python: the function's thread must not starve the loop's (its heartbeat).
tcp_case heartbeat
write_lines "$T_OUT/long.txt" long-1
run_py "heartbeat (spin)" "$T_OUT/long.txt" 3500 -p 1 --function userfns:spin
if [[ $(field "$T_DIR/sink.out" .redelivered) == 0 ]] \
        && ! grep -q "went silent" "$T_DIR/ventilator.err"; then
    ok "heartbeat: a 3.5 s pure-Python task keeps its process alive for the ventilator"
else
    not_ok "heartbeat: a 3.5 s pure-Python task keeps its process alive for the ventilator"
    diag_file "$T_DIR/ventilator.err" 10
fi
stop_worker "heartbeat"

# ---------------------------------------------------------------- 11. refused

tcp_case refused
write_lines "$T_OUT/refused.txt" one two
run_py "refused" "$T_OUT/refused.txt" 11 -p 1 --max-iterations 10
check "refused: a task above --max-iterations is a failed result that says why (attempts 0)" \
    verify "$T_DIR/sink.out" "$T_OUT/refused.txt" 11 \
    'Err("refused: 11 iterations is above this worker'"'"'s --max-iterations 10", 0)'
stop_worker "refused"

# ---------------------------------------------------------------- 12. late sink

tcp_case late-sink
seq -f 'late-%03g' 1 8 >"$T_OUT/late.txt"
start_py worker -p 2 --function userfns:nap
WORKER=$LAST_PID
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$T_OUT/late.txt" -N 50
VENT=$LAST_PID
sleep 1.5
start_bg sink "$BIN/sink" -b "$R"
SINK=$LAST_PID
expect_exit "late sink: ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "late sink: sink exits 0" "$SINK" 15 0
check "late sink: every result right" \
    verify "$T_DIR/sink.out" "$T_OUT/late.txt" 50 'hashlib.sha256(b).hexdigest()'
stop_worker "late sink"

finish
