#!/usr/bin/env bash
# tests/e2e/curve.sh - CURVE on every link, with authentication.
#
# 1. Options: a mixture of CURVE and plain text is refused (64) and says
#    which option is missing; unusable certificates (missing, malformed, a
#    secret readable by others, two halves of different pairs) stop the
#    stage with 78; scripts/zpipe-keygen writes a pair with the right modes
#    and never overwrites one.
# 2. Authentication: a worker with an unknown key and a plain-text worker
#    get no task and push nothing into the sink, and both servers log the
#    refusal; a worker whose key is not in the allow directories yet is
#    refused too; its certificate is copied in and nothing is restarted by
#    hand: the servers reload the directory, and the worker's refused
#    process exits and is started again by its supervisor (libzmq does not
#    retry a refused handshake); then it gets the batch, which completes. The
#    allow directories also hold a duplicate certificate and a secret one,
#    which are ignored (czmq's zauth would abort on the duplicate).
# 3. Encryption: tcpdump captures the loopback traffic of a CURVE run and of
#    a plain run of the same input; the plain capture contains the input
#    strings (so the check can fail), the CURVE one contains none of them.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

KEYGEN=$E2E_ROOT/scripts/zpipe-keygen

# expect_stderr DESC NAME REGEX: $T_DIR/NAME.err matches the extended REGEX.
expect_stderr() {
    if grep -Eq -- "$3" "$T_DIR/$2.err"; then
        ok "$1"
    else
        not_ok "$1"
        diag "no match for /$3/ in $2's stderr"
        diag_file "$T_DIR/$2.err"
    fi
}

# check_wait DESC FILE REGEX SECONDS
check_wait() {
    if wait_for_line "$2" "$3" "$4"; then
        ok "$1"
    else
        not_ok "$1"
        diag "no line matching /$3/ in ${2#"$E2E_ROOT"/} within $4 s"
        diag_file "$2"
    fi
}

# keygen DIR NAME...: a pair per name.
keygen() {
    local dir=$1 name
    shift
    for name; do
        "$KEYGEN" "$name" "$dir" >/dev/null || return 1
    done
}

# ---------------------------------------------------------------- 1. options

case_dir options
K=$T_DIR/keys
keygen "$K" sink vent worker
free_ports 2
T=tcp://127.0.0.1:${PORTS[0]}
R=tcp://127.0.0.1:${PORTS[1]}
mkdir -p "$T_DIR/allow"
n=0

# refused WANT REGEX DESC STAGE ARGS...: exits WANT within 10 s, stderr matches.
refused() {
    local want=$1 regex=$2 desc=$3 stage=$4
    shift 4
    n=$((n + 1))
    start_bg "$n" "$BIN/$stage" "$@"
    if expect_exit "$desc: exits $want" "$LAST_PID" 10 "$want"; then
        expect_stderr "$desc: says why" "$n" "$regex"
    fi
}

refused 64 'curve-sink.*plain text' "worker --curve-cert without --curve-sink" \
    worker -p 1 -v "$T" -s "$R" --curve-cert "$K/worker.cert" --curve-ventilator "$K/vent.cert"
refused 64 'curve-ventilator.*plain text' "worker --curve-cert without --curve-ventilator" \
    worker -p 1 -v "$T" -s "$R" --curve-cert "$K/worker.cert" --curve-sink "$K/sink.cert"
refused 64 'curve-sink.*--curve-cert' "worker --curve-sink without --curve-cert" \
    worker -p 1 -v "$T" -s "$R" --curve-sink "$K/sink.cert"
refused 64 'curve-allow.*any key' "sink --curve-cert without --curve-allow" \
    sink -b "$R" --curve-cert "$K/sink.cert"
refused 64 'curve-allow.*--curve-cert' "sink --curve-allow without --curve-cert" \
    sink -b "$R" --curve-allow "$T_DIR/allow"
refused 64 'curve-sink.*plain text' "ventilator --curve-cert without --curve-sink" \
    ventilator -b "$T" -s "$R" -n 1 --curve-cert "$K/vent.cert" --curve-allow "$T_DIR/allow"
