# tests/e2e/lib.sh - the end-to-end harness. Source it from tests/e2e/*.sh.
# shellcheck shell=bash disable=SC2034  # (PORTS, STATUS... are read by the suites)
#
# TAP output: every check prints `ok N - desc` or `not ok N - desc` followed by
# `#` diagnostics; `finish` prints the plan and exits 1 if anything failed.
#
# Processes: `start_bg NAME CMD...` starts CMD in its own process group (so a
# worker's child processes can be found again), records its PID, and logs its
# stdout and stderr into the case directory. On exit (normal, error, TERM from
# a timeout) every recorded process that is still running gets SIGTERM, then
# SIGKILL for its whole group after a bound. Nothing is ever signalled by name.
#
# Every wait is bounded: `wait_pid PID SECONDS`.

set -u

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../../scripts/lib.sh
. "$E2E_ROOT/scripts/lib.sh"

BIN=${ZP_BIN:-$E2E_ROOT/bin}
# Absolute, so that a case that runs a stage from elsewhere (nsenter into a
# namespace, a cd) finds it: `make check` passes ZP_BIN=build/asan/bin.
[[ $BIN == /* ]] || BIN=$PWD/$BIN
CHECK_PY=$E2E_ROOT/tests/ref/check.py
# Bound for a small pipeline run (seconds); generous for slow CI machines.
WAIT=${ZP_E2E_WAIT:-60}
TOOLS=${ZP_TOOLS:-$E2E_ROOT/build/tools}
[[ $TOOLS == /* ]] || TOOLS=$PWD/$TOOLS

T_SUITE=$(basename "${0%.sh}")
T_OUT=$E2E_ROOT/tests/out/$T_SUITE
rm -rf "$T_OUT"
mkdir -p "$T_OUT"
T_DIR=$T_OUT           # the current case's directory (see `case_dir`)
T_NUM=0
T_FAILED=0
T_PIDS=()              # every process started with start_bg
declare -A T_NAME=()   # pid -> name, for messages
declare -A T_STATUS=() # pid -> exit status, once reaped
LAST_PID=
STATUS=

# ---------------------------------------------------------------- TAP

ok() {
    T_NUM=$((T_NUM + 1))
    echo "ok $T_NUM - $*"
}

not_ok() {
    T_NUM=$((T_NUM + 1))
    T_FAILED=$((T_FAILED + 1))
    echo "not ok $T_NUM - $*"
}

skip() {
    T_NUM=$((T_NUM + 1))
    echo "ok $T_NUM - $1 # SKIP ${2:-}"
}

# diag TEXT...: each argument (each of its lines) as a diagnostic (TAP comment).
diag() {
    local arg line
    for arg in "$@"; do
        while IFS= read -r line; do
            echo "#   $line"
        done <<<"$arg"
    done
}

# diag_file FILE [LINES]: the last LINES (default 15) lines of FILE as diagnostics.
diag_file() {
    local file=$1 lines=${2:-15}
    if [[ ! -s $file ]]; then
        echo "#   ($(basename "$file"): empty)"
        return
    fi
    echo "#   --- $(basename "$file") (last $lines lines; full: ${file#"$E2E_ROOT"/}) ---"
    tail -n "$lines" "$file" | cut -c1-300 | sed 's/^/#   | /'
}

# check DESC CMD [ARGS...]: ok if CMD succeeds; otherwise not ok with its output.
check() {
    local desc=$1 out
    shift
    if out=$("$@" 2>&1); then
        ok "$desc"
    else
        not_ok "$desc"
        diag "command: $*"
        [[ -n $out ]] && diag "$(printf '%s\n' "$out" | tail -n 25 | cut -c1-300)"
    fi
}

# check_eq DESC GOT WANT
check_eq() {
    if [[ $2 == "$3" ]]; then
        ok "$1"
    else
        not_ok "$1"
        diag "got:      $2" "expected: $3"
    fi
}

# finish: print the plan and leave with 0 only if every check passed.
finish() {
    echo "1..$T_NUM"
    if ((T_FAILED > 0)); then
        echo "# $T_FAILED of $T_NUM failed; logs in ${T_OUT#"$E2E_ROOT"/}"
        exit 1
    fi
    exit 0
}

# ---------------------------------------------------------------- files

# case_dir NAME: start a new case; its logs and files go to $T_DIR.
case_dir() {
    T_DIR=$T_OUT/$1
    mkdir -p "$T_DIR"
}

# need_bins: fail (not skip) the whole suite when the stages are not built.
need_bins() {
    local b missing=()
    for b in ventilator worker sink; do
        [[ -x $BIN/$b ]] || missing+=("$BIN/$b")
    done
    if ((${#missing[@]})); then
        not_ok "the stages are built"
        diag "missing: ${missing[*]} (run 'make all')"
        finish
    fi
}

# write_lines FILE LINE...: one line per argument, each ended by LF.
write_lines() {
    local file=$1
    shift
    printf '%s\n' "$@" >"$file"
}

# write_bytes FILE PYTHON-BYTES-EXPR: exact bytes, e.g. 'b"a\r\nb\x00c\n"'.
write_bytes() {
    python3 -c 'import sys; open(sys.argv[1], "wb").write(eval(sys.argv[2]))' "$1" "$2"
}

# make_corpus FILE: the awkward input: 200 non-empty strings (quotes,
# backslashes, tabs, non-ASCII and invalid UTF-8, CRLF, NUL, a 100 KB line,
# JSON-looking text, duplicates) with empty lines between them and no LF at
# the very end. Deterministic.
make_corpus() {
    python3 - "$1" <<'EOF'
import random, sys
rng = random.Random(20240229)
fixed = [
    b'plain ascii line',
    b'with "double quotes" and \'single\'',
    b'back\\slash \\\\ and \\n \\u0000 \\" escapes, literally',
    b'tab\there\tand\tthere',
    b'\t',
    b' ',
    b'  leading and trailing spaces  ',
    'h\u00e9llo w\u00f6rld'.encode(),
    '\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8'.encode(),
    'emoji \U0001F600 \U0001F3F3\uFE0F\u200D\U0001F308'.encode(),
    '\u0627\u0644\u0639\u0631\u0628\u064a\u0629 right-to-left'.encode(),
    'combining e\u0301 and \u2028 line separator \u2029'.encode(),
    '\ufeffstarts with a BOM'.encode(),
    'max code point \U0010FFFF'.encode(),
    b'latin-1 caf\xe9 is not UTF-8',
    b'\xff\xfe\xfd',
    b'lone continuation \x80 byte',
    b'overlong slash \xc0\xaf',
    b'surrogate \xed\xa0\x80 half',
    b'beyond U+10FFFF \xf4\x90\x80\x80',
    b'truncated euro \xe2\x82',
    b'crlf line',                    # written with CRLF below
    b'nul\x00inside',
    b'\x00',
    b'\x00\xff nul and invalid',
    b'control \x01\x02\x1b[31m\x7f chars',
    b'carriage\rreturn inside',
    b'two crs at the end\r',         # written with CRLF: one CR stays
    b'{"data": [1, 2], "key": "value"}',
    b'</script><script>alert(1)</script>',
    b'input_base64',
    b'hash',
    b'duplicate line',
    b'duplicate line',
    b'a',
    b'x' * 1000,
    bytes(rng.choice(b'abcdefghijklmnopqrstuvwxyz0123456789 ') for _ in range(100 * 1024)),
]
lines = list(fixed)
while len(lines) < 200:
    kind = len(lines) % 4
    n = rng.randint(1, 80)
    if kind == 0:
        s = bytes(rng.randint(0x20, 0x7e) for _ in range(n))
    elif kind == 1:
        s = ''.join(chr(rng.choice([rng.randint(0x20, 0x7e), rng.randint(0xa0, 0x2fff),
                                    rng.randint(0x1f300, 0x1faff)])) for _ in range(n)).encode()
    elif kind == 2:
        s = bytes(rng.choice([b for b in range(256) if b not in (10, 13)]) for _ in range(n))
    else:
        s = b'%d\t"%s"\\' % (len(lines), bytes(rng.randint(0x41, 0x5a) for _ in range(n)))
    lines.append(s)
out = bytearray()
for i, s in enumerate(lines):
    if i % 17 == 3:
        out += b'\n'                 # an empty line
    if i % 29 == 5:
        out += b'\r\n'               # a line that is only CR: empty too
    out += s
    if s in (b'crlf line', b'two crs at the end\r') or i % 23 == 7:
        out += b'\r'
    if i != len(lines) - 1:
        out += b'\n'                 # no LF after the very last line
open(sys.argv[1], 'wb').write(bytes(out))
EOF
}

# ---------------------------------------------------------------- processes

# start_bg NAME CMD [ARGS...]: start CMD in the background in its own process
# group; stdout to $T_DIR/NAME.out, stderr to $T_DIR/NAME.err, stdin from
# $STDIN if set, else /dev/null. The PID is in LAST_PID.
start_bg() {
    local name=$1
    shift
    # setsid execs in place here (a background job of a non-interactive shell
    # is never a group leader), so $! is CMD itself and its group id.
    setsid "$@" <"${STDIN:-/dev/null}" >"$T_DIR/$name.out" 2>"$T_DIR/$name.err" &
    LAST_PID=$!
    T_PIDS+=("$LAST_PID")
    T_NAME[$LAST_PID]=$name
}

# wait_pid PID SECONDS: 0 if it exited within SECONDS (status in STATUS), 1 if
# it is still running. Safe to call again once it has exited.
wait_pid() {
    local pid=$1
    if [[ -n ${T_STATUS[$pid]:-} ]]; then
        STATUS=${T_STATUS[$pid]}
        return 0
    fi
    if zp_wait_pid "$pid" "$2"; then
        STATUS=$ZP_STATUS
        T_STATUS[$pid]=$STATUS
        return 0
    fi
    STATUS=
    return 1
}

# group_alive PGID: true while any process of that group is left.
group_alive() {
    kill -0 -- "-$1" 2>/dev/null
}

# stop PID [GRACE]: SIGTERM to PID; after GRACE seconds (default 10) SIGKILL to
# its whole group. Exit status in STATUS. Returns 1 if SIGKILL was needed.
# Processes the leader leaves behind in its group are left for the caller to
# check (wait_group_gone) and for stop_all.
stop() {
    local pid=$1 grace=${2:-10} rc=0
    if [[ -z ${T_STATUS[$pid]:-} ]]; then
        kill -TERM "$pid" 2>/dev/null
        if ! wait_pid "$pid" "$grace"; then
            rc=1
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
            wait_pid "$pid" 5
        fi
    fi
    STATUS=${T_STATUS[$pid]:-}
    return $rc
}

# wait_group_gone PGID SECONDS: true once no process of the group is left.
wait_group_gone() {
    local ticks
    ticks=$(awk -v s="$2" 'BEGIN { printf "%d", s * 10 }')
    while group_alive "$1"; do
        ((ticks-- > 0)) || return 1
        sleep 0.1
    done
}

# stop_all: stop every recorded process still running (the EXIT trap).
stop_all() {
    local pid
    for pid in "${T_PIDS[@]}"; do
        if zp_alive "$pid" || group_alive "$pid"; then
            stop "$pid" 5 >/dev/null 2>&1
            # Whatever the leader left behind in its group goes too.
            kill -KILL -- "-$pid" 2>/dev/null
        fi
    done
}

t_on_signal() {
    trap - TERM INT
    echo "# interrupted (signal $1): stopping every process this suite started"
    not_ok "$T_SUITE was interrupted (signal $1), probably by its time limit"
    stop_all
    exit 1
}
trap stop_all EXIT
trap 't_on_signal TERM' TERM
trap 't_on_signal INT' INT

# expect_exit DESC PID SECONDS WANT...: the process exits within SECONDS with
# one of the WANT statuses; its stderr is shown otherwise.
expect_exit() {
    local desc=$1 pid=$2 secs=$3 name
    shift 3
    name=${T_NAME[$pid]:-$pid}
    if ! wait_pid "$pid" "$secs"; then
        not_ok "$desc"
        diag "$name (pid $pid) still running after ${secs}s; stopping it"
        stop "$pid" 5
        diag_file "$T_DIR/$name.err"
        return 1
    fi
    local want
    for want in "$@"; do
        if [[ $STATUS == "$want" ]]; then
            ok "$desc"
            return 0
        fi
    done
    not_ok "$desc"
    local wanted
    wanted=$(printf ' or %s' "$@")
    diag "$name (pid $pid) exited with status $STATUS, expected ${wanted# or }"
    diag_file "$T_DIR/$name.err"
    return 1
}

# check_summary DESC CHECK-ARGS...: run tests/ref/check.py; ok if it passes.
check_summary() {
    local desc=$1 out
    shift
    if out=$(python3 "$CHECK_PY" "$@" 2>&1); then
        ok "$desc"
    else
        not_ok "$desc"
        diag "command: check.py $*"
        diag "$(printf '%s\n' "$out" | tail -n 30)"
    fi
}

# stdout_empty DESC FILE: stages log on stderr only.
stdout_empty() {
    if [[ ! -s $2 ]]; then
        ok "$1"
    else
        not_ok "$1"
        diag "$(wc -c <"$2") bytes on stdout:"
        diag_file "$2" 5
    fi
}

# free_ports N: N free loopback TCP ports into the array PORTS; the suite
# fails when none can be had.
free_ports() {
    local ports
    PORTS=()
    if ! ports=$(zp_free_ports "$1") || [[ -z $ports ]]; then
        not_ok "free loopback ports"
        finish
    fi
    read -r -a PORTS <<<"$ports"
}

# ---------------------------------------------------------------- the engine

# Every worker a suite starts runs the engine ENGINE: ZP_E2E_ENGINE, or the
# suite's own default (a suite sets E2E_ENGINE before sourcing this file),
# or auto, the fastest this CPU has. For any engine but auto, $BIN is a
# directory of this suite's own in which `worker` is `worker --engine ENGINE`
# (exec'd: same PID, same name), the other stages the real ones. A suite
# that checks the worker's own options (--engine among them) sets
# E2E_OWN_OPTIONS=1 before sourcing this file and gets the real worker.
ENGINE=${ZP_E2E_ENGINE:-${E2E_ENGINE:-auto}}
[[ -n ${E2E_OWN_OPTIONS:-} ]] && ENGINE=auto
if [[ $ENGINE != auto ]]; then
    T_BIN=$T_OUT/bin
    mkdir -p "$T_BIN"
    for b in "$BIN"/*; do
        [[ $(basename "$b") == worker ]] || ln -sf "$b" "$T_BIN/"
    done
    printf '#!/usr/bin/env bash\nexec %q --engine %q "$@"\n' "$BIN/worker" "$ENGINE" \
        >"$T_BIN/worker"
    chmod +x "$T_BIN/worker"
    BIN=$T_BIN
fi

# Work sized to the machine. A fault case needs its batch to last long
# enough for the fault to take effect (a worker's 3 s heartbeat timeout, a
# restart), and how long N iterations take depends on the CPU and on the
# engine: the AVX-512 engine runs 8 chains at once where OpenSSL runs one.
# So a case does not name N: it asks iterations_for how many make its tasks
# last the time it needs, from what ENGINE does here: "LANES STEPS-PER-
# SECOND-OF-ONE-CHAIN", measured by build/tools/chainrate once per run of
# scripts/run-tests (it keeps them in ZP_RATE_DIR) or else once per suite.
CHAIN_LANES='' CHAIN_RATE=''
measure_engine() {
    [[ -n $CHAIN_RATE ]] && return 0
    local dir=${ZP_RATE_DIR:-$T_OUT} measured=
    [[ -s $dir/$ENGINE ]] && measured=$(cat "$dir/$ENGINE")
    if [[ -z $measured ]]; then
        if ! measured=$("$TOOLS/chainrate" "$ENGINE" 300 2>"$T_OUT/chainrate.err"); then
            not_ok "the $ENGINE engine's rate is measured ($TOOLS/chainrate)"
            diag_file "$T_OUT/chainrate.err"
            finish
        fi
        mkdir -p "$dir" && echo "$measured" >"$dir/$ENGINE"
        # On stderr: this may run in a $(...) whose output is a number.
        echo "# engine $ENGINE measured: LANES STEPS/S-PER-CHAIN = $measured" >&2
    fi
    read -r CHAIN_LANES CHAIN_RATE <<<"$measured"
}

# iterations_for TASKS PROCESSES SECONDS: the iterations per task for which
# TASKS tasks on PROCESSES worker processes (a core each) take about SECONDS:
# they run in rounds of LANES x PROCESSES chains at CHAIN_RATE steps a
# second each. Two significant digits, so that the suites that ask the
# same share the reference hashes (REF_CACHE).
iterations_for() {
    measure_engine
    awk -v t="$1" -v p="$2" -v s="$3" -v l="$CHAIN_LANES" -v r="$CHAIN_RATE" 'BEGIN {
        rounds = int((t + l * p - 1) / (l * p))
        n = s * r / rounds
        e = 10 ^ (int(log(n) / log(10)) - 1)
        n = int(n / e) * e
        printf "%d\n", n < 1 ? 1 : n }'
}

# task_seconds N: how long one task of N iterations takes here (3 decimals).
task_seconds() {
    measure_engine
    awk -v n="$1" -v r="$CHAIN_RATE" 'BEGIN { printf "%.3f", n / r }'
}

# ---------------------------------------------------------------- pipelines

SINK_ARGS=()
WORKER_ARGS=()

# start_pipeline ORDER TASKS RESULTS [VENTILATOR-ARGS...]: start the three
# stages in ORDER (e.g. "sink worker ventilator") on the task endpoint TASKS and
# the result endpoint RESULTS, with SINK_ARGS and WORKER_ARGS. Their PIDs end
# up in SINK, WORKER and VENT; logs in $T_DIR/{sink,worker,ventilator}.{out,err}.
start_pipeline() {
    local order=$1 tasks=$2 results=$3 stage first=1
    shift 3
    for stage in $order; do
        # A pause between starts so the order is the order, not a race.
        ((first)) || sleep 0.3
        first=0
        case $stage in
            sink) start_bg sink "$BIN/sink" -b "$results" "${SINK_ARGS[@]}"
                  SINK=$LAST_PID ;;
            worker) start_bg worker "$BIN/worker" -v "$tasks" -s "$results" "${WORKER_ARGS[@]}"
                    WORKER=$LAST_PID ;;
            ventilator) start_bg ventilator "$BIN/ventilator" -b "$tasks" -s "$results" "$@"
                        VENT=$LAST_PID ;;
            *) echo "start_pipeline: unknown stage $stage" >&2; return 1 ;;
        esac
    done
}

# tcp_case NAME: case_dir NAME on two free loopback ports: the task endpoint
# in T, the result endpoint in R.
tcp_case() {
    case_dir "$1"
    free_ports 2
    T=tcp://127.0.0.1:${PORTS[0]} R=tcp://127.0.0.1:${PORTS[1]}
}

# start_batch NAME INPUT [VENTILATOR-ARGS...]: the ventilator NAME (PID in
# VENT) on T and R, one task a line of INPUT. True once it has announced the
# batch, false if not within 20 s: a case that hurts a stage mid-batch waits
# for this first, or it may hurt it before there is anything to lose.
start_batch() {
    local name=$1 input=$2 lines
    shift 2
    lines=$(wc -l <"$input")
    start_bg "$name" "$BIN/ventilator" -b "$T" -s "$R" -i "$input" "$@"
    VENT=$LAST_PID
    wait_for_line "$T_DIR/$name.err" "batch [0-9a-f]+: $lines tasks" 20
}

# finish_pipeline LABEL VENT-STATUS CHECK-ARGS...: the checks every complete
# run gets: the ventilator exits with VENT-STATUS once the sink has written
# the whole summary (its stdout is read at that moment), the sink exits 0,
# the summary passes check.py, the worker stops on SIGTERM with status 0, and
# the stages print nothing on stdout but the sink's summary.
finish_pipeline() {
    local label=$1 vent_status=$2
    shift 2
    local summary=${SUMMARY:-$T_DIR/sink.out}
    if expect_exit "$label: ventilator exits $vent_status" "$VENT" "$WAIT" "$vent_status"; then
        cp "$summary" "$T_DIR/summary-when-ventilator-exited.json" 2>/dev/null \
            || : >"$T_DIR/summary-when-ventilator-exited.json"
        check_summary "$label: the summary is complete when the ventilator exits" \
            --summary "$T_DIR/summary-when-ventilator-exited.json" "$@"
    fi
    expect_exit "$label: sink exits 0 after the batch" "$SINK" 15 0
    check_summary "$label: summary checks out" --summary "$summary" "$@"
    local killed=
    stop "$WORKER" 10 || killed=", it needed SIGKILL"
    if [[ -z $killed && $STATUS == 0 ]]; then
        ok "$label: worker exits 0 on SIGTERM"
    else
        not_ok "$label: worker exits 0 on SIGTERM"
        diag "status ${STATUS:-unknown}$killed"
        diag_file "$T_DIR/worker.err"
    fi
    # SIGTERM went to the worker's main process only: none of its processes
    # may outlive it.
    if wait_group_gone "$WORKER" 3; then
        ok "$label: no worker process is left after the worker exits"
    else
        not_ok "$label: no worker process is left after the worker exits"
        diag "processes of group $WORKER still alive 3 s after pid $WORKER exited; killing them"
        kill -KILL -- "-$WORKER" 2>/dev/null
    fi
    cat "$T_DIR/ventilator.out" "$T_DIR/worker.out" >"$T_DIR/stdout-of-others.txt"
    stdout_empty "$label: ventilator and worker print nothing on stdout" \
        "$T_DIR/stdout-of-others.txt"
}

# ---------------------------------------------------------------- reliability

# The reference hashes of every run are kept here by input digest (check.py
# --cache), so that the reliability suites, which run the same lines at the
# same iterations again and again, compute each chain with hashlib once.
REF_CACHE=$E2E_ROOT/tests/out/refcache.txt

# reliability_input FILE COUNT: COUNT distinct lines, the same in every suite.
reliability_input() {
    python3 -c 'import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(f"zpipe-reliability-{i:04d}\n")' "$1" "$2"
}

# now_s: seconds since the epoch, with fractions.
now_s() {
    date +%s.%N
}

# seconds_between T0 T1: T1 - T0, 3 decimals.
seconds_between() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'
}

# at_most X LIMIT: true when X <= LIMIT (fractions allowed).
at_most() {
    awk -v x="$1" -v l="$2" 'BEGIN { exit !(x <= l) }'
}

# wait_for_line FILE REGEX SECONDS: true once a line of FILE matches REGEX
# (extended), polling every 0.05 s for at most SECONDS.
wait_for_line() {
    local file=$1 regex=$2 ticks
    ticks=$(awk -v s="$3" 'BEGIN { printf "%d", s * 20 }')
    until grep -Eq -- "$regex" "$file" 2>/dev/null; do
        ((ticks-- > 0)) || return 1
        sleep 0.05
    done
}

# children_of PID: the PIDs of PID's living child processes (zombies left
# out), one per line: found by parent PID, never by name.
children_of() {
    ps -o pid=,stat= --ppid "$1" 2>/dev/null | awk '$2 !~ /^Z/ { print $1 }'
}

# json_field FILE FIELD: the value of a top-level member of a summary.
json_field() {
    jq -r ".$2 // empty" "$1" 2>/dev/null
}

# show_counts LABEL FILE: the reliability fields of a summary, as a
# diagnostic line (they are checked by check.py; this shows them).
show_counts() {
    diag "$1: $(jq -c '{tasks, results, totaltime_in_s, duplicates, redelivered, worker_restarts, lost}' "$2" 2>/dev/null)"
}
