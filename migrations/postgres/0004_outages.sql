-- Outages: accidents, planned works and restrictions that leave streets or buildings without
-- a service (Kyiv 1551's "Events"). The screen-pop shows those in force at the caller's
-- address. An outage is active from started_at until ended_at is set.

CREATE TABLE outages (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            TEXT NOT NULL,
    class           TEXT NOT NULL,
    nature          TEXT NOT NULL,
    executor_id     BIGINT REFERENCES executors(id),
    started_at      TIMESTAMPTZ NOT NULL,
    planned_end_at  TIMESTAMPTZ,
    ended_at        TIMESTAMPTZ,
    public_message  TEXT,
    created_by      BIGINT REFERENCES users(id),
    created_at      TIMESTAMPTZ NOT NULL
);
-- Active outages are few and read on every call: index only those.
CREATE INDEX outages_active ON outages(started_at) WHERE ended_at IS NULL;

-- The area: each row a whole street (building_key NULL) or one building. The keys are
-- kontakt-appeals' normalised ones (street_key, building_key = "street|building"), the same
-- the questions and applicants carry.
CREATE TABLE outage_places (
    outage_id     BIGINT NOT NULL REFERENCES outages(id),
    position      BIGINT NOT NULL,
    street        TEXT NOT NULL,
    building      TEXT,
    street_key    TEXT NOT NULL,
    building_key  TEXT,
    PRIMARY KEY (outage_id, position)
);
CREATE INDEX outage_places_street ON outage_places(street_key, building_key);