refused 64 "'\*'" "sink --curve-allow '*'" \
    sink -b "$R" --curve-cert "$K/sink.cert" --curve-allow '*'
refused 64 'max-iterations' "worker --max-iterations 0" \
    worker -p 1 -v "$T" -s "$R" --max-iterations 0

refused 78 'nothere\.cert.*no such file' "sink --curve-cert of a missing file" \
    sink -b "$R" --curve-cert "$T_DIR/nothere.cert" --curve-allow "$T_DIR/allow"
printf 'hello\n' >"$T_DIR/junk.cert"
refused 78 'junk\.cert: not a certificate' "sink --curve-cert of a file that is no certificate" \
    sink -b "$R" --curve-cert "$T_DIR/junk.cert" --curve-allow "$T_DIR/allow"
cp "$K/sink.cert" "$T_DIR/nosecret.cert"
refused 78 'nosecret\.cert_secret' "sink --curve-cert without the secret beside it" \
    sink -b "$R" --curve-cert "$T_DIR/nosecret.cert" --curve-allow "$T_DIR/allow"
refused 78 'sink\.cert_secret is the secret half: pass .*/sink\.cert, the public' \
    "sink --curve-cert of the secret half" \
    sink -b "$R" --curve-cert "$K/sink.cert_secret" --curve-allow "$T_DIR/allow"
cp "$K/sink.cert" "$T_DIR/open.cert"
cp "$K/sink.cert_secret" "$T_DIR/open.cert_secret"
chmod 644 "$T_DIR/open.cert_secret"
refused 78 'open\.cert_secret can be read by others \(mode 0644\)' \
    "sink --curve-cert whose secret is mode 0644" \
    sink -b "$R" --curve-cert "$T_DIR/open.cert" --curve-allow "$T_DIR/allow"
cp "$K/sink.cert" "$T_DIR/mixed.cert"
cp "$K/vent.cert_secret" "$T_DIR/mixed.cert_secret"
refused 78 'not a pair' "sink --curve-cert with the secret of another pair" \
    sink -b "$R" --curve-cert "$T_DIR/mixed.cert" --curve-allow "$T_DIR/allow"
refused 78 'curve-allow.*nodir' "sink --curve-allow of a missing directory" \
    sink -b "$R" --curve-cert "$K/sink.cert" --curve-allow "$T_DIR/nodir"
refused 78 'curve-ventilator.*junk\.cert' "worker --curve-ventilator of a file that is no certificate" \
    worker -p 1 -v "$T" -s "$R" --curve-cert "$K/worker.cert" \
    --curve-ventilator "$T_DIR/junk.cert" --curve-sink "$K/sink.cert"

# A ventilator whose key the sink does not allow gives up with 77 and says
# why, instead of waiting forever (libzmq never retries a refused handshake).
start_bg strict-sink "$BIN/sink" -b "$R" --curve-cert "$K/sink.cert" --curve-allow "$T_DIR/allow"
strict_sink=$LAST_PID
refused 77 'sink at .* refused our CURVE key: giving up' \
    "ventilator whose key the sink does not allow" \
    ventilator -b "$T" -s "$R" -n 2 -N 10 --curve-cert "$K/vent.cert" \
    --curve-allow "$T_DIR/allow" --curve-sink "$K/sink.cert"
stop "$strict_sink" 10

# zpipe-keygen
modes=$(stat -c '%a' "$K/worker.cert" "$K/worker.cert_secret" | tr '\n' ' ')
check_eq "zpipe-keygen: NAME.cert is 644, NAME.cert_secret 600" "$modes" "644 600 "
if grep -q 'secret-key' "$K/worker.cert"; then
    not_ok "zpipe-keygen: the public certificate holds no secret key"
else
    ok "zpipe-keygen: the public certificate holds no secret key"
fi
before=$(md5sum "$K/worker.cert_secret")
"$KEYGEN" worker "$K" >"$T_DIR/keygen-again.out" 2>&1
rc=$?
after=$(md5sum "$K/worker.cert_secret")
if [[ $rc != 0 && $before == "$after" ]] && grep -q 'not overwritten' "$T_DIR/keygen-again.out"; then
    ok "zpipe-keygen: refuses to overwrite a pair (status $rc)"
