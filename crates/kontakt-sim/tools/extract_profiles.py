#!/usr/bin/env python3
"""Extracts the channel-variable sets of a real FreeSWITCH 1.10.12 from the captures into
data/profiles.json (the emulator's channel variables at each stage of a call).

Run from the crate directory:
    python3 tools/extract_profiles.py ../kontakt-esl/tests/fixtures
Values are templated: {uuid} {caller} {caller_name} {dest} {channel_name} {callid} {now_us}
{date_local} {date_gmt} {date_rfc2822} are substituted when the emulator adds the variable.
"""
import json, re, sys

root = sys.argv[1] if len(sys.argv) > 1 else "../kontakt-esl/tests/fixtures"

def events(path):
    for line in open(path):
        m = json.loads(line)
        if m["event"]:
            yield m["event"]

def templ(value, subs):
    if isinstance(value, list):
        value = "ARRAY::" + "|:".join(value)
    for lit, ph in subs:
        if lit.startswith("^"):
            if value == lit[1:]:
                return ph
            continue
        value = value.replace(lit, ph)
    value = re.sub(r"\b1796\d{12}\b", "{now_us}", value)
    value = re.sub(r"\b1796\d{6}\b", "{now_s}", value)
    value = re.sub(r"2026-11-30 \d\d:\d\d:\d\d", "{date_local}", value)
    value = re.sub(r"Mon, 30 Nov 2026 \d\d:\d\d:\d\d GMT", "{date_gmt}", value)
    value = re.sub(r"Mon, 30 Nov 2026 \d\d:\d\d:\d\d \+0000", "{date_rfc2822}", value)
    return value

def varlist(ev):
    return [(k[len("variable_"):], v) for k, v in ev.items() if k.startswith("variable_")]

def delta(after, before):
    names = {k for k, _ in before}
    return [(k, v) for k, v in after if k not in names]

def stage_sets(evs, subs, create_name="CHANNEL_CREATE"):
    """create: at CHANNEL_CREATE; answer: what accumulates until the last event before
    CHANNEL_HANGUP (media, SIP dialog, ...); hangup: new at CHANNEL_HANGUP; complete: new
    at CHANNEL_HANGUP_COMPLETE."""
    by = {}
    prev_vars = None
    for ev in evs:
        n = ev["Event-Name"]
        vs = varlist(ev)
        if not vs:
            continue
        if n == "CHANNEL_HANGUP" and "before_hangup" not in by:
            by["before_hangup"] = prev_vars
        by.setdefault(n, vs)
        prev_vars = vs
    create = by[create_name]
    answer = delta(by["before_hangup"], create)
    hangup = delta(by["CHANNEL_HANGUP"], by["before_hangup"])
    complete = delta(by["CHANNEL_HANGUP_COMPLETE"], by["CHANNEL_HANGUP"])
    skip = {"current_application", "current_application_data", "current_application_response",
            "RFC2822_DATE", "export_vars", "DP_MATCH", "call_uuid", "playback_seconds",
            "playback_ms", "playback_samples", "current_application_data", "socket_host",
            "last_app", "last_arg", "playback_last_offset_pos", "current_loop", "total_loops",
            "current_application_response"}
    f = lambda l: [[k, templ(v, subs)] for k, v in l if k not in skip]
    return {"create": f(create), "answer": f(answer), "hangup": f(hangup), "complete": f(complete)}

uuid_in = "d558f16b-6c39-406c-bd67-5affb04edf95"
subs_in = [("sofia/internal/1000@127.0.0.1", "{channel_name}"), (uuid_in, "{uuid}"),
           ("1-11646@127.0.0.1", "{callid}@127.0.0.1"), ("sipp 1000", "{caller_name}"),
           ("9196", "{dest}"), ("^1000", "{caller}"), ("sip:1000@", "sip:{caller}@"),
           ("1000@", "{caller}@")]
inbound = stage_sets(list(events(f"{root}/echo_9196/esl_plain.expected.jsonl")), subs_in)

uuid_out = "5d1e0c5a-0000-4000-8000-0000000e5100"
subs_out = [("sofia/internal/agent1@127.0.0.1:5090", "{channel_name}"), (uuid_out, "{uuid}"),
            ("ESL-Test", "{caller_name}"), ("5551000", "{caller}"), ("agent1", "{dest}")]
outbound = stage_sets(list(events(f"{root}/originate_bgapi/esl_plain.expected.jsonl")), subs_out)

json.dump({"inbound": inbound, "outbound": outbound}, open("data/profiles.json", "w"), indent=1)
print({k: {s: len(v) for s, v in d.items()} for k, d in {"inbound": inbound, "outbound": outbound}.items()})
