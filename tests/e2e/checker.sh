#!/usr/bin/env bash
# tests/e2e/checker.sh - the checker must be able to fail. tests/ref/check.py
# accepts a summary built here by hand, and rejects each way that summary can
# be wrong. Needs no binaries.

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

case_dir checker
IN=$T_DIR/input.txt
GOOD=$T_DIR/good.json
make_corpus "$IN"

# A summary as the contract describes it, built from the input with hashlib.
# The chain itself is pinned to a published vector first: one iteration of
# "abc" is FIPS 180-2's SHA-512("abc").
python3 - "$IN" "$GOOD" <<'EOF'
import base64, hashlib, json, sys
def chain(h, n):
    for _ in range(n):
        h = hashlib.sha512(h).hexdigest().encode()
    return h.decode()
assert chain(b"abc", 1) == (
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f")
raw = open(sys.argv[1], "rb").read()
data = []
for line in raw.split(b"\n"):
    line = line[:-1] if line.endswith(b"\r") else line
    if not line:
        continue
    try:
        data.append({line.decode("utf-8"): chain(line, 5)})
    except UnicodeDecodeError:
        data.append({"input_base64": base64.b64encode(line).decode(), "hash": chain(line, 5)})
doc = {"data": data, "starttime": 1700000000.25, "endtime": 1700000001.75,
       "totaltime_in_s": 1.5, "batch": "0123456789abcdef", "complete": True,
       "tasks": len(data), "iterations": 5, "hashes_per_second": 1000.0, "rejected": 0,
       "duplicates": 0, "redelivered": 0, "worker_restarts": 0, "lost": 0,
       "workers": [{"host": "h", "pid": 10, "tasks": len(data) - 50, "busy_s": 1.0},
                   {"host": "h", "pid": 11, "tasks": 50, "busy_s": 1.0}]}
json.dump(doc, open(sys.argv[2], "w"), ensure_ascii=False)
EOF
[[ -s $GOOD ]] || { not_ok "build a reference summary"; finish; }

check_summary "a correct summary passes" --input "$IN" --iterations 5 --summary "$GOOD"

# WANT=REGEX mutant DESC PYTHON: a copy of the good summary changed by PYTHON
# (which edits `doc`, or sets `text` to the whole file); check.py must reject
# it with a message matching REGEX, so that it fails for the right reason.
# Mutants are collected first and built by one python3 run (run_mutants).
k=0
M_DESC=() M_WANT=() M_EXTRA=()
mutant() {
    k=$((k + 1))
    printf '%s\n' "$2" >"$T_DIR/mutant-$k.py"
    M_DESC[k]=$1
    M_WANT[k]=$WANT
    M_EXTRA[k]=${EXTRA[*]}
}
run_mutants() {
    local i out
    python3 - "$GOOD" "$T_DIR" "$k" <<'EOF' || { not_ok "build the mutants"; return; }
import json, sys
good, where, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
for i in range(1, count + 1):
    doc = json.load(open(good))
    text = None
    exec(open(f"{where}/mutant-{i}.py").read())
    with open(f"{where}/mutant-{i}.json", "w") as f:
        f.write(text if text is not None else json.dumps(doc, ensure_ascii=False))
EOF
    for ((i = 1; i <= k; i++)); do
        # shellcheck disable=SC2086 # M_EXTRA holds words to split
        if out=$(python3 "$CHECK_PY" --input "$IN" --iterations 5 \
                --summary "$T_DIR/mutant-$i.json" ${M_EXTRA[i]} 2>&1); then
            not_ok "check.py rejects: ${M_DESC[i]}"
            diag "it passed: $out"
        elif grep -Eq -- "${M_WANT[i]}" <<<"$out"; then
            ok "check.py rejects: ${M_DESC[i]}"
        else
            not_ok "check.py rejects: ${M_DESC[i]}, saying /${M_WANT[i]}/"
            diag "$out"
        fi
    done
}
EXTRA=()

WANT='data\[7\] .*wrong hash' mutant "one wrong hash digit" '
k, v = next(iter(doc["data"][7].items())); doc["data"][7][k] = v[:-1] + ("0" if v[-1] != "0" else "1")'
WANT='not 128 lowercase hex' mutant "uppercase hex" '
k, v = next(iter(doc["data"][0].items())); doc["data"][0][k] = v.upper()'
WANT='data\[1\] .*input is' mutant "two entries swapped" 'doc["data"][1], doc["data"][2] = doc["data"][2], doc["data"][1]'
WANT='data has 199 entries' mutant "an entry missing" 'del doc["data"][50]; doc["tasks"] -= 1; doc["workers"][1]["tasks"] -= 1'
WANT='one entry too many' mutant "an entry too many" 'doc["data"].append(doc["data"][0]); doc["tasks"] += 1; doc["workers"][1]["tasks"] += 1'
WANT='crlf line\\r' mutant "the CR of the CRLF line kept" '
for e in doc["data"]:
    if "crlf line" in e: e["crlf line\r"] = e.pop("crlf line")'
WANT='data has 201 entries' mutant "an empty line reported" 'doc["data"].insert(3, {"": doc["data"][3][next(iter(doc["data"][3]))]})'
WANT='input is b.latin-1 caf\\xef\\xbf\\xbd' mutant "invalid UTF-8 written as a key (U+FFFD)" '
for e in doc["data"]:
    if "input_base64" in e and len(e) == 2:
        import base64; raw = base64.b64decode(e["input_base64"]); e.clear()
        e[raw.decode("utf-8", "replace")] = "0" * 128; break'
WANT='valid UTF-8 input written as input_base64' mutant "valid UTF-8 written as input_base64" '
import base64; k, v = next(iter(doc["data"][0].items()))
doc["data"][0] = {"input_base64": base64.b64encode(k.encode()).decode(), "hash": v}'
WANT='is not UTF-8!' mutant "base64 of other bytes" '
import base64
for e in doc["data"]:
    if "input_base64" in e and len(e) == 2:
        e["input_base64"] = base64.b64encode(base64.b64decode(e["input_base64"]) + b"!").decode(); break'
WANT='has 2 members' mutant "an entry with two members" 'doc["data"][5]["extra"] = "0" * 128'
WANT='complete is False' mutant "complete false" 'doc["complete"] = False'
WANT='complete is .<missing>' mutant "complete missing" 'del doc["complete"]'
WANT='tasks is 201' mutant "tasks off by one" 'doc["tasks"] += 1'
WANT='iterations is 6' mutant "iterations wrong" 'doc["iterations"] = 6'
WANT='endtime .* is before starttime' mutant "endtime before starttime" 'doc["endtime"] = doc["starttime"] - 1; doc["totaltime_in_s"] = -1.0'
WANT='totaltime_in_s is not a number' mutant "totaltime_in_s a string" 'doc["totaltime_in_s"] = "1.5"'
WANT='does not match endtime - starttime' mutant "totaltime_in_s not end - start" 'doc["totaltime_in_s"] = 100.0'
WANT='starttime is missing' mutant "starttime missing" 'del doc["starttime"]'
WANT='starttime is 0, not a time' mutant "starttime 0 (not a clock reading)" '
doc["starttime"] = 0; doc["endtime"] = 1.5'
WANT='batch is .xyz' mutant "batch not 16 hex digits" 'doc["batch"] = "xyz"'
WANT='tasks add up to 201' mutant "workers' tasks do not add up" 'doc["workers"][0]["tasks"] += 1'
WANT='workers\[0\] has members' mutant "a worker without pid" 'del doc["workers"][0]["pid"]'
WANT='rejected is 1, expected 0' mutant "rejected not 0" 'doc["rejected"] = 1'
WANT='not one JSON document' mutant "text after the JSON" 'text = json.dumps(doc) + "\nlog line on stdout\n"'
WANT='not one JSON document' mutant "two JSON documents" 'text = json.dumps(doc) + json.dumps(doc)'
WANT='not valid Unicode' mutant "a lone surrogate escape in a key" '
k, v = next(iter(doc["data"][0].items())); doc["data"][0] = {"\ud800": v}
text = json.dumps(doc)'
WANT='is empty' mutant "an empty file" 'text = ""'
WANT='lost is 1' mutant "a task lost" 'doc["lost"] = 1'
WANT='redelivered is .<missing>.' mutant "redelivered missing" 'del doc["redelivered"]'
WANT='worker_restarts is -1' mutant "a negative worker_restarts" 'doc["worker_restarts"] = -1'
EXTRA=(--cache "$T_DIR/cache.txt")
check_summary "a correct summary passes with an empty cache" --input "$IN" --iterations 5 \
    --summary "$GOOD" --cache "$T_DIR/cache.txt"
check_summary "... and again from the cache" --input "$IN" --iterations 5 \
    --summary "$GOOD" --cache "$T_DIR/cache.txt"
# A cache that lies must not make a wrong summary pass: the hashes come from
# the cache, so a wrong one in it would; the checker only ever writes hashlib's
# results, and this shows the cache is really used (and why it must be).
python3 - "$T_DIR/cache.txt" <<'PYEOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
key, n, digest = lines[0].split()
lines[0] = f"{key} {n} {'0' * 128}"
open(sys.argv[1] + ".bad", "w").write("\n".join(lines) + "\n")
PYEOF
if out=$(python3 "$CHECK_PY" --input "$IN" --iterations 5 --summary "$GOOD" \
             --cache "$T_DIR/cache.txt.bad" 2>&1); then
    not_ok "the cache is used: a poisoned entry makes the good summary fail"
    diag "it passed: $out"
else
    ok "the cache is used: a poisoned entry makes the good summary fail"
fi
WANT='data\[7\] .*wrong hash' mutant "one wrong hash digit, hashes from the cache" '
k, v = next(iter(doc["data"][7].items())); doc["data"][7][k] = v[:-1] + ("0" if v[-1] != "0" else "1")'
EXTRA=(--workers 3)
WANT='2 worker entries, expected 3' mutant "--workers 3 with 2 workers" 'pass'
EXTRA=(--worker-tasks 7..9)
WANT='expected 7\.\.9' mutant "--worker-tasks 7..9 with other shares" 'pass'
EXTRA=(--max-length 1000)
WANT='rejected is 0, expected 1' mutant "--max-length 1000: the 100 KB line should have been rejected" 'pass'
EXTRA=()
run_mutants

# --uuids: a generated batch.
python3 - "$T_DIR/uuids.json" <<'EOF'
import hashlib, json, sys, uuid
def chain(h, n):
    for _ in range(n):
        h = hashlib.sha512(h).hexdigest().encode()
    return h.decode()
keys = [str(uuid.uuid4()) for _ in range(4)]
data = [{k: chain(k.encode(), 3)} for k in keys]
json.dump({"data": data, "starttime": 1700000000.0, "endtime": 1700000001.0, "totaltime_in_s": 1.0,
           "batch": "fedcba9876543210", "complete": True, "tasks": 4, "iterations": 3,
           "hashes_per_second": 12.0, "rejected": 0, "duplicates": 0,
           "redelivered": 3, "worker_restarts": 1, "lost": 0, "workers": [{"host": "h", "pid": 1, "tasks": 4, "busy_s": 0.5}]},
          open(sys.argv[1], "w"))
EOF
check_summary "--uuids: a correct summary passes" --uuids 4 --iterations 3 --summary "$T_DIR/uuids.json"
uuid_mutant() {
    local desc=$1 code=$2 file=$T_DIR/uuid-mutant.json out
    python3 -c '
import json, sys
doc = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(doc, open(sys.argv[2], "w"))' "$T_DIR/uuids.json" "$file" "$code"
    if out=$(python3 "$CHECK_PY" --uuids 4 --iterations 3 --summary "$file" 2>&1); then
        not_ok "check.py --uuids rejects: $desc"
        diag "it passed: $out"
    elif grep -Eq -- "$WANT" <<<"$out"; then
        ok "check.py --uuids rejects: $desc"
    else
        not_ok "check.py --uuids rejects: $desc, saying /$WANT/"
        diag "$out"
    fi
}
WANT='is not a lowercase UUIDv4' uuid_mutant "an uppercase UUID" '
k, v = next(iter(doc["data"][0].items())); doc["data"][0] = {k.upper(): v}'
WANT='6ba7b810-9dad-11d1-80b4-00c04fd430c8. is not a lowercase UUIDv4' uuid_mutant "a version 1 UUID" '
import hashlib
k = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"; h = k.encode()
for _ in range(3): h = hashlib.sha512(h).hexdigest().encode()
doc["data"][0] = {k: h.decode()}'
WANT='appears twice' uuid_mutant "the same UUID twice" 'doc["data"][1] = doc["data"][0]'
WANT='data\[3\] .*wrong hash' uuid_mutant "a wrong hash" '
k, v = next(iter(doc["data"][3].items())); doc["data"][3][k] = "f" * 128'
if out=$(python3 "$CHECK_PY" --uuids 5 --iterations 3 --summary "$T_DIR/uuids.json" 2>&1); then
    not_ok "check.py --uuids 5 rejects 4 entries"
    diag "it passed: $out"
elif grep -q "data has 4 entries, expected 5" <<<"$out"; then
    ok "check.py --uuids 5 rejects 4 entries"
else
    not_ok "check.py --uuids 5 rejects 4 entries, saying so"
    diag "$out"
fi

finish
