#!/usr/bin/env python3
"""Decode throughput of the Python `greenswitch` ESL parser (PyPI, plain events only) on
the same capture bytes as `benches/decode.rs`, for the ratio asked in issue 3.

greenswitch reads from a socket file: we hand its own `ESLProtocol.receive_events` loop an
in-memory file holding the capture, with the command/queue plumbing replaced by no-ops, so
what is timed is its framing and event parsing (`ESLEvent.parse_data`), nothing else.

Usage: python3 greenswitch_parse.py FILE.rx [FILE.rx ...]   (needs `pip install greenswitch`)
Prints one JSON object per file: events, bytes, seconds per pass, events/s, MB/s.
With KONTAKT_BENCH_CLOCK=cpu the clock is this thread's CPU time, as in `benches/decode.rs`.
"""
import io
import json
import os
import sys
import time

try:
    from greenswitch.esl import ESLProtocol
except ImportError:
    sys.exit("greenswitch is not installed: pip install greenswitch")


class _Sink:
    def __init__(self):
        self.items = 0

    def put(self, _item):
        self.items += 1

    def set(self, _item):
        self.items += 1


class _Replay(ESLProtocol):
    def __init__(self, data):
        super().__init__()
        self.sock_file = io.BytesIO(data)
        self.sock = self.sock_file
        self._esl_event_queue = _Sink()
        self.connected = True
        self.events = 0

    def handle_event(self, event):
        ct = event.headers.get("Content-Type")
        if ct in ("command/reply", "api/response"):
            # Replies are matched to commands FIFO; give it a sink per reply.
            self._commands_sent.append(_Sink())
        super().handle_event(event)
        if ct and ct.startswith("text/event"):
            self.events += 1


def one_pass(data):
    p = _Replay(data)
    p.receive_events()
    return p.events


def main():
    clock = time.thread_time if os.environ.get("KONTAKT_BENCH_CLOCK") == "cpu" else time.perf_counter
    for path in sys.argv[1:]:
        data = open(path, "rb").read()
        events = one_pass(data)
        passes = 0
        start = clock()
        while True:
            one_pass(data)
            passes += 1
            elapsed = clock() - start
            if elapsed > 3.0 and passes >= 5:
                break
        per_pass = elapsed / passes
        print(json.dumps({
            "file": path,
            "parser": "greenswitch",
            "events": events,
            "bytes": len(data),
            "seconds_per_pass": per_pass,
            "events_per_s": events / per_pass,
            "mb_per_s": len(data) / per_pass / 1e6,
        }))


if __name__ == "__main__":
    main()
