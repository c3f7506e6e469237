-- Patrols (巡河) and the photos that are their evidence.
-- Times are UTC text like the rest; a patrol's times come from Telegram's own message dates.

-- Every photo received, once per content: the original is on disk under DATA_DIR by its SHA-256.
CREATE TABLE photos (
    id           INTEGER PRIMARY KEY,
    sha256       TEXT NOT NULL UNIQUE,
    path         TEXT NOT NULL,   -- relative to DATA_DIR
    format       TEXT NOT NULL,
    size_bytes   INTEGER NOT NULL,
    width        INTEGER NOT NULL,
    height       INTEGER NOT NULL,
    -- EXIF DateTimeOriginal: ISO 8601, with its UTC offset when the camera recorded one, else camera-local.
    taken_at     TEXT,
    gps_lat      REAL,
    gps_lon      REAL,
    -- 64-bit difference hash (signed, as SQLite stores it) and its four 16-bit quarters, indexed so that
    -- near-duplicates (a reused photo) are found without scanning every photo.
    phash        INTEGER NOT NULL,
    band0        INTEGER NOT NULL,
    band1        INTEGER NOT NULL,
    band2        INTEGER NOT NULL,
    band3        INTEGER NOT NULL,
    person_id    INTEGER REFERENCES people (id),
    created_at   TEXT NOT NULL
);

CREATE INDEX photos_band0 ON photos (band0);
CREATE INDEX photos_band1 ON photos (band1);
CREATE INDEX photos_band2 ON photos (band2);
CREATE INDEX photos_band3 ON photos (band3);

CREATE TABLE patrols (
    id               INTEGER PRIMARY KEY,
    person_id        INTEGER NOT NULL REFERENCES people (id),
    reach_id         INTEGER NOT NULL REFERENCES reaches (id),
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'finished')),
    started_at       TEXT NOT NULL,
    ended_at         TEXT,
    -- How it ended: the person finished it, the live location stopped and silence followed, or too long.
    end_reason       TEXT CHECK (end_reason IN ('finished', 'idle', 'max_hours')),
    last_activity_at TEXT NOT NULL,
    -- The live location being shared (its message id), and until when Telegram will keep sending it.
    live_message_id  INTEGER,
    live_until       TEXT,
    live_stopped_at  TEXT,
    -- Filled at the end: the figures and the verdict, with reasons as JSON [{"code": …, …}].
    distance_m       REAL,
    duration_s       INTEGER,
    point_count      INTEGER,
    photo_count      INTEGER,
    problem_count    INTEGER NOT NULL DEFAULT 0,
    valid            INTEGER CHECK (valid IN (0, 1)),
    reasons          TEXT NOT NULL DEFAULT '[]',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CHECK ((status = 'open') = (ended_at IS NULL))
);

-- One open patrol per person at a time.
CREATE UNIQUE INDEX patrols_open ON patrols (person_id) WHERE status = 'open';
CREATE INDEX patrols_person ON patrols (person_id, started_at);
CREATE INDEX patrols_reach ON patrols (reach_id, started_at);

CREATE TABLE patrol_points (
    id         INTEGER PRIMARY KEY,
    patrol_id  INTEGER NOT NULL REFERENCES patrols (id) ON DELETE CASCADE,
    at         TEXT NOT NULL,
    lat        REAL NOT NULL,
    lon        REAL NOT NULL,
    accuracy_m REAL,
    source     TEXT NOT NULL CHECK (source IN ('live', 'single'))
);

CREATE INDEX patrol_points_patrol ON patrol_points (patrol_id, at);

CREATE TABLE patrol_photos (
    id          INTEGER PRIMARY KEY,
    patrol_id   INTEGER NOT NULL REFERENCES patrols (id) ON DELETE CASCADE,
    photo_id    INTEGER NOT NULL REFERENCES photos (id),
    file_id     TEXT NOT NULL,      -- Telegram's, to send it on without uploading it again
    as_document INTEGER NOT NULL CHECK (as_document IN (0, 1)),
    sent_at     TEXT NOT NULL,
    caption     TEXT
);

CREATE INDEX patrol_photos_patrol ON patrol_photos (patrol_id);
CREATE INDEX patrol_photos_photo ON patrol_photos (photo_id);

CREATE TABLE patrol_notes (
    id        INTEGER PRIMARY KEY,
    patrol_id INTEGER NOT NULL REFERENCES patrols (id) ON DELETE CASCADE,
    at        TEXT NOT NULL,
    text      TEXT NOT NULL,
    kind      TEXT NOT NULL DEFAULT 'note' CHECK (kind IN ('note', 'problem'))
);

CREATE INDEX patrol_notes_patrol ON patrol_notes (patrol_id);

-- Reminders already sent, so a restart on the same day does not send them twice.
CREATE TABLE reminders_sent (
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    day       TEXT NOT NULL,   -- local date
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (person_id, kind, day)
);
