#!/usr/bin/env bash
# tests/e2e/cli.sh - the command lines: every bad option or value is refused
# with status 64 and one line on stderr that names it; --help documents every
# long option; --version answers.
#
# Each command gets free loopback endpoints and a tiny workload, so that an
# option wrongly accepted shows up as a wrong status (or as a run that is
# stopped after 10 s), never as a clash with another test.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
need_bins

case_dir cli
free_ports 2
T=tcp://127.0.0.1:${PORTS[0]}
R=tcp://127.0.0.1:${PORTS[1]}
n=0

# run_cli CMD...: run it (at most 10 s, stopped by timeout otherwise) with
# stdout and stderr into files; RC, OUT, ERR.
run_cli() {
    n=$((n + 1))
    OUT=$T_DIR/$n.out ERR=$T_DIR/$n.err
    printf '%s\n' "$*" >"$T_DIR/$n.cmd"
    timeout -k 2 10 "$@" </dev/null >"$OUT" 2>"$ERR"
    RC=$?
}

# usage_error REGEX STAGE ARGS...: status 64, stdout empty, exactly one line on
# stderr, and that line matches REGEX (case-insensitive) so that it names the
# option or value at fault.
usage_error() {
    local regex=$1 stage=$2
    shift 2
    local desc="$stage $*"
    run_cli "$BIN/$stage" "$@"
    local lines problems=()
    lines=$(wc -l <"$ERR")
    # A last line without LF is a line too.
    [[ -s $ERR && $(tail -c1 "$ERR" | od -An -c | tr -d ' ') != '\n' ]] && lines=$((lines + 1))
    [[ $RC == 64 ]] || problems+=("exit status $RC, expected 64")
    [[ $lines == 1 ]] || problems+=("$lines lines on stderr, expected 1")
    [[ -s $OUT ]] && problems+=("stdout is not empty")
    grep -Eiq -- "$regex" "$ERR" || problems+=("stderr does not name /$regex/")
    if ((${#problems[@]} == 0)); then
        ok "$desc: usage error (64): $(head -c 120 "$ERR" | head -n1)"
    else
        not_ok "$desc: usage error"
        diag "${problems[@]}"
        diag_file "$ERR" 5
    fi
}

V=(-b "$T" -s "$R" -n 1 -N 10)    # a valid ventilator command line
W=(-v "$T" -s "$R" -p 1)          # a valid worker command line
S=(-b "$R")                       # a valid sink command line

# ventilator
usage_error 'frobnicate'                     ventilator "${V[@]}" --frobnicate
usage_error "-Z|'Z'|invalid option"          ventilator "${V[@]}" -Z
usage_error '-N|iterations'                  ventilator "${V[@]}" -N 0
usage_error '-N|iterations|abc'              ventilator "${V[@]}" -N abc
usage_error '-N|iterations'                  ventilator "${V[@]}" -N 12x
usage_error '-N|iterations'                  ventilator "${V[@]}" -N 99999999999999999999999
usage_error '-N|iterations'                  ventilator "${V[@]}" -N ''
usage_error '-n|count'                       ventilator "${V[@]}" -n -1
usage_error '-n|count'                       ventilator "${V[@]}" -n abc
usage_error 'max-length'                     ventilator "${V[@]}" --max-length abc
usage_error 'min-workers'                    ventilator "${V[@]}" --min-workers x
usage_error "-b|bind|'b'|argument"           ventilator -b
usage_error "input|'i'|-i|argument"          ventilator "${V[@]}" --input
usage_error "-N|iterations|'N'|argument"     ventilator "${V[@]}" -N
usage_error 'task-timeout'                   ventilator "${V[@]}" --task-timeout 0
usage_error 'task-timeout'                   ventilator "${V[@]}" --task-timeout 1s
usage_error 'resume.*input'                  ventilator "${V[@]}" --resume

# worker
usage_error 'frobnicate'                     worker "${W[@]}" --frobnicate
usage_error '-p|processes'                   worker "${W[@]}" -p 0
usage_error '-p|processes'                   worker "${W[@]}" -p -1
usage_error '-p|processes'                   worker "${W[@]}" -p abc
usage_error 'bogus|engine'                   worker "${W[@]}" --engine bogus
usage_error 'bogus|engine'                   worker "${W[@]}" -e bogus
usage_error "engine|'e'|-e|argument"         worker "${W[@]}" -e
usage_error "ventilator|'v'|-v|argument"     worker -s "$R" -v
usage_error 'task-timeout'                   worker "${W[@]}" --task-timeout 0
usage_error 'task-timeout'                   worker "${W[@]}" --task-timeout -5
usage_error 'max-attempts'                   worker "${W[@]}" --max-attempts 0
usage_error 'max-attempts'                   worker "${W[@]}" --max-attempts 101
usage_error 'handler-arg.*KEY=VALUE'         worker "${W[@]}" --handler ./x.so --handler-arg x
usage_error 'exec'                          worker "${W[@]}" --exec ''
usage_error "exec|argument"                  worker "${W[@]}" --exec

# sink
usage_error 'frobnicate'                     sink "${S[@]}" --frobnicate
usage_error 'batches'                        sink "${S[@]}" --batches x
usage_error 'batches'                        sink "${S[@]}" --batches -1
usage_error "output|'o'|-o|argument"         sink "${S[@]}" -o
usage_error "bind|'b'|-b|argument"           sink -b
usage_error 'fsync.*sometimes'               sink "${S[@]}" --fsync sometimes
usage_error 'journal'                        sink "${S[@]}" --journal ''
usage_error "journal|argument"               sink "${S[@]}" --journal
usage_error 'http.*not an IPv4'              sink "${S[@]}" --http 1.2.3.4.5:80
usage_error 'http.*port'                     sink "${S[@]}" --http 127.0.0.1:0
usage_error "http|argument"                  sink "${S[@]}" --http
usage_error 'format.*xml'                    sink "${S[@]}" --format xml

# --help and -h: status 0, every long option documented (stdout or stderr).
declare -A LONG=(
    [ventilator]="--bind --sink --count --input --iterations --max-length --min-workers --heartbeat-timeout --task-timeout --resume --config --print-config --log-syslog --quiet --verbose --help --version"
    [worker]="--ventilator --sink --processes --engine --heartbeat --task-timeout --handler --handler-arg --exec --exec-persistent --max-attempts --config --print-config --log-syslog --quiet --verbose --help --version"
    [sink]="--bind --output --format --batches --journal --fsync --http --config --print-config --log-syslog --quiet --verbose --help --version"
)
for stage in ventilator worker sink; do
    for flag in --help -h; do
        run_cli "$BIN/$stage" "$flag"
        missing=()
        for opt in ${LONG[$stage]}; do
            cat "$OUT" "$ERR" | grep -q -- "$opt\b" || missing+=("$opt")
        done
        if [[ $RC == 0 && ${#missing[@]} == 0 ]]; then
            ok "$stage $flag: status 0, documents every long option"
        else
            not_ok "$stage $flag: status 0, documents every long option"
            diag "status $RC; not mentioned: ${missing[*]:-none}"
            diag_file "$OUT" 5
        fi
    done
    for flag in --version -V; do
        run_cli "$BIN/$stage" "$flag"
        if [[ $RC == 0 ]] && cat "$OUT" "$ERR" | grep -Eq '[0-9]+\.[0-9]+'; then
            ok "$stage $flag: status 0 and a version number: $(cat "$OUT" "$ERR" | head -n1)"
        else
            not_ok "$stage $flag: status 0 and a version number"
            diag "status $RC"
            diag_file "$OUT" 5
            diag_file "$ERR" 5
        fi
    done
done

finish