else
    not_ok "zpipe-keygen: refuses to overwrite a pair"
    diag "status $rc"
    diag_file "$T_DIR/keygen-again.out"
fi
"$KEYGEN" '../evil' "$K" >"$T_DIR/keygen-name.out" 2>&1
check_eq "zpipe-keygen: a NAME with a slash is a usage error" "$?" 64
"$KEYGEN" ok "$K" >"$T_DIR/keygen-ok.out" 2>&1
if grep -q -- '--curve-allow' "$T_DIR/keygen-ok.out" && grep -q -- "--curve-cert $K/ok.cert" "$T_DIR/keygen-ok.out"; then
    ok "zpipe-keygen: says how to install the public certificate"
else
    not_ok "zpipe-keygen: says how to install the public certificate"
    diag_file "$T_DIR/keygen-ok.out"
fi

for stage in ventilator worker sink; do
    "$BIN/$stage" --help >"$T_DIR/$stage-help.txt" 2>&1
    case $stage in
        ventilator) want="--curve-cert --curve-allow --curve-sink" ;;
        worker) want="--curve-cert --curve-ventilator --curve-sink --max-iterations" ;;
        sink) want="--curve-cert --curve-allow --max-batch-bytes" ;;
    esac
    missing=()
    for opt in $want; do
        grep -q -- "$opt\b" "$T_DIR/$stage-help.txt" || missing+=("$opt")
    done
    check_eq "$stage --help documents $want" "${missing[*]:-}" ""
done

# ---------------------------------------------------------------- 2. authentication

case_dir auth
K=$T_DIR/keys
keygen "$K" sink vent good stranger
VALLOW=$T_DIR/vent-allow
SALLOW=$T_DIR/sink-allow
mkdir -p "$VALLOW" "$SALLOW"
cp "$K/vent.cert" "$SALLOW/"
# What an operator might leave there: a copy of a certificate under another
# name, a secret certificate, a file that is no certificate.
cp "$K/vent.cert" "$SALLOW/vent-copy.cert"
cp "$K/vent.cert_secret" "$SALLOW/"
printf 'not a certificate\n' >"$VALLOW/README"
free_ports 2
T=tcp://127.0.0.1:${PORTS[0]}
R=tcp://127.0.0.1:${PORTS[1]}
write_lines "$T_DIR/input.txt" alpha bravo charlie delta echo foxtrot golf hotel

start_bg sink "$BIN/sink" -b "$R" --curve-cert "$K/sink.cert" --curve-allow "$SALLOW"
SINK=$LAST_PID
start_bg ventilator "$BIN/ventilator" -b "$T" -s "$R" -i "$T_DIR/input.txt" -N 2000 \
    --curve-cert "$K/vent.cert" --curve-allow "$VALLOW" --curve-sink "$K/sink.cert"
VENT=$LAST_PID
for who in good stranger; do
    start_bg "$who" "$BIN/worker" -p 1 -v "$T" -s "$R" --curve-cert "$K/$who.cert" \
        --curve-ventilator "$K/vent.cert" --curve-sink "$K/sink.cert"
    eval "${who^^}=\$LAST_PID"
done
start_bg plain "$BIN/worker" -p 1 -v "$T" -s "$R"
PLAIN=$LAST_PID
WORKERS=("$GOOD" "$STRANGER" "$PLAIN")

check_wait "the sink takes the ventilator's key (the duplicate is ignored, not fatal)" \
    "$T_DIR/ventilator.err" "the sink knows batch|waiting for workers" 15
check_wait "the sink warns about the duplicate certificate" "$T_DIR/sink.err" "same key as" 5
check_wait "the sink warns about the secret certificate in its allow list" \
    "$T_DIR/sink.err" "vent\.cert_secret is a secret certificate" 5
check_wait "the ventilator logs the refusal of the stranger's key" "$T_DIR/ventilator.err" \
    "refused CURVE client key $(sed -n 's/.*public-key = "\(.*\)"/\1/p' "$K/stranger.cert" | sed 's/[][\\.*^$+?(){}|]/\\&/g')" 15
