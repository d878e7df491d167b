"""zpipe_worker - a zpipe worker in Python that runs your function on each task.

    python3 -m zpipe_worker --function mymodule:fn -v tcp://vent:5557 -s tcp://sink:5558

Written from docs/protocol.md alone (version 2), with the duties of the C worker
(bin/worker): a supervisor forks one worker process per -p and restarts a process that
dies; each process pulls tasks against the credit it announces (READY), heartbeats,
sends its results to the sink (RESULTS) and what it does (STATS), and on SIGTERM hands
back what it has not started, finishes what it runs and leaves.

This Source Code Form is subject to the terms of the Mozilla Public License, v. 2.0.
If a copy of the MPL was not distributed with this file, You can obtain one at
http://mozilla.org/MPL/2.0/.
"""

__version__ = "0.1.0"
