#!/usr/bin/env python3
"""Independent ESL clients against kontakt-sim: greenswitch (gevent) or genesis (asyncio).

Usage: peer_check.py greenswitch|genesis HOST PORT PASSWORD

Protocol with the Rust test (tests/python_peers.rs), one line each on stdout:
  READY                 authenticated and subscribed (`event plain ALL`); a bgapi was sent
  EVENT <json>          one event: {"seq", "name", "headers": {name: value}, "body"}
  DONE <count>          a HEARTBEAT arrived (the test's end marker); the script exits 0
Anything else goes to stderr. Exit status 2: the peer failed (message on stderr).
"""
import json
import sys
import time

TIMEOUT = 30.0
JOB_UUID = "7b0e8c1e-0000-4000-8000-00000000beef"


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def emit(headers, body):
    out("EVENT " + json.dumps({
        "seq": headers.get("Event-Sequence"),
        "name": headers.get("Event-Name"),
        "headers": headers,
        "body": body,
    }))


def run_greenswitch(host, port, password):
    import gevent
    import greenswitch

    fs = greenswitch.InboundESL(host=host, port=port, password=password)
    fs.connect()
    events = []
    done = gevent.event.Event()

    def on_event(ev):
        events.append(ev)
        if ev.headers.get("Event-Name") == "HEARTBEAT":
            done.set()

    fs.register_handle("*", on_event)
    reply = fs.send("event plain ALL")
    if reply.headers.get("Reply-Text") != "+OK event listener enabled plain":
        raise RuntimeError("event: %r" % reply.headers)
    reply = fs.send("bgapi status\nJob-UUID: %s" % JOB_UUID)
    if reply.headers.get("Reply-Text") != "+OK Job-UUID: %s" % JOB_UUID:
        raise RuntimeError("bgapi: %r" % reply.headers)
    status = fs.send("api status")
    if not status.data.startswith("UP "):
        raise RuntimeError("api status: %r" % status.data)
    out("READY")
    if not done.wait(TIMEOUT):
        raise RuntimeError("no HEARTBEAT within %ss" % TIMEOUT)
    for ev in events:
        emit(dict(ev.headers), None)
    out("DONE %d" % len(events))
    fs.stop()


def run_genesis(host, port, password):
    import asyncio
    from genesis import Inbound

    async def main():
        events = []
        done = asyncio.Event()
        async with Inbound(host, port, password) as client:
            async def on_event(ev):
                events.append(ev)
                if ev.get("Event-Name") == "HEARTBEAT":
                    done.set()

            client.on("*", on_event)
            reply = await client.send("event plain ALL")
            if reply.get("Reply-Text") != "+OK event listener enabled plain":
                raise RuntimeError("event: %r" % dict(reply))
            reply = await client.send("bgapi status\nJob-UUID: %s" % JOB_UUID)
            if reply.get("Reply-Text") != "+OK Job-UUID: %s" % JOB_UUID:
                raise RuntimeError("bgapi: %r" % dict(reply))
            status = await client.send("api status")
            if not (status.body or "").startswith("UP "):
                raise RuntimeError("api status: %r" % status.body)
            out("READY")
            await asyncio.wait_for(done.wait(), TIMEOUT)
            for ev in events:
                emit(dict(ev), ev.body)
            out("DONE %d" % len(events))

    asyncio.run(main())


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 64
    which, host, port, password = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    try:
        if which == "greenswitch":
            run_greenswitch(host, port, password)
        elif which == "genesis":
            run_genesis(host, port, password)
        else:
            sys.stderr.write("unknown peer %s\n" % which)
            return 64
    except Exception as e:  # report, the Rust test shows stderr
        import traceback
        traceback.print_exc()
        sys.stderr.write("peer %s failed: %r\n" % (which, e))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
