#!/usr/bin/env bash
# tests/e2e/install.sh - `make install` puts the three binaries and their man
# pages under DESTDIR/PREFIX, the installed binaries run and the pages render;
# `make install-systemd` adds the sink's and the worker's units, whose
# ExecStart names the binaries under PREFIX and which `systemd-analyze verify`
# accepts; `make uninstall` removes exactly what was installed.

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
