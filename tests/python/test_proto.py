"""The Python worker's wire encoding against the C one (tests/tools/protodump.c).

    python3 -m unittest discover -s tests/python        (from the repository root)

The C bytes come from build/tools/protodump (`make -s build/tools/protodump`;
ZP_TOOLS names another directory). The values below are protodump's: change both
together. Needs no pyzmq: proto.py is plain Python.
"""

import os
import random
import subprocess
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "worker", "python"))

from zpipe_worker import proto  # noqa: E402  (after the path is set)

BATCH = 0x0123456789ABCDEF
HOST = "host-a"
ENGINE = "python/sha512-chain"


def c_messages():
    tools = os.environ.get("ZP_TOOLS", os.path.join(ROOT, "build", "tools"))
    tool = os.path.join(tools, "protodump")
    if not os.access(tool, os.X_OK):
        raise AssertionError(f"{tool} is not built: run `make -s build/tools/protodump`")
    out = subprocess.run([tool], check=True, capture_output=True, text=True).stdout
    return {name: bytes.fromhex(hexdump)
            for name, hexdump in (line.split() for line in out.splitlines())}


class TestAgainstC(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = c_messages()

    def test_ready_held(self):
        got = proto.encode_ready(proto.READY_HELD, 4242, HOST, ENGINE, 2, 7, 5, 4141, 1,
                                 [(BATCH, 5), (BATCH, 6)])
        self.assertEqual(got.hex(), self.c["READY_HELD"].hex())

    def test_ready_return(self):
        got = proto.encode_ready(proto.READY_RETURN | proto.READY_DRAINING, 4242, HOST,
                                 ENGINE, 0, 7, 6, 0, 0, [(BATCH, 6)])
        self.assertEqual(got.hex(), self.c["READY_RETURN"].hex())

    def test_ready_leaving(self):
        got = proto.encode_ready(proto.READY_LEAVING | proto.READY_DRAINING, 4242, HOST,
                                 ENGINE, 0, 7, 7, 0, 0, [(BATCH, 5)])
        self.assertEqual(got.hex(), self.c["READY_LEAVING"].hex())

    def test_results_ok_and_failed(self):
        results = [
            proto.Result(5, proto.STATUS_OK, 1, 1000, 123456789, b"in\0put",
                         b"e3b0c44298fc1c149afbf4c8996fb924"),
            proto.Result(6, proto.STATUS_FAILED, 1, 1000, 42, b"", b"ValueError: boom"),
        ]
        got = proto.encode_results(4242, HOST, BATCH, results)
        self.assertEqual(got.hex(), self.c["RESULTS"].hex())

    def test_stats(self):
        got = proto.encode_stats(0, 4242, HOST, ENGINE, 1000, 5000, 5, 5000, 1000,
                                 12345678, 2, [(BATCH, 5)])
        self.assertEqual(got.hex(), self.c["STATS"].hex())

    def test_stats_leaving(self):
        got = proto.encode_stats(proto.STATS_LEAVING, 4242, HOST, ENGINE, 1000, 6000, 7,
                                 7000, 0, 0, 0, [])
        self.assertEqual(got.hex(), self.c["STATS_LEAVING"].hex())

    def test_decode_c_tasks(self):
        batch, tasks = proto.decode_tasks(self.c["TASKS"])
        self.assertEqual(batch, BATCH)
        self.assertEqual(tasks, [proto.Task(BATCH, 5, 1000, b"zp\0\xff"),
                                 proto.Task(BATCH, 6, 1, b"")])

    def test_encode_tasks_matches_c(self):
        # Our TASKS encoder (for tests) is the C one too, so the cases below
        # build their frames right.
        got = proto.encode_tasks(BATCH, [(5, 1000, b"zp\0\xff"), (6, 1, b"")])
        self.assertEqual(got, self.c["TASKS"])


class TestDecodeTasks(unittest.TestCase):
    """Every rule of TASKS: a frame that breaks one raises ProtocolError, with the
    C decoder's reason."""

    def good(self):
        return proto.encode_tasks(7, [(0, 10, b"abc"), (1, 1, b"")])

    def refused(self, frame, reason):
        with self.assertRaises(proto.ProtocolError) as caught:
            proto.decode_tasks(frame)
        self.assertEqual(str(caught.exception), reason)

    def test_good(self):
        self.assertEqual(proto.decode_tasks(self.good()),
                         (7, [proto.Task(7, 0, 10, b"abc"), proto.Task(7, 1, 1, b"")]))

    def test_header(self):
        self.refused(b"", "empty frame")
        self.refused(b"ZP\2", "truncated header")
        self.refused(b"XP\2\2" + self.good()[4:], "bad signature")
        self.refused(b"ZP\1\2" + self.good()[4:], "unsupported version 1")
        self.refused(b"ZP\3\2" + self.good()[4:], "unsupported version 3")
        self.refused(b"ZP\2\x09" + self.good()[4:], "unknown type")
        self.refused(proto.encode_ready(proto.READY_HELD, 1, "h", "e", 1, 0, 0, 0, 0, []),
                     "not TASKS")

    def test_counts_and_lengths(self):
        good = self.good()
        self.refused(good[:10], "TASKS: truncated before records")
        self.refused(proto.encode_tasks(7, []), "TASKS: count 0")
        self.refused(good[:12] + (1 << 20 | 1).to_bytes(4, "big") + good[16:],
                     "TASKS: count above 2^20")
        self.refused(good[:12] + (3).to_bytes(4, "big") + good[16:],
                     "TASKS: count exceeds records present")
        self.refused(good + b"\0", "TASKS: trailing bytes")
        self.refused(proto.encode_tasks(7, [(0, 0, b"a")]), "TASKS: iterations out of range")
        self.refused(proto.encode_tasks(7, [(0, (1 << 40) + 1, b"a")]),
                     "TASKS: iterations out of range")
        self.assertEqual(len(proto.decode_tasks(proto.encode_tasks(7, [(0, 1 << 40, b"")]))[1]),
                         1)
        # The first record's input claims more than there is.
        bad = bytearray(proto.encode_tasks(7, [(0, 1, b"abcdefghijklmnopqrstuvwx")]))
        bad[16 + 16:16 + 20] = (1000).to_bytes(4, "big")
        self.refused(bytes(bad), "TASKS: input length past end of frame")
        # Two records announced, the second cut short (but enough bytes left
        # over for the count check).
        two = proto.encode_tasks(7, [(0, 1, b"x" * 40), (1, 1, b"")])
        self.refused(two[:-1], "TASKS: record truncated")

    def test_mangled_frames_never_crash(self):
        # Cut and flipped copies of valid frames: each decodes or raises
        # ProtocolError, nothing else (the worker drops and counts those).
        rng = random.Random(16)
        frames = [self.good(), proto.encode_tasks(1, [(i, i + 1, bytes(i)) for i in range(9)])]
        for _ in range(5000):
            frame = bytearray(rng.choice(frames))
            for _ in range(rng.randint(1, 4)):
                action = rng.randrange(3)
                if action == 0 and frame:
                    del frame[rng.randrange(len(frame)):]
                elif action == 1 and frame:
                    frame[rng.randrange(len(frame))] = rng.randrange(256)
                else:
                    frame += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            try:
                proto.decode_tasks(bytes(frame))
            except proto.ProtocolError:
                pass


class TestEncoding(unittest.TestCase):
    def test_str8_cut_at_255_bytes(self):
        frame = proto.encode_ready(proto.READY_HELD, 1, "h" * 300, "e", 1, 0, 0, 0, 0, [])
        self.assertEqual(frame[9], 255)
        self.assertEqual(frame[10:10 + 255], b"h" * 255)
        self.assertEqual(frame[10 + 255:10 + 255 + 2], b"\x01e")

    def test_header_and_order(self):
        frame = proto.encode_results(1, "h", 2, [proto.Result(3, 0, 1, 4, 5, b"i", b"o")])
        self.assertEqual(frame[:4], b"ZP\x02\x03")
        self.assertEqual(len(frame), 4 + 4 + 2 + 8 + 4 + (8 + 1 + 1 + 8 + 8 + 4 + 1 + 4 + 1))


if __name__ == "__main__":
    unittest.main()
