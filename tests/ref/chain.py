#!/usr/bin/env python3
"""chain.py - reference values for the zpipe hash chain, by Python's hashlib.

Usage: chain.py [ITERATIONS] < lines

Each line of standard input is one chain: its input bytes as hex (an empty
line is the empty input), preceded by "N " to give that chain its own
iteration count, which is required when ITERATIONS is not given. For every
line, prints the chain's result, 128 lowercase hex characters, on a line:

    h = input; repeat N times: h = sha512(h).hexdigest().encode()

This is the definition zp_hash_chain must match byte for byte; the unit
tests (tests/unit/test_hash.c) compute their expected values with it at
test time. Exits 2 on a malformed line or N < 1.

This Source Code Form is subject to the terms of the Mozilla Public
License, v. 2.0. If a copy of the MPL was not distributed with this
file, You can obtain one at http://mozilla.org/MPL/2.0/.
"""
import hashlib
import sys


def chain(data, n):
    h = data
    for _ in range(n):
        h = hashlib.sha512(h).hexdigest().encode()
    return h.decode()


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(2)


def main():
    try:
        default = int(sys.argv[1]) if len(sys.argv) > 1 else None
    except ValueError:
        fail(__doc__.split("\n\n")[1])
    for number, line in enumerate(sys.stdin, 1):
        fields = line.split()
        try:
            if len(fields) == 2 or (len(fields) == 1 and default is None):
                n, data = int(fields[0]), fields[1] if len(fields) == 2 else ""
            elif default is not None and len(fields) <= 1:
                n, data = default, fields[0] if fields else ""
            else:
                raise ValueError
            data = bytes.fromhex(data)
        except ValueError:
            fail(f"chain.py: line {number}: expected [N] HEX")
        if n < 1:
            fail(f"chain.py: line {number}: N must be >= 1")
        print(chain(data, n))


if __name__ == "__main__":
    main()
