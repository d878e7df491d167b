#!/usr/bin/env bash
# tests/e2e/logging.sh - one line per event: on stderr as "<level>: <date>
# <stage>[<pid>]: <message>" (debug lines only with -v / the worker's
# --verbose), and with --log-syslog through syslog(3) instead, with the
# stage as ident, the pid, facility daemon and the level as priority.
#
# glibc's syslog always writes to /dev/log. So that the test neither needs a
# syslog daemon nor touches the machine's /dev, the stages run in a private
# mount namespace (root only: `unshare --mount`) whose /dev is a fresh tmpfs
# with the usual devices bound in and /dev/log a symlink to a datagram socket
# this test listens on.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

LINE_RE='^[EWID]: [0-9]{2}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} '

# 1. On stderr: every line of every stage has the level, the date, the stage
# and the pid of the process that wrote it; -v adds debug lines.
case_dir stderr
write_lines "$T_DIR/input.txt" a b c
free_ports 2
SINK_ARGS=(-v)
WORKER_ARGS=(--verbose -p 1)
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -i "$T_DIR/input.txt" -N 10 -v
finish_pipeline "stderr" 0 --input "$T_DIR/input.txt" --iterations 10
SINK_ARGS=()
WORKER_ARGS=()
for stage in sink ventilator worker; do
    pid=$SINK
    [[ $stage == ventilator ]] && pid=$VENT
    [[ $stage == worker ]] && pid=$WORKER
    bad=$(grep -Evc "$LINE_RE$stage\\[[0-9]+\\]: " "$T_DIR/$stage.err")
    check_eq "stderr: every $stage line is '<level>: <date> ${stage}[<pid>]: ...'" "$bad" 0
    if [[ $stage == worker ]]; then
        # The supervisor and its processes: the pid says which wrote it.
        check "stderr: the worker's supervisor logs with its own pid" \
            grep -Eq "$LINE_RE""worker\\[$pid\\]: " "$T_DIR/worker.err"
        check "stderr: the worker's processes log with theirs" \
            grep -Eq "$LINE_RE""worker\\[[0-9]+\\]: " <(grep -v "worker\\[$pid\\]" "$T_DIR/worker.err")
    else
        check "stderr: $stage logs with its pid" \
            grep -Eq "$LINE_RE$stage\\[$pid\\]: " "$T_DIR/$stage.err"
    fi
    check "stderr: $stage -v/--verbose logs debug lines (D:)" grep -q '^D: ' "$T_DIR/$stage.err"
done
# Without -v: no debug lines.
case_dir stderr-quiet-default
write_lines "$T_DIR/input.txt" a
free_ports 2
start_pipeline "sink worker ventilator" "tcp://127.0.0.1:${PORTS[0]}" "tcp://127.0.0.1:${PORTS[1]}" \
    -i "$T_DIR/input.txt" -N 10
finish_pipeline "default" 0 --input "$T_DIR/input.txt" --iterations 10
check "default: no debug lines without -v" \
    bash -c '! grep -q "^D: " "$1"/{sink,ventilator,worker}.err' _ "$T_DIR"

# 2. --log-syslog.
case_dir syslog
if [[ $(id -u) != 0 ]] || ! command -v unshare >/dev/null \
        || ! unshare --mount --propagation private true 2>/dev/null; then
    skip "--log-syslog" "needs root and unshare --mount (a private /dev/log)"
    finish
fi
# Under /tmp: a socket path must stay within sun_path's 108 bytes.
SYS_DIR=$(mktemp -d /tmp/zpipe-syslog.XXXXXX)
trap 'stop_all; rm -rf "$SYS_DIR"' EXIT
SOCK=$SYS_DIR/log
start_bg listener python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[2] + ".ready", "w").close()
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\n").replace(b"\n", b" ") + b"\n")' "$SOCK" "$T_DIR/syslog.txt"
LISTENER=$LAST_PID
# The namespace: held open by a sleeping shell that the stages join with
# nsenter (which execs them in place: their pids are the stages').
start_bg namespace unshare --mount --propagation private sh -c '
    set -e
    dir=$1 sock=$2
    mkdir -p "$dir/dev"
    mount --bind /dev "$dir/dev"
    mount -t tmpfs -o mode=0755 zpipe-dev /dev
    for node in null zero full random urandom tty; do
        : >"/dev/$node"
        mount --bind "$dir/dev/$node" "/dev/$node"
    done
    ln -s /proc/self/fd /dev/fd
    ln -s "$sock" /dev/log
    : >"$dir/ready"
    exec sleep 3600' namespace "$SYS_DIR" "$SOCK"