check_wait "the sink logs the refusal of the stranger's key" "$T_DIR/sink.err" \
    "refused CURVE client key" 15
check_wait "the ventilator logs the refusal of the plain-text worker" "$T_DIR/ventilator.err" \
    "refused a connection at .*(does not speak CURVE|handshake failed|broke the ZMTP handshake)" 15
check_wait "the sink logs the refusal of the plain-text worker" "$T_DIR/sink.err" \
    "refused a connection at .*(does not speak CURVE|handshake failed|broke the ZMTP handshake)" 15
check_wait "the stranger is told its key was refused" "$T_DIR/stranger.err" \
    "refused our key: is .*stranger\.cert in its --curve-allow" 15
check_wait "the plain-text worker is told the servers want CURVE" "$T_DIR/plain.err" \
    "wants CURVE|failed: if it runs with CURVE" 15
check_wait "the good worker is refused too while its key is not allowed" \
    "$T_DIR/good.err" "refused our key" 15
check_wait "the refused worker process exits to be started again" "$T_DIR/good.err" \
    "exited with status 77; restarting it" 15
# Now allow it, restarting nothing.
cp "$K/good.cert" "$VALLOW/"
cp "$K/good.cert" "$SALLOW/"
check_wait "the ventilator reloads its allow list" "$T_DIR/ventilator.err" \
    "curve-allow: .* changed; 1 client keys allowed now" 15
check_wait "the sink reloads its allow list" "$T_DIR/sink.err" \
    "curve-allow: .* changed; 2 client keys allowed now" 15
expect_exit "auth: ventilator exits 0 (the batch completes on the good worker)" "$VENT" "$WAIT" 0
expect_exit "auth: sink exits 0" "$SINK" 15 0
check_summary "auth: summary checks out" --summary "$T_DIR/sink.out" \
    --input "$T_DIR/input.txt" --iterations 2000

# Who got tasks: only processes of the good worker.
good_kids=$(ps -o pid= --ppid "$GOOD" | tr -d ' ' | sort)
joined=$(sed -n 's/.*worker [^ ]*\/\([0-9]*\) joined.*/\1/p' "$T_DIR/ventilator.err" | sort -u)
summary_pids=$(jq -r '.workers[].pid' "$T_DIR/sink.out" 2>/dev/null | sort -u)
intruders=()
for pid in $joined $summary_pids; do
    grep -qx "$pid" <<<"$good_kids" || intruders+=("$pid")
