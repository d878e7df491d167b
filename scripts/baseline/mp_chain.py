#!/usr/bin/env python3
"""scripts/baseline/mp_chain.py - the program zpipe replaces, for benchmarks.

A Python multiprocessing pipeline done the way the original was: a Manager
with a work queue and a results queue, one worker process per core, 16
random UUIDv4 strings, each hashed with the iterated SHA-512 chain
(h = sha512(h).hexdigest().encode(), 1,000,000 times), and a JSON document
with data, starttime, endtime and totaltime_in_s on stdout.

    scripts/baseline/mp_chain.py [-n COUNT] [-N ITERATIONS] [-p PROCESSES]

It is deliberately plain: what it costs is what zpipe is measured against,
so it must not be cleverer (no Pool chunking, no shared memory) than the
program it stands for. The clock starts before the work is queued and stops
when the last result is in, as the original's did; scripts/bench also
times it from outside, from launching the interpreter to the JSON.
"""

import argparse
import hashlib
import json
import multiprocessing
import time
import uuid


def chain(text, iterations):
    h = text.encode()
    for _ in range(iterations):
        h = hashlib.sha512(h).hexdigest().encode()
    return h.decode()


def worker(work, results, iterations):
    while True:
        item = work.get()
        if item is None:
            return
        index, text = item
        results.put((index, text, chain(text, iterations)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--count", type=int, default=16)
    parser.add_argument("-N", "--iterations", type=int, default=1000000)
    parser.add_argument("-p", "--processes", type=int, default=multiprocessing.cpu_count())
    args = parser.parse_args()

    manager = multiprocessing.Manager()
    work = manager.Queue()
    results = manager.Queue()
    strings = [str(uuid.uuid4()) for _ in range(args.count)]

    starttime = time.time()
    for index, text in enumerate(strings):
        work.put((index, text))
    for _ in range(args.processes):
        work.put(None)
    processes = [multiprocessing.Process(target=worker, args=(work, results, args.iterations))
                 for _ in range(args.processes)]
    for process in processes:
        process.start()
    data = [None] * args.count
    for _ in range(args.count):
        index, text, digest = results.get()
        data[index] = {text: digest}
    for process in processes:
        process.join()
    endtime = time.time()

    print(json.dumps({"data": data, "starttime": starttime, "endtime": endtime,
                      "totaltime_in_s": endtime - starttime}, indent=2), flush=True)
    manager.shutdown()


if __name__ == "__main__":
    main()
