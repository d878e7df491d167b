#!/bin/sh
# exec-sha256.sh - a command handler as a shell one-liner: each task's input
# line goes to `sha256sum` on its stdin, and the hex digest is the result.
# Any command that reads stdin and writes stdout works the same way, as with
# GNU parallel; $ZPIPE_TASK and $ZPIPE_ITERATIONS hold the task's id and
# iterations.
#
#   docs/examples/exec-sha256.sh -v tcp://localhost:5557 -s tcp://localhost:5558
#
# Options after the script's name go to the worker (see worker(1)).
exec "${ZPIPE_BIN:-bin}/worker" --exec 'sha256sum | cut -d" " -f1' "$@"
