-- Problems (问题) and the closed loop: report → assign → rectify → verify → close (销号).

CREATE TABLE problems (
    id              INTEGER PRIMARY KEY, -- the problem's number, as people quote it ("#123")
    reporter_id     INTEGER NOT NULL REFERENCES people (id),
    patrol_id       INTEGER REFERENCES patrols (id),
    reach_id        INTEGER NOT NULL REFERENCES reaches (id),
    area_id         INTEGER NOT NULL REFERENCES areas (id),
    category        TEXT NOT NULL CHECK (category IN ('occupation', 'extraction', 'dumping', 'building',
                        'black_odorous', 'garbage', 'outfall', 'bank_collapse', 'fishing', 'other')),
    description     TEXT,
    lat             REAL NOT NULL,
    lon             REAL NOT NULL,
    location_source TEXT NOT NULL CHECK (location_source IN ('shared', 'exif')),
    status          TEXT NOT NULL CHECK (status IN ('reported', 'assigned', 'rectified', 'closed', 'dismissed')),
    assignee_id     INTEGER REFERENCES people (id),
    deadline        TEXT,    -- local date: due by the end of that day
    reported_at     TEXT NOT NULL,
    closed_at       TEXT,    -- when it was closed or dismissed
    updated_at      TEXT NOT NULL,
    CHECK ((status = 'assigned') <= (assignee_id IS NOT NULL))
);

CREATE INDEX problems_open ON problems (status, deadline) WHERE status NOT IN ('closed', 'dismissed');
CREATE INDEX problems_assignee ON problems (assignee_id, status);
CREATE INDEX problems_reporter ON problems (reporter_id, reported_at);
CREATE INDEX problems_area ON problems (area_id, reported_at);
CREATE INDEX problems_place ON problems (category, lat, lon);

CREATE TABLE problem_photos (
    id         INTEGER PRIMARY KEY,
    problem_id INTEGER NOT NULL REFERENCES problems (id),
    photo_id   INTEGER NOT NULL REFERENCES photos (id),
    file_id    TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('before', 'after')),
    added_by   INTEGER REFERENCES people (id),
    added_at   TEXT NOT NULL
);

CREATE INDEX problem_photos_problem ON problem_photos (problem_id, kind);

-- Every change, who made it and why: the story the office is audited on. Rows are only ever added.
CREATE TABLE problem_events (
    id          INTEGER PRIMARY KEY,
    problem_id  INTEGER NOT NULL REFERENCES problems (id),
    at          TEXT NOT NULL,
    actor_id    INTEGER REFERENCES people (id), -- NULL: the system (routing, escalation)
    action      TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT,
    note        TEXT,
    data        TEXT NOT NULL DEFAULT '{}'     -- JSON: assignee, deadline, duplicate reporter, …
);

CREATE INDEX problem_events_problem ON problem_events (problem_id, id);

-- actor_id alone may be re-pointed: merging a person's two rows (an invite accepted) keeps who did what.
CREATE TRIGGER problem_events_no_update
BEFORE UPDATE OF id, problem_id, at, action, from_status, to_status, note, data ON problem_events
BEGIN
    SELECT RAISE(ABORT, 'problem_events is append-only');
END;

CREATE TRIGGER problem_events_no_delete BEFORE DELETE ON problem_events
BEGIN
    SELECT RAISE(ABORT, 'problem_events is append-only');
END;

-- People who follow a problem besides its reporter: those whose report was the same problem.
CREATE TABLE problem_followers (
    problem_id INTEGER NOT NULL REFERENCES problems (id),
    person_id  INTEGER NOT NULL REFERENCES people (id),
    since      TEXT NOT NULL,
    PRIMARY KEY (problem_id, person_id)
);
