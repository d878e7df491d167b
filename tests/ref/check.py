#!/usr/bin/env python3
"""check.py - check a zpipe sink summary against an independent reference.

    check.py --input FILE --iterations N --summary SINK.json [--max-length BYTES]
    check.py --uuids COUNT --iterations N --summary SINK.json

With --input, FILE is what the ventilator read; it is split here by the same
rules (bytes split on LF, one trailing CR removed, empty lines skipped, every
other byte is data, NUL included; lines longer than --max-length bytes, after
the CR is removed, are rejected and must be counted in `rejected`) and `data` must hold exactly one entry per accepted line, in input
order. With --uuids, the ventilator made COUNT random UUIDv4 strings itself:
the keys must be COUNT distinct lowercase UUIDv4 strings.

Every hash is recomputed here with hashlib:
    h = line bytes; repeat N times: h = hashlib.sha512(h).hexdigest().encode()

An entry is {"<input>": "<128 hex>"} when the input is valid UTF-8, else
{"input_base64": "<base64 of the raw bytes>", "hash": "<128 hex>"}.

Also checked: the summary is one JSON object and nothing else; starttime,
endtime, totaltime_in_s are numbers, starttime and endtime are clock readings
(seconds since the epoch), endtime >= starttime and totaltime_in_s matches
them; complete is true; tasks equals the number of entries;
iterations is N; rejected is the number of rejected lines; batch is a 16-hex
id; duplicates, redelivered and worker_restarts are counts and lost is 0
(nothing is ever dropped); every worker is {host, pid, tasks, busy_s} and
their tasks add up to tasks. --workers K also requires exactly K worker
entries.

--ndjson: the summary FILE is the output of `sink --format ndjson`: one line
per result, {"batch", "task", "input" or "input_base64", "hash"} (or "error"),
and one summary line per batch (the members above without "data"). Every
line must be one JSON object; each task of the batch has exactly one result
line, written before the batch's summary line. --batch K picks the K-th
summary line (from 1; default: the file must hold exactly one). The result
lines of that batch, in task order, are then checked as "data" is.

--cache FILE keeps the hashlib results by input digest and iterations, so
that runs over the same inputs (the reliability suites run the same lines
again and again) compute each chain once. Every value in it was computed
here by hashlib; a line that does not parse is ignored.

Prints every mismatch (up to a limit) on stderr and exits 1; prints one OK line
on stdout and exits 0 when everything matches. Exit 2 for bad usage.
"""

import argparse
import base64
import binascii
import concurrent.futures
import hashlib
import json
import math
import os
import re
import sys

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
HEX128 = re.compile(r"[0-9a-f]{128}")
HEX16 = re.compile(r"[0-9a-fA-F]{16}")
MAX_REPORTED = 25


def chain(data: bytes, iterations: int) -> str:
    h = data
    sha512 = hashlib.sha512
    for _ in range(iterations):
        h = sha512(h).hexdigest().encode()
    return h.decode()


CACHE = {}
CACHE_FILE = None


def load_cache(path):
    global CACHE_FILE
    CACHE_FILE = path
    try:
        with open(path, "r", encoding="ascii") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and HEX128.fullmatch(parts[2]) and parts[1].isdigit():
                    CACHE[(parts[0], int(parts[1]))] = parts[2]
    except (OSError, UnicodeDecodeError):
        pass


def chains(inputs, iterations):
    """Hash every input, from the cache where it has them."""
    keys = [(hashlib.sha256(x).hexdigest(), iterations) for x in inputs]
    missing = sorted({i for i, k in enumerate(keys) if k not in CACHE},
                     key=lambda i: keys[i])
    todo, seen = [], set()
    for i in missing:
        if keys[i] not in seen:
            seen.add(keys[i])
            todo.append(i)
    if todo:
        computed = compute_chains([inputs[i] for i in todo], iterations)
        for i, digest in zip(todo, computed):
            CACHE[keys[i]] = digest
        if CACHE_FILE:
            try:
                with open(CACHE_FILE, "a", encoding="ascii") as f:
                    for i in todo:
                        f.write(f"{keys[i][0]} {iterations} {CACHE[keys[i]]}\n")
            except OSError:
                pass
    return [CACHE[k] for k in keys]


