-- Call records (issue 5). One row per FreeSWITCH channel Kontakt handled, keyed by the node
-- and the channel UUID, so that every write can be replayed from the local journal and is
-- idempotent: a call is opened once, steps carry their own sequence number, updates set
-- columns to values, never add to them.
-- No foreign key to users: a record written from the journal while users change must never
-- be refused. appeal_id does reference appeals: a link is only written once the appeal exists.

CREATE TABLE calls (
    id                   INTEGER PRIMARY KEY,
    node                 TEXT NOT NULL,
    uuid                 TEXT NOT NULL,
    direction            TEXT NOT NULL,
    caller               TEXT,
    caller_raw           TEXT NOT NULL,
    presentation         TEXT NOT NULL,
    dialled              TEXT NOT NULL,
    line                 TEXT,
    carrier              TEXT,
    started_at           TEXT NOT NULL,
    queue                TEXT,
    priority             INTEGER,
    queued_at            TEXT,
    agent_user_id        INTEGER,
    offered_at           TEXT,
    connected_at         TEXT,
    ended_at             TEXT,
    hangup_cause         TEXT,
    hangup_side          TEXT,
    end_reason           TEXT,
    recording            TEXT,
    ivr_ms               INTEGER,
    wait_ms              INTEGER,
    ring_ms              INTEGER,
    talk_ms              INTEGER,
    hold_ms              INTEGER,
    wrap_ms              INTEGER,
    outcome              TEXT,
    appeal_id            INTEGER REFERENCES appeals(id),
    linked_at            TEXT,
    linked_by            INTEGER,
    status               TEXT NOT NULL,
    UNIQUE (node, uuid)
);
CREATE INDEX calls_status ON calls(status, node);
CREATE INDEX calls_caller ON calls(caller);
CREATE INDEX calls_started_at ON calls(started_at);

CREATE TABLE call_steps (
    call_id  INTEGER NOT NULL REFERENCES calls(id),
    seq      INTEGER NOT NULL,
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
