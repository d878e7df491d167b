#!/usr/bin/env bash
# tests/e2e/netns.sh - the stages on separate hosts: four network namespaces
# (sink, ventilator, two worker hosts) on a bridge, made and removed here.
# One worker host's link loses 5 % of its packets (iptables' statistic match,
# in that host's namespace; these kernels have no netem) and is squeezed to
# 1 Mbit/s (tc tbf, both ways); the other worker host's link is cut in the
# middle of the batch and stays cut. Nothing is lost, every hash is right.
#
# Then a second batch with the other worker host cut off from the sink only:
# it still hears the ventilator and reports its tasks finished, but their
# results never arrive. The ventilator sends them again 5 s later and gives
# that host no new tasks for a while; nothing is lost.
#
# Needs root (network namespaces, iptables, tc): without it, or without the
# tools, every check is reported as a TAP SKIP with the reason.
#
# The work is sized to the machine (lib.sh, iterations_for), on the OpenSSL
# engine unless ZP_E2E_ENGINE says otherwise: the slowest, so the most wall
# time for the least hashlib work in check.py.

E2E_ENGINE=openssl
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

# 600 tasks on the two workers last about 6 s: cut off 1 s in, w2 leaves w1
# about 10 s of work, well past the 3 s heartbeat timeout and the 5 s after
# which an unacknowledged result is taken as lost.
N=$(iterations_for 600 2 6)
INPUT=$T_OUT/input.txt
reliability_input "$INPUT" 600

# ---------------------------------------------------------------- can we?
why=
if [[ $(id -u) != 0 ]]; then
    why="needs root for network namespaces (run as root, as CI does)"
else
    for tool in ip iptables tc; do
        command -v "$tool" >/dev/null 2>&1 || why="no $tool here (scripts/install-deps installs it as root)"
    done
fi
NS=zp$$
if [[ -z $why ]] && ! ip netns add "$NS-probe" 2>"$T_OUT/probe.err"; then
    why="can't make a network namespace: $(head -n1 "$T_OUT/probe.err")"
fi
ip netns del "$NS-probe" 2>/dev/null
if [[ -n $why ]]; then
    skip "stages on four network namespaces, lossy and cut links" "$why"
    finish
fi

# ---------------------------------------------------------------- the network
HOSTS=(sink vent w1 w2)
netns_cleanup() {
    local h
    for h in "${HOSTS[@]}" sw; do
        ip netns del "$NS-$h" 2>/dev/null
    done
}
trap 'stop_all; netns_cleanup' EXIT

# net HOST CMD...: run CMD in HOST's namespace.
net() {
    local host=$1
    shift
    ip netns exec "$NS-$host" "$@"
}

setup() {
    local i=0 h
    ip netns add "$NS-sw" && ip -n "$NS-sw" link add br0 type bridge \
        && ip -n "$NS-sw" link set br0 up || return 1
    for h in "${HOSTS[@]}"; do
        i=$((i + 1))
        ip netns add "$NS-$h" \
        && ip link add eth0 netns "$NS-$h" type veth peer name "port-$h" netns "$NS-sw" \
        && ip -n "$NS-sw" link set "port-$h" master br0 \
        && ip -n "$NS-sw" link set "port-$h" up \
        && ip -n "$NS-$h" addr add "10.77.0.$i/24" dev eth0 \
        && ip -n "$NS-$h" link set eth0 up \
        && ip -n "$NS-$h" link set lo up || return 1
    done
    # w1: 5 % loss each way, 1 Mbit/s each way (its own egress, and the
    # bridge port's egress towards it).
    net w1 iptables -A INPUT -m statistic --mode random --probability 0.05 -j DROP \
    && net w1 iptables -A OUTPUT -m statistic --mode random --probability 0.05 -j DROP \
    && net w1 tc qdisc add dev eth0 root tbf rate 1mbit burst 32kbit latency 400ms \
    && ip netns exec "$NS-sw" tc qdisc add dev port-w1 root tbf rate 1mbit burst 32kbit latency 400ms
}