def compute_chains(inputs, iterations):
    """Hash every input; in parallel when there is enough work to matter."""
    work = sum(iterations for _ in inputs)
    workers = os.cpu_count() or 1
    if work < 2_000_000 or workers < 2 or len(inputs) < 2:
        return [chain(x, iterations) for x in inputs]
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(chain, inputs, [iterations] * len(inputs)))


def split_lines(raw: bytes, max_length):
    """Return (accepted, rejected): accepted is [(lineno, bytes)], rejected [lineno]."""
    accepted, rejected = [], []
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()     # the LF that ends the last line starts no new line
    for number, line in enumerate(lines, start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            continue
        if max_length is not None and len(line) > max_length:
            rejected.append(number)
            continue
        accepted.append((number, line))
    return accepted, rejected


class Obj(dict):
    """A JSON object that remembers its members in order, duplicates included."""

    def __init__(self, pairs):
        super().__init__(pairs)
        self.pairs = pairs


def short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


class Checker:
    def __init__(self):
        self.errors = []

    def fail(self, message):
        self.errors.append(message)

    def __bool__(self):
        return not self.errors


def load_summary(path, check):
    try:
        if path == "-":
            text = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as f:
                text = f.read()
    except OSError as e:
        check.fail(f"cannot read the summary {path}: {e.strerror}")
        return None
    if not text.strip():
        check.fail(f"the summary {path} is empty")
        return None
    try:
        doc = json.loads(text.decode("utf-8"), object_pairs_hook=Obj,
                         parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    except UnicodeDecodeError as e:
        check.fail(f"the summary is not UTF-8 ({e})")
        return None
    except ValueError as e:
        # One JSON document and nothing else: stdout carries only the summary.
        check.fail(f"the summary is not one JSON document: {e}")
        return None
    if not isinstance(doc, Obj):
        check.fail(f"the summary is a {type(doc).__name__}, not a JSON object")
        return None
    seen = set()
    for key, _ in doc.pairs:
        if key in seen:
            check.fail(f"the summary has the member {key!r} twice")
        seen.add(key)
    return doc


RESULT_KEYS = ({"batch", "task", "input", "hash"}, {"batch", "task", "input_base64", "hash"},
               {"batch", "task", "input", "error"}, {"batch", "task", "input_base64", "error"})


def load_ndjson(path, check, batch_index):
    """The summary line of one batch, with "data" made from its result lines."""
    try:
        with open(path, "rb") as f:
            raw_lines = f.read().split(b"\n")
    except OSError as e:
        check.fail(f"cannot read the output {path}: {e.strerror}")
        return None
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    else:
        check.fail(f"{path} does not end with a line feed")
    results, summaries = {}, []
    for number, raw in enumerate(raw_lines, start=1):
        try:
            line = json.loads(raw.decode("utf-8"), object_pairs_hook=Obj)
        except (UnicodeDecodeError, ValueError) as e:
            check.fail(f"line {number} is not one JSON document: {e}")
            continue
        if not isinstance(line, Obj):
            check.fail(f"line {number} is not a JSON object")
            continue
        if "task" not in line:
            if "data" in line:
                check.fail(f"line {number}: a summary line with data")
            summaries.append((number, line))
            continue
        if set(line) not in RESULT_KEYS or len(line.pairs) != len(line):
            check.fail(f"line {number} has members {[k for k, _ in line.pairs]}")
            continue
        batch, task = line["batch"], line["task"]
        if not is_count(task):
            check.fail(f"line {number}: task is {short(task)}")
            continue
        if any(b == batch for _, b in summaries_batches(summaries)):
            check.fail(f"line {number}: a result of batch {batch} after its summary")
        if (batch, task) in results:
            check.fail(f"line {number}: task {task} of batch {batch} appears twice")
        results[(batch, task)] = line
    if batch_index is None:
        if len(summaries) != 1:
            check.fail(f"{len(summaries)} summary lines, expected one")
            return None
        batch_index = 1
    if not 1 <= batch_index <= len(summaries):
        check.fail(f"no summary line number {batch_index} (there are {len(summaries)})")
        return None
    number, doc = summaries[batch_index - 1]
    batch = doc.get("batch")
    data = []
    for (b, task), line in sorted(results.items(), key=lambda item: item[0][1]):
        if b != batch:
            continue
        if task != len(data):
            check.fail(f"batch {batch}: no result line for task {len(data)}")
            break
        if "input" in line:
            data.append(Obj([(line["input"], line.get("hash", line.get("error")))]))
        else:
            data.append(Obj([("input_base64", line["input_base64"]),
                             ("hash", line.get("hash", line.get("error")))]))
    doc["data"] = data
    return doc


def summaries_batches(summaries):
    return [(n, line.get("batch")) for n, line in summaries]


def check_header(doc, check, args, expected_tasks, expected_rejected):
    for name in ("starttime", "endtime", "totaltime_in_s"):
        if name not in doc:
            check.fail(f"{name} is missing")
        elif not is_number(doc[name]):
            check.fail(f"{name} is not a number: {short(doc[name])}")
    if all(is_number(doc.get(n)) for n in ("starttime", "endtime", "totaltime_in_s")):
        start, end, total = doc["starttime"], doc["endtime"], doc["totaltime_in_s"]
        for name in ("starttime", "endtime"):
            # Seconds since the epoch: anything before 2001 is not a clock reading.
            if doc[name] < 1e9:
                check.fail(f"{name} is {doc[name]}, not a time (seconds since the epoch)")
        if end < start:
            check.fail(f"endtime {end} is before starttime {start}")
        if total < 0:
            check.fail(f"totaltime_in_s is negative: {total}")
        elif abs(total - (end - start)) > 0.05 + 0.01 * abs(end - start):
            check.fail(f"totaltime_in_s {total} does not match endtime - starttime = {end - start}")
    if doc.get("complete") is not True:
        check.fail(f"complete is {short(doc.get('complete', '<missing>'))}, not true")
    if doc.get("tasks") != expected_tasks or not is_count(doc.get("tasks")):
        check.fail(f"tasks is {short(doc.get('tasks', '<missing>'))}, expected {expected_tasks}")
    if doc.get("iterations") != args.iterations or not is_count(doc.get("iterations")):
        check.fail(f"iterations is {short(doc.get('iterations', '<missing>'))}, "
                   f"expected {args.iterations}")
    if expected_rejected is not None and (doc.get("rejected") != expected_rejected
                                          or not is_count(doc.get("rejected"))):
        check.fail(f"rejected is {short(doc.get('rejected', '<missing>'))}, "
                   f"expected {expected_rejected}")
    batch = doc.get("batch")
    if not isinstance(batch, str) or not HEX16.fullmatch(batch):
        check.fail(f"batch is {short(batch)}, not a 16-hex-digit id")
    for name in ("duplicates", "redelivered", "worker_restarts", "lost"):
        if not is_count(doc.get(name)):
            check.fail(f"{name} is {short(doc.get(name, '<missing>'))}, not a count")
    if is_count(doc.get("lost")) and doc["lost"] != 0:
        check.fail(f"lost is {doc['lost']}: tasks were dropped")
    if not is_number(doc.get("hashes_per_second")) or doc["hashes_per_second"] < 0:
        check.fail(f"hashes_per_second is {short(doc.get('hashes_per_second', '<missing>'))}")

    workers = doc.get("workers")
    if not isinstance(workers, list):
        check.fail(f"workers is {short(workers)}, not a list")
        return
    total = 0
    pids = set()
    for i, w in enumerate(workers):
        if not isinstance(w, Obj):
            check.fail(f"workers[{i}] is not an object: {short(w)}")
            continue
        if set(w) != {"host", "pid", "tasks", "busy_s"}:
            check.fail(f"workers[{i}] has members {sorted(w)}, expected busy_s, host, pid, tasks")
        if not isinstance(w.get("host"), str) or not w.get("host"):
            check.fail(f"workers[{i}].host is {short(w.get('host'))}")
        if not is_count(w.get("pid")) or w.get("pid") == 0:
            check.fail(f"workers[{i}].pid is {short(w.get('pid'))}")
        if (w.get("host"), w.get("pid")) in pids:
            check.fail(f"workers[{i}] ({w.get('host')}, pid {w.get('pid')}) is listed twice")
        pids.add((w.get("host"), w.get("pid")))
        if not is_count(w.get("tasks")):
            check.fail(f"workers[{i}].tasks is {short(w.get('tasks'))}")
        else:
            total += w["tasks"]
        if not is_number(w.get("busy_s")) or w["busy_s"] < 0:
            check.fail(f"workers[{i}].busy_s is {short(w.get('busy_s'))}")
    if total != expected_tasks:
        check.fail(f"the workers' tasks add up to {total}, expected {expected_tasks}")
    if args.workers is not None and len(workers) != args.workers:
        check.fail(f"{len(workers)} worker entries, expected {args.workers}")
    if args.worker_tasks is not None:
        low, high = args.worker_tasks
        for i, w in enumerate(workers):
            if is_count(w.get("tasks")) and not low <= w["tasks"] <= high:
                check.fail(f"workers[{i}] (pid {w.get('pid')}) did {w['tasks']} tasks, "
                           f"expected {low}..{high}")


def entry_of(entry, index, check):
    """Return (input bytes, hash) of one data entry, or None after reporting why."""
    where = f"data[{index}]"
    if not isinstance(entry, Obj):
        check.fail(f"{where} is not an object: {short(entry)}")
        return None
    keys = [k for k, _ in entry.pairs]
    if keys == ["input_base64", "hash"] or keys == ["hash", "input_base64"]:
        encoded, digest = entry["input_base64"], entry["hash"]
        if not isinstance(encoded, str):
            check.fail(f"{where}.input_base64 is not a string: {short(encoded)}")
            return None
        try:
            raw = base64.b64decode(encoded.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as e:
            check.fail(f"{where}.input_base64 is not valid base64 ({e}): {short(encoded)}")
            return None
        return raw, digest, True
    if len(keys) != 1:
        check.fail(f"{where} has {len(keys)} members {short(keys)}, expected one "
                   "(or input_base64 and hash)")
        return None
    key, digest = entry.pairs[0]
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError as e:
        check.fail(f"{where} key is not valid Unicode (a lone surrogate?): {short(key)} ({e})")
        return None
    return raw, digest, False


def check_hash(digest, expected, where, check):
    if not isinstance(digest, str) or not HEX128.fullmatch(digest):
        check.fail(f"{where}: the hash is not 128 lowercase hex digits: {short(digest)}")
    elif digest != expected:
        at = next(i for i, (a, b) in enumerate(zip(digest, expected)) if a != b)
        check.fail(f"{where}: wrong hash (differs at hex digit {at}): "
                   f"got {digest}, expected {expected}")


def check_input_mode(doc, check, args):
    try:
        with open(args.input, "rb") as f:
            raw = f.read()
    except OSError as e:
        check.fail(f"cannot read the input {args.input}: {e.strerror}")
        return 0
    accepted, rejected = split_lines(raw, args.max_length)
    data = doc.get("data")
    check_header(doc, check, args, len(accepted), len(rejected))
    if not isinstance(data, list):
        check.fail(f"data is {short(data)}, not a list")
        return len(accepted)
    if len(data) != len(accepted):
        check.fail(f"data has {len(data)} entries, expected {len(accepted)} "
                   f"(one per non-empty input line)")
    expected = chains([line for _, line in accepted], args.iterations)
    for index, ((lineno, line), digest) in enumerate(zip(accepted, expected)):
        if index >= len(data):
            check.fail(f"data[{index}] is missing (input line {lineno}: {short(line)})")
            continue
        where = f"data[{index}] (input line {lineno})"
        got = entry_of(data[index], index, check)
        if got is None:
            continue
        got_raw, got_hash, as_base64 = got
        if got_raw != line:
            check.fail(f"{where}: input is {short(got_raw)}, expected {short(line)}")
            continue
        try:
            line.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        if valid and as_base64:
            check.fail(f"{where}: valid UTF-8 input written as input_base64")
        if not valid and not as_base64:
            check.fail(f"{where}: input is not valid UTF-8 but is not written as input_base64")
        check_hash(got_hash, digest, where, check)
    for index in range(len(accepted), len(data)):
        check.fail(f"data[{index}] is one entry too many: {short(data[index])}")
    return len(accepted)


def check_uuid_mode(doc, check, args):
    data = doc.get("data")
    check_header(doc, check, args, args.uuids, 0)
    if not isinstance(data, list):
        check.fail(f"data is {short(data)}, not a list")
        return 0
    if len(data) != args.uuids:
        check.fail(f"data has {len(data)} entries, expected {args.uuids}")
    keys, hashes, seen = [], [], set()
    for index, entry in enumerate(data):
        got = entry_of(entry, index, check)
        if got is None:
            continue
        raw, digest, as_base64 = got
        text = raw.decode("utf-8", "replace")
        if as_base64 or not UUID4.fullmatch(text):
            check.fail(f"data[{index}]: {short(text)} is not a lowercase UUIDv4 string")
            continue
        if text in seen:
            check.fail(f"data[{index}]: {text} appears twice")
        seen.add(text)
        keys.append((index, raw))
        hashes.append(digest)
    expected = chains([raw for _, raw in keys], args.iterations)
    for (index, raw), digest, want in zip(keys, hashes, expected):
        check_hash(digest, want, f"data[{index}] ({raw.decode()})", check)
    return len(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="FILE", help="the ventilator's input file")
    source.add_argument("--uuids", metavar="COUNT", type=int,
                        help="the ventilator generated COUNT UUIDv4 strings")
    parser.add_argument("--iterations", "-N", metavar="N", type=int, required=True)
    parser.add_argument("--summary", metavar="FILE", required=True,
                        help="the sink's summary JSON (- for stdin)")
    parser.add_argument("--max-length", metavar="BYTES", type=int, default=1048576,
                        help="the ventilator's --max-length: longer lines are rejected "
                             "(default: the ventilator's default, 1048576)")
    parser.add_argument("--workers", metavar="K", type=int,
                        help="require exactly K entries in workers")
    parser.add_argument("--worker-tasks", metavar="LOW..HIGH",
                        help="require every worker's tasks within LOW..HIGH")
    parser.add_argument("--ndjson", action="store_true",
                        help="the summary file is sink --format ndjson output")
    parser.add_argument("--batch", metavar="K", type=int,
                        help="with --ndjson: check the K-th batch (from 1)")
    parser.add_argument("--cache", metavar="FILE",
                        help="keep hashlib's results in FILE and reuse them")
    args = parser.parse_args()
    if args.iterations < 1:
        parser.error("--iterations must be >= 1")
    if args.worker_tasks is not None:
        m = re.fullmatch(r"(\d+)\.\.(\d+)", args.worker_tasks)
        if not m:
            parser.error("--worker-tasks takes LOW..HIGH")
        args.worker_tasks = (int(m.group(1)), int(m.group(2)))

    if args.cache:
        load_cache(args.cache)
    check = Checker()
    if args.ndjson:
        doc = load_ndjson(args.summary, check, args.batch)
    else:
        doc = load_summary(args.summary, check)
    entries = 0
    if doc is not None:
        if args.input is not None:
            entries = check_input_mode(doc, check, args)
        else:
            entries = check_uuid_mode(doc, check, args)

    if check.errors:
        for message in check.errors[:MAX_REPORTED]:
            print(f"check.py: {message}", file=sys.stderr)
        if len(check.errors) > MAX_REPORTED:
            print(f"check.py: ... and {len(check.errors) - MAX_REPORTED} more",
                  file=sys.stderr)
        print(f"check.py: FAILED, {len(check.errors)} problem(s) in {args.summary}",
              file=sys.stderr)
        return 1
    print(f"check.py: OK, {entries} entries, {args.iterations} iterations")
    return 0


if __name__ == "__main__":
    sys.exit(main())
