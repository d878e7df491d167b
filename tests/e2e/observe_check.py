#!/usr/bin/env python3
"""observe_check.py - checks for tests/e2e/observe.sh (the sink's --http and progress bar).

    observe_check.py metrics METRICS SUMMARY PID...
        METRICS (a /metrics text, already passed by promtool) agrees with the
        batch's SUMMARY JSON: results, hashes, failed, duplicates, redelivered,
        rejected messages and refused connections; one completed batch; one
        zpipe_worker_results_total series per PID, each equal to that process's
        tasks in the summary; every per-process family has exactly the PIDs.
    observe_check.py status STATUS SUMMARY PID...
        STATUS (a /status JSON) has one worker row per PID and no other, each
        alive with an engine and an RSS; the batch is the summary's, complete.
    observe_check.py state STATUS STATE PID...
        every PID's row in STATUS is in STATE (alive, left, gone).
    observe_check.py dom DOM MIN_REFRESHES PID...
        the page's DOM (chromium --dump-dom) has one worker row per PID and
        no other, and refreshed itself at least MIN_REFRESHES times; prints
        the batch line.
    observe_check.py png FILE
        FILE is a PNG image whose pixels are not all the same.
    observe_check.py progress CAPTURE
        CAPTURE (what a terminal showed of the sink's stderr) has progress bar
        percentages that never go down, at least two of them, the last 100.0,
        and no log line that starts on the bar's line.

Exit 0 and one line on stdout when the check passes, 1 with the reasons on
stderr when it does not, 2 for bad usage.
"""

import html.parser
import json
import re
import struct
import sys
import zlib

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def fail(*reasons):
    for reason in reasons:
        print(reason, file=sys.stderr)
    sys.exit(1)


def parse_metrics(text):
    """{name: [(labels dict, value)]} from the text format; every sample line
    must parse and belong to a family with a TYPE line."""
    samples, types, bad = {}, {}, []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith('# TYPE '):
            _, _, name, kind = line.split(' ', 3)
            types[name] = kind
            continue
        if line.startswith('#') or not line:
            continue
        match = SAMPLE.match(line)
        if not match:
            bad.append(f'line {number} does not parse: {line!r}')
            continue
        name, labels = match.group(1), dict(LABEL.findall(match.group(3) or ''))
        if name not in types:
            bad.append(f'line {number}: {name} has no TYPE line')
        samples.setdefault(name, []).append((labels, float(match.group(4))))
    if bad:
        fail(*bad)
    return samples, types


def single(samples, name):
    series = samples.get(name)
    if not series or len(series) != 1:
        fail(f'{name}: expected one sample, found {len(series or [])}')
    return series[0][1]


def check_metrics(metrics_file, summary_file, pids):
    samples, types = parse_metrics(open(metrics_file, encoding='utf-8').read())
    summary = json.load(open(summary_file, encoding='utf-8'))
    failed = summary['failed']
    want = {
        'zpipe_results_total': summary['results'],
        'zpipe_hashes_total': summary['iterations'] * (summary['results'] - failed),
        'zpipe_failed_tasks_total': failed,
        'zpipe_duplicate_results_total': summary['duplicates'],
        'zpipe_redelivered_tasks_total': summary['redelivered'],
        'zpipe_rejected_messages_total': summary['rejected_messages'],
        'zpipe_refused_connections_total': summary['refused_connections'],
        'zpipe_batches_completed_total': 1,
    }
    problems = []
    for name, value in want.items():
        if types.get(name) != 'counter':
            problems.append(f'{name}: TYPE {types.get(name)}, expected counter')
        got = single(samples, name)
        if got != value:
            problems.append(f'{name} is {got:g}, the summary says {value}')
    tasks = {str(w['pid']): w['tasks'] for w in summary['workers']}
    results = {s[0].get('pid'): s[1] for s in samples.get('zpipe_worker_results_total', [])}
    for pid in pids:
        if results.get(pid) != tasks.get(pid, 0):
            problems.append(f'zpipe_worker_results_total for pid {pid} is {results.get(pid)},'
                            f' the summary says {tasks.get(pid, 0)}')
    for name, series in samples.items():
        if not name.startswith('zpipe_worker_') or name.startswith('zpipe_worker_processes'):
            continue
        got = sorted(labels.get('pid', '?') for labels, _ in series)
        if got != sorted(pids):
            problems.append(f'{name} has pids {got}, expected {sorted(pids)}')
        if any(set(labels) != {'host', 'pid'} for labels, _ in series):
            problems.append(f'{name}: per-process series must have exactly host and pid labels')
    for labels, value in samples.get('zpipe_batch_results', []):
        if labels.get('batch') != summary['batch'] or value != summary['results']:
            problems.append(f'zpipe_batch_results{labels} {value:g} is not the summary\'s')
    if problems:
        fail(*problems)
    print(f'metrics agree with the summary: {summary["results"]} results,'
          f' {want["zpipe_hashes_total"]} hashes, {len(pids)} processes')


def load_status(status_file):
    try:
        return json.load(open(status_file, encoding='utf-8'))
    except ValueError as error:
        fail(f'{status_file}: not JSON: {error}')


def rows_by_pid(status, pids):
    rows = {str(w['pid']): w for w in status['workers']}
    if sorted(rows) != sorted(pids) or len(rows) != len(status['workers']):
        fail(f'worker rows for pids {sorted(str(w["pid"]) for w in status["workers"])},'
             f' expected one for each of {sorted(pids)}')
    return rows


