"""python3 -m zpipe_worker: options into a config, the function loaded, then the
supervisor. Exit status as the C worker's (sysexits): 0 stopped by a signal, 64 a bad
option or endpoint, 69 an endpoint it can't use, 78 a function it can't load.

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
If a copy of the MPL was not distributed with this file, You can obtain one at
http://mozilla.org/MPL/2.0/.
"""

import argparse
import os
import sys

from . import __version__, functions, log

EX_USAGE = 64
EX_CONFIG = 78
EX_UNAVAILABLE = 69

DESCRIPTION = """\
A zpipe worker that runs a Python function on each task: one process per -p, each
pulling tasks from the ventilator and pushing results to the sink (docs/protocol.md).
The function takes the task's input (bytes) and returns bytes or str; if it has a
parameter named `iterations` it gets the task's iterations too. An exception fails
that task, with its message as the reason."""

PROG = "python3 -m zpipe_worker"
EPILOG = """\
examples:
  python3 -m zpipe_worker --function sha512-chain
  python3 -m zpipe_worker --function mymodule:fn -v tcp://vent:5557 -s tcp://sink:5558 -p 4
"""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        sys.stderr.write(f"worker-py: {message} (see '{self.prog} --help')\n")
        sys.exit(EX_USAGE)


def _bounded(name, low, high):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low} ... {high}")
        return value
    parse.__name__ = name
    return parse


def parse_args(argv, prog=PROG):
    cores = os.cpu_count() or 1
    parser = Parser(prog=prog, description=DESCRIPTION, epilog=EPILOG.replace(PROG, prog),
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--ventilator", default="tcp://localhost:5557",
                        metavar="ENDPOINT",
                        help="the ventilator's task endpoint (default %(default)s)")
    parser.add_argument("-s", "--sink", default="tcp://localhost:5558", metavar="ENDPOINT",
                        help="the sink's endpoint (default %(default)s)")
    parser.add_argument("-p", "--processes", type=_bounded("N", 1, 1024), default=cores,
                        metavar="N",
                        help=f"worker processes (default: online cores, here {cores})")
    parser.add_argument("-f", "--function", default="sha512-chain", metavar="MODULE:NAME",
                        help="what runs a task: sha512-chain (the built-in iterated"
                             " SHA-512 chain) or a function, imported from MODULE"
                             " (the current directory and PYTHONPATH are searched)"
                             " (default %(default)s)")
    parser.add_argument("--capacity", type=_bounded("N", 1, 1024), default=0, metavar="N",
                        help="tasks a process holds at once: one runs, the others"
                             " wait, so the next is there when it ends (default: as the"
                             " C worker, one, and more when tasks turn out to take less"
                             " than 20 ms)")
    parser.add_argument("--heartbeat", type=_bounded("MS", 10, 600000), default=1000,
                        metavar="MS", dest="heartbeat_ms",
                        help="tell the ventilator we are alive, and the sink what each"
                             " process does (STATS), this often (default 1000)")
    parser.add_argument("--task-timeout", type=_bounded("SECONDS", 1, 86400 * 365),
                        default=60, metavar="SECONDS",
                        help="a function running longer fails its task (and its"
                             " process is replaced: a thread can't be stopped); on"
                             " SIGTERM, the processes finish what they run for at most"
                             " half of this, hand back the rest, and the worker is gone"
                             " within it (default 60)")
    parser.add_argument("--max-attempts", type=_bounded("N", 1, 100), default=3,
                        metavar="N",
                        help="a task that crashed its process (a segfault in an"
                             " extension, the OOM killer, os._exit) N times is reported"
                             " failed (default 3)")
    parser.add_argument("--max-iterations", type=_bounded("N", 1, 1 << 40),
                        default=1000000000, metavar="N",
                        help="refuse tasks of more iterations (a failed result that says"
                             " why, instead of running it) (default 1000000000)")
    parser.add_argument("-q", "--quiet", action="store_const", const=0, dest="verbosity",
                        default=1, help="log errors and warnings only")
    parser.add_argument("--verbose", action="store_const", const=2, dest="verbosity",
                        help="log more: each process's function and restarts")
    parser.add_argument("-V", "--version", action="version",
                        version=f"worker-py (zpipe) {__version__}")
    return parser.parse_args(argv)


def main(argv=None, prog=PROG) -> int:
    config = parse_args(sys.argv[1:] if argv is None else argv, prog)
    log.init(config.verbosity)
    # The user's code is imported once, here, before any fork: an error says so
    # before any process starts, and every process inherits the module.
    if config.function != "sha512-chain" and "" not in sys.path:
        sys.path.insert(0, "")          # `python3 -m` has it; a launcher may not
    try:
        function = functions.load(config.function)
    except functions.LoadError as e:
        log.error(str(e))
        return EX_CONFIG
    try:
        import zmq                      # noqa: F401 - before the fork, once
    except ImportError:
        log.error("can't import zmq: install pyzmq (Debian: apt-get install python3-zmq)")
        return EX_UNAVAILABLE
    from . import process, supervisor
    engine = "python/" + config.function

    def run_process(replaces, parent, mask, index, crashlog):
        return process.Process(config, function, engine, replaces, parent, index,
                               crashlog).run(mask)

    try:
        return supervisor.run(config, run_process)
    except KeyboardInterrupt:
        return 0