NS=$LAST_PID
ticks=$((WAIT * 10))
until [[ -e $SYS_DIR/ready && -e $T_DIR/syslog.txt.ready ]]; do
    if ! zp_alive "$NS" || ! zp_alive "$LISTENER" || ((ticks-- <= 0)); then
        not_ok "syslog: a private /dev/log"
        diag_file "$T_DIR/namespace.err"
        diag_file "$T_DIR/listener.err"
        finish
    fi
    sleep 0.1
done
ok "syslog: a private /dev/log (mount namespace) with a listener"
in_ns=(nsenter -t "$NS" -m --)
write_lines "$T_DIR/input.txt" one two three
free_ports 2
T=tcp://127.0.0.1:${PORTS[0]} R=tcp://127.0.0.1:${PORTS[1]}
start_bg sink "${in_ns[@]}" "$BIN/sink" -b "$R" --log-syslog -v
SINK=$LAST_PID
start_bg worker "${in_ns[@]}" "$BIN/worker" -v "$T" -s "$R" -p 1 --log-syslog --verbose
WORKER=$LAST_PID
start_bg ventilator "${in_ns[@]}" "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/input.txt" -N 10 \
    --log-syslog
VENT=$LAST_PID
expect_exit "syslog: the ventilator exits 0" "$VENT" "$WAIT" 0
expect_exit "syslog: the sink exits 0" "$SINK" 15 0
check_summary "syslog: the summary checks out" --summary "$T_DIR/sink.out" \
    --input "$T_DIR/input.txt" --iterations 10
stop "$WORKER" 10
check_eq "syslog: the worker exits 0 on SIGTERM" "$STATUS" 0
# A sink that cannot write its output logs an error; a ventilator stopped
# before its batch is done, a warning.
start_bg badsink "${in_ns[@]}" "$BIN/sink" -b "tcp://127.0.0.1:${PORTS[1]}" --log-syslog \
    -o "$SYS_DIR/no/such/dir/out.json"
BADSINK=$LAST_PID
expect_exit "syslog: a sink that can't open its output exits 74" "$BADSINK" 15 74
start_bg lonely "${in_ns[@]}" "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/input.txt" --log-syslog
LONELY=$LAST_PID
wait_for_line "$T_DIR/syslog.txt" "ventilator\\[$LONELY\\]: " "$WAIT"
stop "$LONELY" 10
check_eq "syslog: the ventilator stopped early exits 75" "$STATUS" 75
# Every datagram is in: the stages have exited.
stop "$LISTENER" 5

# <PRI> = facility daemon (3) * 8 + level: err 3, warning 4, info 6, debug 7.
syslog_has() {
    grep -Eq "^<$1>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} $2\\[$3\\]: $4" "$T_DIR/syslog.txt"
}
check "syslog: sink info line, ident sink, its pid, daemon.info (<30>)" \
    syslog_has 30 sink "$SINK" "collecting results at $R"
check "syslog: sink debug line with -v (<31>)" syslog_has 31 sink "$SINK" ""
check "syslog: ventilator info line (<30>)" syslog_has 30 ventilator "$VENT" "batch [0-9a-f]{16} done"
check "syslog: worker supervisor info line (<30>)" syslog_has 30 worker "$WORKER" ""
check "syslog: a worker process logs with its own pid" \
    grep -Eq "^<3[01]>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} worker\\[[0-9]+\\]: " \
    <(grep -v "worker\\[$WORKER\\]" "$T_DIR/syslog.txt")
check "syslog: worker debug line with --verbose (<31>)" \
    grep -Eq "^<31>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} worker\\[" "$T_DIR/syslog.txt"
check "syslog: an error is daemon.err (<27>), naming the file" \
    syslog_has 27 sink "$BADSINK" "can't open $SYS_DIR/no/such/dir/out.json"
check "syslog: a warning is daemon.warning (<28>)" \
    syslog_has 28 ventilator "$LONELY" "interrupted"
for stage in sink worker ventilator badsink lonely; do
    check_eq "syslog: $stage logs nothing on stderr" \
        "$(grep -Ec '^[EWID]: ' "$T_DIR/$stage.err")" 0
done
stop "$NS" 5
finish
