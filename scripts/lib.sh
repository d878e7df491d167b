# scripts/lib.sh - small bash helpers shared by scripts/run and tests/e2e/lib.sh.
# shellcheck shell=bash disable=SC2034  # (ZP_STATUS is read by the scripts that source this)
#
# Source it; it defines functions only and changes no shell option.
# Every wait here is bounded, and processes are only ever signalled by the
# PID we were given (never by name).

# zp_free_ports N: print N distinct free loopback TCP ports, space-separated.
# They are taken at random below the kernel's ephemeral range
# (net.ipv4.ip_local_port_range), where no outgoing connection gets its
# source port: a port the kernel hands out for bind(0) comes from that range
# and may be given to another test's connecting socket before the caller
# binds it. Each is bound to prove it free, all are held together so they
# are distinct, then released for the caller to bind. Another test could
# pick the same port in between: the window is small, and a stage that
# cannot bind says so and exits 69.
zp_free_ports() {
    local n=${1:-1}
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$n" <<'EOF'
import random, socket, sys
try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
low = max(low, 12000)
socks = []
while len(socks) < int(sys.argv[1]):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", random.randrange(10000, low)))
        socks.append(s)
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
        return
    fi
    # No python3: probe random ports in the dynamic range with /dev/tcp; a
    # refused connection means nobody listens there.
    local ports=() port tries=0
    while ((${#ports[@]} < n && tries < 200)); do
        tries=$((tries + 1))
        port=$((49152 + RANDOM % 16000))
        [[ " ${ports[*]} " == *" $port "* ]] && continue
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            ports+=("$port")
        fi
    done
    ((${#ports[@]} == n)) || return 1
    echo "${ports[*]}"
}

# zp_alive PID: true while the process exists (and is not yet reaped).
zp_alive() {
    kill -0 "$1" 2>/dev/null
}

# zp_wait_pid PID SECONDS: wait at most SECONDS (fractions allowed) for a child
# of this shell to exit. Returns 0 when it has exited, with its exit status in
# ZP_STATUS; returns 1 if it is still running (ZP_STATUS is then empty).
zp_wait_pid() {
    local pid=$1 secs=${2:-10} ticks
    ticks=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 10 }')
    ZP_STATUS=
    while zp_alive "$pid"; do
        if ((ticks-- <= 0)); then
            return 1
        fi
        sleep 0.1
    done
    # The shell has reaped it already and kept its status for us.
    wait "$pid" 2>/dev/null
    ZP_STATUS=$?
    return 0
}

# zp_stop PID [GRACE]: SIGTERM, then SIGKILL if it has not exited after GRACE
# seconds (default 10). Reaps it; its exit status is left in ZP_STATUS.
# Returns 0 if it stopped on SIGTERM (or had already exited), 1 if it needed
# SIGKILL.
zp_stop() {
    local pid=$1 grace=${2:-10}
    kill -TERM "$pid" 2>/dev/null
    if zp_wait_pid "$pid" "$grace"; then
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null
    zp_wait_pid "$pid" 5
    return 1
}
