#!/usr/bin/env python3
"""scripts/baseline/chain_rate.py - per-core speed of Python's hashlib on
the zpipe chain, as JSON on stdout (used by scripts/bench).

    scripts/baseline/chain_rate.py [-n ITERATIONS] [-r REPEAT] [-i INPUT]

Runs h = sha512(h).hexdigest().encode() ITERATIONS times from INPUT (the
same chain tests/bench/engines.c runs, so the results must be equal), in
one process, timed in process CPU seconds like the engines; the fastest of
REPEAT runs counts.
"""

import argparse
import hashlib
import json
import platform
import ssl
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--iterations", type=int, default=1000000)
    parser.add_argument("-r", "--repeat", type=int, default=1)
    parser.add_argument("-i", "--input", default="bench")
    args = parser.parse_args()

    best = None
    for _ in range(args.repeat):
        h = args.input.encode()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(args.iterations):
            h = hashlib.sha512(h).hexdigest().encode()
        took = (time.process_time() - cpu, time.perf_counter() - wall)
        if best is None or took[0] < best[0]:
            best = took
    print(json.dumps({
        "name": "python-hashlib", "kind": "python", "lanes": 1,
        "steps": args.iterations, "cpu_s": best[0], "wall_s": best[1],
        "steps_per_s": args.iterations / best[0],
        "steps_per_s_wall": args.iterations / best[1],
        "result": h.decode(),
        "python": platform.python_version(),
        "implementation": hashlib.sha512().__class__.__module__ or "",
        "hashlib_sha512": repr(hashlib.sha512),
        "openssl": ssl.OPENSSL_VERSION,
    }))


if __name__ == "__main__":
    main()
