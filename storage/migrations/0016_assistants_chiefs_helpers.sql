-- Chiefs' assistants (河长助理): a person who patrols on a chief's behalf. The patrol is the chief's (its
-- person_id), so every tally that joins patrols to assignments by person and reach counts it for the chief;
-- `walked_by` names the assistant who walked it.

-- Who assists which chief, and since and until when: a row is never deleted, so a report on a past month still
-- knows who assisted then. One active row per (chief, assistant).
CREATE TABLE assistants (
    id           INTEGER PRIMARY KEY,
    chief_id     INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    assistant_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    since        TEXT NOT NULL,
    until        TEXT,
    added_by     INTEGER REFERENCES people (id) ON DELETE SET NULL,
    removed_by   INTEGER REFERENCES people (id) ON DELETE SET NULL,
    CHECK (chief_id != assistant_id)
);
CREATE UNIQUE INDEX assistants_active ON assistants (chief_id, assistant_id) WHERE until IS NULL;
CREATE INDEX assistants_assistant ON assistants (assistant_id) WHERE until IS NULL;

-- One-time links a chief forwards to the person who is to assist them (`/start a-<code>`).
CREATE TABLE assistant_links (
    code       TEXT PRIMARY KEY,
    chief_id   INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at    TEXT,
    used_by    INTEGER REFERENCES people (id) ON DELETE SET NULL
);

-- Who walked a patrol, when not the person it counts for (an assistant walking for their chief).
ALTER TABLE patrols ADD COLUMN walked_by INTEGER REFERENCES people (id);

-- One open patrol per walker (an assistant's open patrol for a chief must not stop the chief's own).
DROP INDEX patrols_open;
CREATE UNIQUE INDEX patrols_open ON patrols (COALESCE(walked_by, person_id)) WHERE status = 'open';
CREATE INDEX patrols_walked_by ON patrols (walked_by, started_at) WHERE walked_by IS NOT NULL;