# start_hosts: on T and R, each stage on its own host: the sink, the workers
# w1 and w2 (one process each) and the ventilator on the 600 lines, which
# waits for both. PIDs in SINK, W1, W2 and VENT.
start_hosts() {
    start_bg sink ip netns exec "$NS-sink" "$BIN/sink" -b tcp://10.77.0.1:5558
    SINK=$LAST_PID
    start_bg w1 ip netns exec "$NS-w1" "$BIN/worker" -v "$T" -s "$R" -p 1 --task-timeout 4
    W1=$LAST_PID
    start_bg w2 ip netns exec "$NS-w2" "$BIN/worker" -v "$T" -s "$R" -p 1 --task-timeout 4
    W2=$LAST_PID
    start_bg ventilator ip netns exec "$NS-vent" "$BIN/ventilator" -b tcp://10.77.0.2:5557 -s "$R" \
        -i "$INPUT" -N "$N" --min-workers 2
    VENT=$LAST_PID
}

case_dir netns
if setup 2>"$T_DIR/setup.err"; then
    ok "four hosts on a bridge; w1's link lossy (5 %) and slow (1 Mbit/s)"
else
    not_ok "four hosts on a bridge; w1's link lossy (5 %) and slow (1 Mbit/s)"
    diag_file "$T_DIR/setup.err"
    finish
fi

T=tcp://10.77.0.2:5557 R=tcp://10.77.0.1:5558
start_hosts
if wait_for_line "$T_DIR/ventilator.err" 'batch [0-9a-f]+: 600 tasks' 30; then
    ok "the batch starts with a worker on each host"
else
    not_ok "the batch starts with a worker on each host"
    diag_file "$T_DIR/ventilator.err"
fi
sleep 1
w2_pid=$(children_of "$W2" | head -n1)
if ip -n "$NS-w2" link set eth0 down; then
    ok "w2's link is cut mid-batch"
else
    not_ok "w2's link is cut mid-batch"
fi
if zp_alive "$VENT"; then
    ok "the batch is still running when w2 is cut off"
else
    not_ok "the batch is still running when w2 is cut off"
fi
expect_exit "the ventilator exits 0: the sink has everything" "$VENT" 120 0
expect_exit "the sink exits 0" "$SINK" 15 0
check_summary "every input once, every hash right (hashlib)" \
    --summary "$T_DIR/sink.out" --input "$INPUT" --iterations "$N" --cache "$REF_CACHE"
show_counts "netns" "$T_DIR/sink.out"
check "the ventilator noticed w2 went silent" \
    grep -q "worker [^ ]*/${w2_pid:-none} went silent" "$T_DIR/ventilator.err"
dropped=$(net w1 iptables -L INPUT -v -n -x 2>/dev/null | awk '/statistic/ { print $1 }')
diag "w1's link dropped ${dropped:-?} incoming packets"
if [[ -n $dropped ]] && ((dropped > 0)); then
    ok "w1's link really lost packets ($dropped in)"
else
    not_ok "w1's link really lost packets"
fi
for w in "$W1" "$W2"; do
    stop "$w" 10
done

# ---------------------------------------------------------------- results lost
case_dir results-lost
ip -n "$NS-w2" link set eth0 up
start_hosts
wait_for_line "$T_DIR/ventilator.err" 'batch [0-9a-f]+: 600 tasks' 30
sleep 1
w2_pid=$(children_of "$W2" | head -n1)
if net w2 iptables -A OUTPUT -d 10.77.0.1 -j DROP; then
    ok "results lost: w2 is cut off from the sink only, mid-batch"
else
    not_ok "results lost: w2 is cut off from the sink only, mid-batch"
fi
expect_exit "results lost: the ventilator exits 0" "$VENT" 120 0
expect_exit "results lost: the sink exits 0" "$SINK" 15 0
check_summary "results lost: every input once, every hash right (hashlib)" \
    --summary "$T_DIR/sink.out" --input "$INPUT" --iterations "$N" --cache "$REF_CACHE"
show_counts "results lost" "$T_DIR/sink.out"
check "results lost: the ventilator sent again what w2 reported but the sink never got" \
    grep -q "results never reached the sink" "$T_DIR/ventilator.err"
check "results lost: and gave w2 no new tasks for a while" \
    grep -q "results from worker [^ ]*/${w2_pid:-none} do not reach the sink" "$T_DIR/ventilator.err"
for w in "$W1" "$W2"; do
    stop "$w" 10
done
finish
