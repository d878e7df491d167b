#!/usr/bin/env bash
# tests/e2e/install.sh - `make install` puts the three binaries, their man
# pages and the handler header (zpipe_handler.h) under DESTDIR/PREFIX, the
# installed binaries run, the pages render and a handler library builds
# against the header alone; the Python worker's launcher (zpipe-worker-py)
# runs its installed package and does a batch; `make install-systemd` adds the sink's and the
# worker's units, whose ExecStart names the binaries under PREFIX and which
# `systemd-analyze verify` accepts; `make uninstall` removes exactly what was
# installed.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

case_dir install
dest=$T_DIR/root
mkdir -p "$dest"
if make -s -C "$E2E_ROOT" install DESTDIR="$dest" PREFIX=/usr >"$T_DIR/install.log" 2>&1; then
    ok "make install DESTDIR=... PREFIX=/usr"
else
    not_ok "make install DESTDIR=... PREFIX=/usr"
    diag_file "$T_DIR/install.log"
fi
for stage in ventilator worker sink; do
    bin=$dest/usr/bin/$stage page=$dest/usr/share/man/man1/$stage.1
    if [ -x "$bin" ] && "$bin" --version | grep -q "^$stage (zpipe) "; then
        ok "$stage installed and runs"
    else
        not_ok "$stage installed and runs"
    fi
    # man -l renders the page; its NAME section names the stage.
    if [ -f "$page" ] && MANWIDTH=80 man -l "$page" 2>"$T_DIR/$stage.man.err" \
        | grep -q "^ *$stage .*zpipe"; then
        ok "man -l renders $stage(1)"
    else
        not_ok "man -l renders $stage(1)"
        diag_file "$T_DIR/$stage.man.err"
    fi
done
# The Python worker: its launcher runs the installed package (from any
# directory), its page renders, and it does one small batch with the
# installed stages: --help alone imports only part of the package.
launcher=$dest/usr/bin/zpipe-worker-py
export ZPIPE_PYTHON=${ZP_PYTHON:-${ZPIPE_PYTHON:-/usr/bin/python3}}
if [ -x "$launcher" ] && (cd / && "$launcher" -V) | grep -q "^worker-py (zpipe) " \
        && (cd / && "$launcher" --help) | grep -q "^usage: zpipe-worker-py"; then
    ok "zpipe-worker-py installed; -V and --help run the installed package"
else
    not_ok "zpipe-worker-py installed; -V and --help run the installed package"
fi
page=$dest/usr/share/man/man1/zpipe-worker-py.1
if [ -f "$page" ] && MANWIDTH=80 man -l "$page" 2>"$T_DIR/zpipe-worker-py.man.err" \
    | grep -q "^ *zpipe-worker-py .*Python"; then
    ok "man -l renders zpipe-worker-py(1)"
else
    not_ok "man -l renders zpipe-worker-py(1)"
    diag_file "$T_DIR/zpipe-worker-py.man.err"
fi
tcp_case install-python-batch
write_lines "$T_DIR/input.txt" one two three "fünf"
start_bg sink "$dest/usr/bin/sink" -b "$R"
SINK=$LAST_PID
start_bg worker "$launcher" -p 2 -v "$T" -s "$R"
WORKER=$LAST_PID
start_bg ventilator "$dest/usr/bin/ventilator" -b "$T" -s "$R" -i "$T_DIR/input.txt" -N 10
VENT=$LAST_PID
if wait_pid "$VENT" "$WAIT" && [[ $STATUS == 0 ]] && wait_pid "$SINK" 15 \
        && python3 "$CHECK_PY" --summary "$T_DIR/sink.out" --input "$T_DIR/input.txt" \
            --iterations 10 >"$T_DIR/check.out" 2>&1; then
    ok "the installed zpipe-worker-py does a batch with the installed stages"
else
    not_ok "the installed zpipe-worker-py does a batch with the installed stages"
    diag_file "$T_DIR/check.out"
    diag_file "$T_DIR/worker.err"
fi
stop "$WORKER" 10
check_eq "zpipe-worker-py exits 0 on SIGTERM" "${STATUS:-killed}" 0
case_dir install
# The handler header is installed, and a library builds against it alone.
header=$dest/usr/include/zpipe_handler.h
if [ -f "$header" ] && ${CC:-cc} -std=c17 -Wall -Werror -fPIC -shared -I"$dest/usr/include" \
        -o "$T_DIR/libwordcount.so" "$E2E_ROOT/docs/examples/wordcount.c" 2>"$T_DIR/cc.err"; then
    ok "zpipe_handler.h installed; the example handler builds against it"
else
    not_ok "zpipe_handler.h installed; the example handler builds against it"
    diag_file "$T_DIR/cc.err"
fi
units=$dest/usr/lib/systemd/system
if make -s -C "$E2E_ROOT" install-systemd DESTDIR="$dest" PREFIX=/usr \
        >"$T_DIR/install-systemd.log" 2>&1; then
    ok "make install-systemd DESTDIR=... PREFIX=/usr"
else
    not_ok "make install-systemd DESTDIR=... PREFIX=/usr"
    diag_file "$T_DIR/install-systemd.log"
fi
check "the sink's unit runs PREFIX/bin/sink --batches 0" \
    grep -q "exec /usr/bin/sink .*--batches 0" "$units/zpipe-sink.service"
check "the worker's unit template runs PREFIX/bin/worker with its instance's config" \
    grep -q '^ExecStart=/usr/bin/worker -c /etc/zpipe/%i.zpl' "$units/zpipe-worker@.service"
# systemd-analyze verify checks every directive and that the commands exist:
# the units are installed once more under a real prefix, next to binaries.
if command -v systemd-analyze >/dev/null 2>&1; then
    prefix=$T_DIR/prefix
    make -s -C "$E2E_ROOT" install install-systemd PREFIX="$prefix" >"$T_DIR/verify-install.log" 2>&1
    for unit in zpipe-sink.service zpipe-worker@prod.service; do
        # No output at all: a misspelt key is only a warning, and fails here.
        if out=$(systemd-analyze verify --man=no "$prefix/lib/systemd/system/$unit" 2>&1) \
                && [[ -z $out ]]; then
            ok "systemd-analyze verify $unit"
        else
            not_ok "systemd-analyze verify $unit"
            diag "$out"
        fi
    done
    make -s -C "$E2E_ROOT" uninstall PREFIX="$prefix" >/dev/null 2>&1
    check_eq "make uninstall under the real prefix removes every file" \
        "$(find "$prefix" -type f | wc -l)" 0
else
    skip "systemd-analyze verify the units" "no systemd-analyze (Debian package systemd)"
fi
make -s -C "$E2E_ROOT" uninstall DESTDIR="$dest" PREFIX=/usr >"$T_DIR/uninstall.log" 2>&1
left=$(find "$dest" -type f | wc -l)
check_eq "make uninstall removes every installed file" "$left" 0
finish
