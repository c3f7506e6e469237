-- The registry the office keeps: areas (片区), river reaches (河段), chiefs' assignments, invites, group bindings.

CREATE TABLE areas (
    id         INTEGER PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE CHECK (length(trim(code)) > 0),
    name_zh    TEXT NOT NULL,
    name_en    TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE reaches (
    id         INTEGER PRIMARY KEY,
    code       TEXT NOT NULL UNIQUE CHECK (length(trim(code)) > 0),
    name_zh    TEXT NOT NULL,
    name_en    TEXT NOT NULL,
    area_id    INTEGER NOT NULL REFERENCES areas (id),
    level      TEXT NOT NULL CHECK (level IN ('city', 'county', 'town', 'village')),
    length_km  REAL CHECK (length_km IS NULL OR length_km >= 0),
    -- ';'-separated, sorted: black_odorous, happy_river_demo, …
    tags       TEXT NOT NULL DEFAULT '',
    -- GeoJSON geometry (LineString or MultiLineString, WGS84) as text, and its bounding box for quick lookups.
    geometry   TEXT,
    min_lat    REAL,
    min_lon    REAL,
    max_lat    REAL,
    max_lon    REAL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE INDEX reaches_area ON reaches (area_id);

-- The office registers chiefs by phone before they have Telegram; the phone then identifies them on re-import.
ALTER TABLE people ADD COLUMN home_area_id INTEGER REFERENCES areas (id);
CREATE UNIQUE INDEX people_phone ON people (phone) WHERE phone IS NOT NULL;

-- Chief ↔ reach over time: a changed chief ends one row and starts another, so history stays right.
CREATE TABLE assignments (
    id            INTEGER PRIMARY KEY,
    person_id     INTEGER NOT NULL REFERENCES people (id),
    reach_id      INTEGER NOT NULL REFERENCES reaches (id),
    level         TEXT NOT NULL CHECK (level IN ('city', 'county', 'town', 'village')),
    starts_on     TEXT NOT NULL, -- local date, inclusive
    ends_on       TEXT,          -- local date, inclusive; NULL while active
    -- Per-assignment override of the level's patrol rule; NULL means the level's default.
    patrol_count  INTEGER CHECK (patrol_count IS NULL OR patrol_count > 0),
    patrol_period TEXT CHECK (patrol_period IS NULL OR patrol_period IN ('week', 'xun', 'month', 'quarter')),
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CHECK ((patrol_count IS NULL) = (patrol_period IS NULL))
);

CREATE UNIQUE INDEX assignments_active ON assignments (person_id, reach_id) WHERE ends_on IS NULL;
CREATE INDEX assignments_reach ON assignments (reach_id, starts_on);

CREATE TABLE invites (
    id          INTEGER PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    -- The registered person the invite binds a Telegram account to.
    person_id   INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'chief')),
    created_by  INTEGER REFERENCES people (id) ON DELETE SET NULL,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    used_by     INTEGER -- Telegram id that used it
);

CREATE INDEX invites_pending ON invites (person_id) WHERE used_at IS NULL;

-- Which group chat gets an area's weekly summary. A chat serves one area.
CREATE TABLE chat_bindings (
    chat_id  INTEGER PRIMARY KEY REFERENCES chats (id) ON UPDATE CASCADE ON DELETE CASCADE,
    area_id  INTEGER NOT NULL REFERENCES areas (id),
    bound_by INTEGER REFERENCES people (id) ON DELETE SET NULL,
    bound_at TEXT NOT NULL
);

CREATE INDEX chat_bindings_area ON chat_bindings (area_id);
