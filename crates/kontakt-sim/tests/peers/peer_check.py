#!/usr/bin/env python3
"""Independent ESL clients against kontakt-sim: greenswitch (gevent) or genesis (asyncio).

Usage: peer_check.py greenswitch|genesis HOST PORT PASSWORD
       peer_check.py greenswitch-outbound|genesis-outbound HOST PORT

Protocol with the Rust test (tests/python_peers.rs), one line each on stdout:
  READY                 authenticated and subscribed (`event plain ALL`); a bgapi was sent
  EVENT <json>          one event: {"seq", "name", "headers": {name: value}, "body"}
  DONE <count>          a HEARTBEAT arrived (the test's end marker); the script exits 0
Outbound mode (the peer is the `socket` server the emulator connects to for a call):
  LISTENING             the server accepts connections
  RESULT <json>         {"uuid", "caller", "digits"} after answer, playback and
                        play_and_get_digits; then the peer hangs the call up and exits
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


PAGD = ("1", "1", "3", "5000", "#", "ivr/menu.wav", "ivr/invalid.wav", "choice", "\\d", "3000")


def run_greenswitch_outbound(host, port):
    import gevent
    import greenswitch

    finished = gevent.event.Event()

    class App(object):
        def __init__(self, session):
            self.session = session

        def run(self):
            s = self.session
            s.myevents()
            s.linger()
            s.answer()
            s.playback("ivr/welcome.wav")
            digits = s.play_and_get_digits(*PAGD)
            out("RESULT " + json.dumps({
                "uuid": s.uuid,
                "caller": s.caller_id_number,
                "digits": digits,
            }))
            s.hangup()
            finished.set()

    server = greenswitch.OutboundESLServer(bind_address=host, bind_port=port,
                                          application=App, max_connections=5)
    gevent.spawn(server.listen)
    deadline = time.time() + TIMEOUT
    while not server._running and time.time() < deadline:
        gevent.sleep(0.01)
    out("LISTENING")
    if not finished.wait(TIMEOUT):
        raise RuntimeError("no call completed within %ss" % TIMEOUT)
    gevent.sleep(0.2)
    server.stop()


def run_genesis_outbound(host, port):
    import asyncio
    from genesis import Outbound

    async def main():
        finished = asyncio.Event()

        async def handler(session):
            await session.sendmsg("execute", "answer", block=True, timeout=TIMEOUT)
            await session.sendmsg("execute", "playback", "ivr/welcome.wav", block=True,
                                  timeout=TIMEOUT)
            ev = await session.sendmsg("execute", "play_and_get_digits", " ".join(PAGD),
                                       block=True, timeout=TIMEOUT)
            out("RESULT " + json.dumps({
                "uuid": session.uuid,
                "caller": session.context.get("Caller-Caller-ID-Number"),
                "digits": ev.get("variable_choice"),
            }))
            await session.sendmsg("hangup", "", "NORMAL_CLEARING")
            finished.set()

        server = Outbound(handler, host, port, events=True, linger=True)
        await server.start(block=False)
        out("LISTENING")
        await asyncio.wait_for(finished.wait(), TIMEOUT)
        await asyncio.sleep(0.2)
        await server.stop()

    asyncio.run(main())


def main():
    if len(sys.argv) == 4 and sys.argv[1].endswith("-outbound"):
        which, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
        try:
            if which == "greenswitch-outbound":
                run_greenswitch_outbound(host, port)
            elif which == "genesis-outbound":
                run_genesis_outbound(host, port)
            else:
                sys.stderr.write("unknown peer %s\n" % which)
                return 64
        except Exception as e:
            import traceback
            traceback.print_exc()
            sys.stderr.write("peer %s failed: %r\n" % (which, e))
            return 2
        return 0
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
