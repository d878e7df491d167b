#!/bin/sh
# exec-persistent-upper.sh - one long-lived command per worker process
# (--exec-persistent): it reads one input line per task and must answer
# each with one output line, flushed at once (a shell loop's printf is; in
# other languages flush stdout after every line). Here: the line upper-cased.
#
#   docs/examples/exec-persistent-upper.sh -v tcp://localhost:5557 -s tcp://localhost:5558
exec "${ZPIPE_BIN:-bin}/worker" --exec-persistent \
    --exec 'while IFS= read -r line; do printf "%s\n" "$line" | tr a-z A-Z; done' "$@"
