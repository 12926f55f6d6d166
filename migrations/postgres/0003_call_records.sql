-- Call records (issue 5). One row per FreeSWITCH channel Kontakt handled, keyed by the node
-- and the channel UUID, so that every write can be replayed from the local journal and is
-- idempotent: a call is opened once, steps carry their own sequence number, updates set
-- columns to values, never add to them.
-- No foreign key to users: a record written from the journal while users change must never
-- be refused. appeal_id does reference appeals: a link is only written once the appeal exists.

CREATE TABLE calls (
    id                   BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node                 TEXT NOT NULL,
    uuid                 TEXT NOT NULL,
    direction            TEXT NOT NULL,
    caller               TEXT,
    caller_raw           TEXT NOT NULL,
    presentation         TEXT NOT NULL,
    dialled              TEXT NOT NULL,
    line                 TEXT,
    carrier              TEXT,
    started_at           TIMESTAMPTZ NOT NULL,
    queue                TEXT,
    priority             BIGINT,
    queued_at            TIMESTAMPTZ,
    agent_user_id        BIGINT,
    offered_at           TIMESTAMPTZ,
    connected_at         TIMESTAMPTZ,
    ended_at             TIMESTAMPTZ,
    hangup_cause         TEXT,
    hangup_side          TEXT,
    end_reason           TEXT,
    recording            TEXT,
    ivr_ms               BIGINT,
    wait_ms              BIGINT,
    ring_ms              BIGINT,
    talk_ms              BIGINT,
    hold_ms              BIGINT,
    wrap_ms              BIGINT,
    outcome              TEXT,
    appeal_id            BIGINT REFERENCES appeals(id),
    linked_at            TIMESTAMPTZ,
    linked_by            BIGINT,
    status               TEXT NOT NULL,
    UNIQUE (node, uuid)
);
CREATE INDEX calls_status ON calls(status, node);
CREATE INDEX calls_caller ON calls(caller);
CREATE INDEX calls_started_at ON calls(started_at);

CREATE TABLE call_steps (
    call_id  BIGINT NOT NULL REFERENCES calls(id),
    seq      BIGINT NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
