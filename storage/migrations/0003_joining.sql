-- Joining the bot: volunteers' requests, half-finished dialogs, and small facts the command line needs.

-- A volunteer (河小义) asking to join. With VOLUNTEER_APPROVAL=admin it waits here for an admin's decision.
CREATE TABLE registrations (
    id           INTEGER PRIMARY KEY,
    person_id    INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(trim(name)) > 0),
    home_area_id INTEGER REFERENCES areas (id),
    phone        TEXT,
    status       TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by   INTEGER REFERENCES people (id) ON DELETE SET NULL,
    decided_at   TEXT,
    created_at   TEXT NOT NULL
);

-- One request waits per person at a time.
CREATE UNIQUE INDEX registrations_pending ON registrations (person_id) WHERE status = 'pending';

-- What a person has half-entered in a private chat (a registration, an invite being made, …), so that a
-- restart in the middle loses nothing. One open dialog per person.
CREATE TABLE dialogs (
    telegram_id INTEGER PRIMARY KEY,
    flow        TEXT NOT NULL,
    step        TEXT NOT NULL,
    data        TEXT NOT NULL DEFAULT '{}', -- JSON object
    updated_at  TEXT NOT NULL
);

-- Facts the bot learns at start that the command line needs offline, e.g. its username for deep links.
CREATE TABLE meta (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

ALTER TABLE people ADD COLUMN deactivated_at TEXT;
ALTER TABLE people ADD COLUMN deactivated_by INTEGER REFERENCES people (id) ON DELETE SET NULL;