done
if [[ -n $joined && -n $summary_pids && ${#intruders[@]} == 0 ]]; then
    ok "auth: only the good worker's processes joined and sent results"
else
    not_ok "auth: only the good worker's processes joined and sent results"
    diag "good worker's processes: ${good_kids//$'\n'/ }" "joined: ${joined//$'\n'/ }" \
        "in the summary: ${summary_pids//$'\n'/ }" "others: ${intruders[*]:-none}"
fi
refusals=$(jq -r '.refused_connections' "$T_DIR/sink.out" 2>/dev/null)
if [[ $refusals =~ ^[0-9]+$ ]] && ((refusals >= 2)); then
    ok "auth: the summary counts the refused connections ($refusals)"
else
    not_ok "auth: the summary counts the refused connections"
    diag "refused_connections: ${refusals:-missing}"
fi
expect_stderr "auth: the ventilator counts its refusals at exit" ventilator \
    "[1-9][0-9]* connections refused at"
for i in 0 1 2; do
    who=(good stranger plain)
    stop "${WORKERS[$i]}" 10
    check_eq "auth: the ${who[$i]} worker exits 0 on SIGTERM" "$STATUS" 0
done
if grep -q . "$T_DIR/good.out" "$T_DIR/stranger.out" "$T_DIR/plain.out" "$T_DIR/ventilator.out"; then
    not_ok "auth: workers and ventilator print nothing on stdout"
else
    ok "auth: workers and ventilator print nothing on stdout"
fi

# ---------------------------------------------------------------- 3. encryption

case_dir capture
K=$T_DIR/keys
keygen "$K" sink vent worker
mkdir -p "$T_DIR/vallow" "$T_DIR/sallow"
cp "$K/worker.cert" "$T_DIR/vallow/"
cp "$K/worker.cert" "$K/vent.cert" "$T_DIR/sallow/"
python3 - "$T_DIR/input.txt" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(40):
        f.write("zpipe-canary-%04d-plaintext-marker\n" % i)
EOF

# capture LABEL [CURVE-ARGS: sink vent worker]: run a batch on fresh ports
# with tcpdump on those ports; the capture is $T_DIR/LABEL.pcap.
capture() {
    local label=$1 mode=$2
    free_ports 2
    local t=tcp://127.0.0.1:${PORTS[0]} r=tcp://127.0.0.1:${PORTS[1]}
    local -a sink_args=() vent_args=() worker_args=()
    if [[ $mode == curve ]]; then
        sink_args=(--curve-cert "$K/sink.cert" --curve-allow "$T_DIR/sallow")
        vent_args=(--curve-cert "$K/vent.cert" --curve-allow "$T_DIR/vallow" --curve-sink "$K/sink.cert")
        worker_args=(--curve-cert "$K/worker.cert" --curve-ventilator "$K/vent.cert" --curve-sink "$K/sink.cert")
    fi
    start_bg "$label-tcpdump" tcpdump -i lo -n -U -s 0 -w "$T_DIR/$label.pcap" \
        "tcp port ${PORTS[0]} or tcp port ${PORTS[1]}"
    local dump=$LAST_PID
    if ! wait_for_line "$T_DIR/$label-tcpdump.err" "listening on" 10; then
        not_ok "$label: tcpdump starts"
        diag_file "$T_DIR/$label-tcpdump.err"
        stop "$dump" 5
        return 1
    fi
    start_bg "$label-sink" "$BIN/sink" -b "$r" "${sink_args[@]}"
    local sink=$LAST_PID
    start_bg "$label-worker" "$BIN/worker" -p 2 -v "$t" -s "$r" "${worker_args[@]}"
    local worker=$LAST_PID
    start_bg "$label-ventilator" "$BIN/ventilator" -b "$t" -s "$r" -i "$T_DIR/input.txt" -N 10 \
        "${vent_args[@]}"
    expect_exit "$label: ventilator exits 0" "$LAST_PID" "$WAIT" 0
    expect_exit "$label: sink exits 0" "$sink" 15 0
    check_summary "$label: summary checks out" --summary "$T_DIR/$label-sink.out" \
        --input "$T_DIR/input.txt" --iterations 10
    stop "$worker" 10
    sleep 0.5                       # the last packets reach the capture
    stop "$dump" 5
    return 0
}

# found LABEL: how many input strings and result hashes are in the capture.
found() {
    local pcap=$T_DIR/$1.pcap
    {
        cat "$T_DIR/input.txt"
        jq -r '.data[][]' "$T_DIR/$1-sink.out" 2>/dev/null
    } | grep -v '^$' >"$T_DIR/$1.needles"
    grep -a -o -F -f "$T_DIR/$1.needles" "$pcap" | sort -u | wc -l
}

if ! command -v tcpdump >/dev/null 2>&1; then
    not_ok "tcpdump is installed (scripts/install-deps installs it)"
else
    if capture plain plain && capture curve curve; then
        plain_hits=$(found plain)
        curve_hits=$(found curve)
        if ((plain_hits >= 40)); then
            ok "the plain capture shows the inputs and hashes ($plain_hits of 80 found): the check can fail"
        else
            not_ok "the plain capture shows the inputs and hashes"
            diag "only $plain_hits of 80 found in plain.pcap ($(wc -c <"$T_DIR/plain.pcap") bytes)"
        fi
        if ((curve_hits == 0)) && (($(wc -c <"$T_DIR/curve.pcap") > 2000)); then
            ok "the CURVE capture ($(wc -c <"$T_DIR/curve.pcap") bytes) shows none of them"
        else
            not_ok "the CURVE capture shows none of the inputs and hashes"
            diag "$curve_hits found; capture $(wc -c <"$T_DIR/curve.pcap") bytes"
            grep -a -o -F -f "$T_DIR/curve.needles" "$T_DIR/curve.pcap" | head -5 | diag "$(cat)"
        fi
    fi
fi

finish
