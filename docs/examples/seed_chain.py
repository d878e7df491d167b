"""seed_chain - the seed's hashing (scripts/baseline/mp_chain.py) as a function for
the Python worker: what a Python user's own code looks like to zpipe.

    cd docs/examples && zpipe-worker-py --function seed_chain:chain
    python3 -m zpipe_worker --function seed_chain:chain    (worker/python on PYTHONPATH)

It takes the task's input (bytes) and its iterations, and returns bytes (the 128 hex
digits): the sink's summary is then the one `make run` prints, and
tests/ref/check.py checks it as it checks the C worker's.

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
If a copy of the MPL was not distributed with this file, You can obtain one at
http://mozilla.org/MPL/2.0/.
"""

import hashlib


def chain(data, iterations):
    h = data
    for _ in range(iterations):
        h = hashlib.sha512(h).hexdigest().encode()
    return h
