-- Kontakt foundation schema (SQLite). Released migrations are never edited: add a new file.
-- Timestamps are RFC 3339 UTC text (sqlx's DateTime<Utc> encoding), so text order is time order.
-- Enumerations are stored as the snake_case strings of kontakt-appeals; JSON as text.

CREATE TABLE executors (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name_uk     TEXT NOT NULL,
    name_en     TEXT,
    phone       TEXT,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    username              TEXT NOT NULL UNIQUE,
    display_name          TEXT NOT NULL,
    role                  TEXT NOT NULL,
    password_hash         TEXT NOT NULL,
    executor_id           INTEGER REFERENCES executors(id),
    active                BOOLEAN NOT NULL DEFAULT TRUE,
    must_change_password  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at            TEXT NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE audit_log (
    id            INTEGER PRIMARY KEY,
    user_id       INTEGER REFERENCES users(id),
    action        TEXT NOT NULL,
    subject_kind  TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    detail        TEXT,
    created_at    TEXT NOT NULL
);
CREATE INDEX audit_log_subject ON audit_log(subject_kind, subject_id);

CREATE TABLE categories (
    code              TEXT PRIMARY KEY,
    parent_code       TEXT REFERENCES categories(code),
    name_uk           TEXT NOT NULL,
    name_en           TEXT,
    is_emergency      BOOLEAN NOT NULL,
    severity          TEXT NOT NULL,
    sla_hours         INTEGER,
    attention_pct     INTEGER NOT NULL,
    legal_track       TEXT NOT NULL,
    attribute_schema  TEXT NOT NULL,
    is_leaf           BOOLEAN NOT NULL,
    active            BOOLEAN NOT NULL
);

CREATE TABLE responsibilities (
    id               INTEGER PRIMARY KEY,
    category_prefix  TEXT NOT NULL,
    district         TEXT,
    building_key     TEXT,
    executor_id      INTEGER NOT NULL REFERENCES executors(id),
    valid_from       TEXT NOT NULL,
    valid_to         TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX responsibilities_prefix ON responsibilities(category_prefix);

CREATE TABLE applicants (
    id            INTEGER PRIMARY KEY,
    last_name     TEXT,
    first_name    TEXT,
    patronymic    TEXT,
    search_name   TEXT NOT NULL,
    email         TEXT,
    kind          TEXT NOT NULL,
    privileges    TEXT NOT NULL,
    confidential  BOOLEAN NOT NULL,
    assurance     TEXT NOT NULL,
    city          TEXT,
    street        TEXT,
    building      TEXT,
    entrance      TEXT,
    flat          TEXT,
    floor         INTEGER,
    district      TEXT,
    building_key  TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
CREATE INDEX applicants_search_name ON applicants(search_name);
CREATE INDEX applicants_building_key ON applicants(building_key);

CREATE TABLE applicant_phones (
    phone         TEXT NOT NULL,
    applicant_id  INTEGER NOT NULL REFERENCES applicants(id) ON DELETE CASCADE,
    PRIMARY KEY (phone, applicant_id)
);

CREATE TABLE reg_counters (
    year      INTEGER PRIMARY KEY,
    last_seq  INTEGER NOT NULL
);

-- reg_seq and reg_no are set last, inside the registering transaction, so the counter row
-- (which serialises registrations) is locked only for the final two statements and commit.
CREATE TABLE appeals (
    id                        INTEGER PRIMARY KEY,
    reg_no                    TEXT UNIQUE,
    reg_year                  INTEGER NOT NULL,
    reg_seq                   INTEGER,
    applicant_id              INTEGER REFERENCES applicants(id),
    channel                   TEXT NOT NULL,
    legal_kind                TEXT NOT NULL,
    answer_channel            TEXT,
    collective                BOOLEAN NOT NULL,
    call_id                   TEXT,
    operator_id               INTEGER REFERENCES users(id),
    received_at               TEXT NOT NULL,
    registered_at             TEXT NOT NULL,
    legal_due_at              TEXT,
    extended_due_at           TEXT,
    extension_notice_sent_at  TEXT,
    repeat_of                 INTEGER REFERENCES appeals(id),
    UNIQUE (reg_year, reg_seq)
);
CREATE INDEX appeals_applicant ON appeals(applicant_id);
CREATE INDEX appeals_registered_at ON appeals(registered_at);
CREATE INDEX appeals_call_id ON appeals(call_id);

CREATE TABLE questions (
    id             INTEGER PRIMARY KEY,
    appeal_id      INTEGER NOT NULL REFERENCES appeals(id),
    position       INTEGER NOT NULL,
    category_code  TEXT NOT NULL REFERENCES categories(code),
    description    TEXT NOT NULL,
    -- description lower-cased in Rust (Unicode), for case-insensitive search on both backends
    search_text    TEXT NOT NULL,
    attributes     TEXT NOT NULL,
    city           TEXT,
    street         TEXT,
    building       TEXT,
    entrance       TEXT,
    flat           TEXT,
    floor          INTEGER,
    district       TEXT,
    building_key   TEXT,
    lat            DOUBLE PRECISION,
    lon            DOUBLE PRECISION,
    object_ref     TEXT,
    is_emergency   BOOLEAN NOT NULL,
    discovered_at  TEXT,
    nature         TEXT,
    severity       TEXT NOT NULL,
    sla_due_at     TEXT,
    attention_at   TEXT,
    repeat_of      INTEGER REFERENCES questions(id),
    created_at     TEXT NOT NULL,
    UNIQUE (appeal_id, position)
);
CREATE INDEX questions_building_category ON questions(building_key, category_code);

CREATE TABLE assignments (
    id              INTEGER PRIMARY KEY,
    question_id     INTEGER NOT NULL REFERENCES questions(id),
    executor_id     INTEGER NOT NULL REFERENCES executors(id),
    state           TEXT NOT NULL,
    result          TEXT,
    issued_at       TEXT NOT NULL,
    accepted_at     TEXT,
    due_at          TEXT,
    closed_at       TEXT,
    rework_count    INTEGER NOT NULL DEFAULT 0,
    version         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX assignments_question ON assignments(question_id);
CREATE INDEX assignments_executor_state ON assignments(executor_id, state);

CREATE TABLE timeline (
    id             INTEGER PRIMARY KEY,
    appeal_id      INTEGER NOT NULL REFERENCES appeals(id),
    question_id    INTEGER REFERENCES questions(id),
    assignment_id  INTEGER REFERENCES assignments(id),
    actor_user_id  INTEGER REFERENCES users(id),
    actor_kind     TEXT NOT NULL,
    kind           TEXT NOT NULL,
    from_state     TEXT,
    to_state       TEXT,
    result         TEXT,
    public_text    TEXT,
    private_text   TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX timeline_appeal ON timeline(appeal_id, id);