def check_status(status_file, summary_file, pids):
    status = load_status(status_file)
    summary = json.load(open(summary_file, encoding='utf-8'))
    rows = rows_by_pid(status, pids)
    problems = []
    for pid, row in rows.items():
        if row['state'] != 'alive' or not row['engine'] or row['rss_bytes'] <= 0:
            problems.append(f'pid {pid}: {row}')
    batch = status['batch']
    if not batch or batch['batch'] != summary['batch'] or not batch['complete'] \
            or batch['results'] != summary['results'] or batch['tasks'] != summary['tasks']:
        problems.append(f'batch {batch} is not the complete batch of the summary')
    if status['sink']['results'] != summary['results']:
        problems.append(f'sink results {status["sink"]["results"]} != {summary["results"]}')
    if problems:
        fail(*problems)
    print(f'/status: {len(rows)} worker rows, batch {batch["batch"]} complete')


def check_state(status_file, state, pids):
    rows = rows_by_pid(load_status(status_file), pids)
    wrong = [f'pid {pid} is {row["state"]}' for pid, row in rows.items() if row['state'] != state]
    if wrong:
        fail(*wrong)
    print(f'every process is {state}')


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.pids, self.ids, self.current = [], {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == 'tr' and 'worker' in (attrs.get('class') or '').split():
            self.pids.append(attrs.get('data-pid'))
        self.current = attrs.get('id')

    def handle_data(self, data):
        if self.current:
            self.ids[self.current] = self.ids.get(self.current, '') + data

    def handle_endtag(self, tag):
        self.current = None


def check_dom(dom_file, min_refreshes, pids):
    page = Page()
    page.feed(open(dom_file, encoding='utf-8', errors='replace').read())
    problems = []
    if sorted(page.pids) != sorted(pids):
        problems.append(f'the table shows pids {sorted(page.pids)}, expected {sorted(pids)}')
    refreshes = int(page.ids.get('refreshes', '0') or 0)
    if refreshes < min_refreshes:
        problems.append(f'the page refreshed {refreshes} times, expected {min_refreshes}+')
    if problems:
        fail(*problems)
    print(f'{len(page.pids)} worker rows, {refreshes} refreshes;'
          f' batch line: {page.ids.get("batch-line", "").strip()}')


def check_png(png_file):
    data = open(png_file, 'rb').read()
    if not data.startswith(b'\x89PNG\r\n\x1a\n'):
        fail(f'{png_file}: not a PNG ({len(data)} bytes)')
    position, idat, header = 8, b'', None
    while position + 8 <= len(data):
        length, kind = struct.unpack('>I4s', data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b'IHDR':
            header = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat += body
        position += 12 + length
    if not header or not idat:
        fail(f'{png_file}: no IHDR or IDAT chunk')
    width, height = header[0], header[1]
    raw = zlib.decompress(idat)
    # Each scanline starts with a filter byte; a uniform image has every
    # line equal to the previous (filter 2, all zeros) after the first. Here:
    # more than a handful of distinct byte values means something was drawn.
    if len(set(raw)) < 8:
        fail(f'{png_file}: {width}x{height}, but (nearly) uniform')
    print(f'{png_file}: {width}x{height} PNG, {len(set(raw))} distinct byte values')


def check_progress(capture_file):
    # newline='': keep the carriage returns the bar is redrawn with
    text = open(capture_file, encoding='utf-8', errors='replace', newline='').read()
    values = [float(v) for v in re.findall(r'\] +([0-9]+\.[0-9]) % ', text)]
    problems = []
    if len(set(values)) < 2:
        problems.append(f'fewer than two distinct percentages: {values}')
    if any(b < a for a, b in zip(values, values[1:])):
        problems.append(f'a percentage went down: {values}')
    if not values or values[-1] != 100.0:
        problems.append(f'the last percentage is not 100.0: {values[-1:]}')
    if '\r' not in text:
        problems.append('the bar is not redrawn in place (no carriage return)')
    # A log line never continues the bar's line: it starts the capture, a
    # new line, or a line the bar was cleared from ("\r" ESC "[K").
    for match in re.finditer(r'[EWID]: \d\d-\d\d-\d\d \d\d:\d\d:\d\d ', text):
        before = text[:match.start()]
        if before and not before.endswith(('\n', '\r\x1b[K')):
            problems.append(f'a log line continues the bar: ...{before[-60:]!r}')
            break
    if problems:
        fail(*problems)
    print(f'{len(values)} redraws: {" ".join(f"{v:g}" for v in values)}')


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    kind, rest = argv[1], argv[2:]
    if kind == 'metrics' and len(rest) >= 2:
        check_metrics(rest[0], rest[1], rest[2:])
    elif kind == 'status' and len(rest) >= 2:
        check_status(rest[0], rest[1], rest[2:])
    elif kind == 'state' and len(rest) >= 2:
        check_state(rest[0], rest[1], rest[2:])
    elif kind == 'dom' and len(rest) >= 2:
        check_dom(rest[0], int(rest[1]), rest[2:])
    elif kind == 'png' and len(rest) == 1:
        check_png(rest[0])
    elif kind == 'progress' and len(rest) == 1:
        check_progress(rest[0])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
