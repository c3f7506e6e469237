-- Dispatch beyond assign → rectify → verify: a chief's request for more time (延期), and the departments a
-- problem can be transferred to (转办). The events themselves stay in problem_events; a request is a row here so
-- that "one open request per problem" and "decided once" are conditions the database keeps.

CREATE TABLE problem_extensions (
    id           INTEGER PRIMARY KEY,
    problem_id   INTEGER NOT NULL REFERENCES problems (id),
    asked_by     INTEGER NOT NULL REFERENCES people (id),
    reason       TEXT NOT NULL,
    old_deadline TEXT NOT NULL,  -- local date, the deadline when asked
    new_deadline TEXT NOT NULL,  -- local date asked for
    status       TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'granted', 'refused', 'withdrawn')),
    asked_at     TEXT NOT NULL,
    decided_by   INTEGER REFERENCES people (id),
    decided_at   TEXT,
    CHECK (new_deadline > old_deadline)
);

CREATE UNIQUE INDEX problem_extensions_open ON problem_extensions (problem_id) WHERE status = 'open';

-- A department (城管局, 水务局…) and the person in the bot who takes its problems and rectifies them.
CREATE TABLE departments (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL UNIQUE,
    person_id INTEGER NOT NULL REFERENCES people (id),
    added_at  TEXT NOT NULL
);
