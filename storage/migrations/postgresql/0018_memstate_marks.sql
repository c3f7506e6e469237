-- The marks table of storage/migrations/0018_memstate_marks.sql (what each column holds is told there), under the
-- port's rules: text COLLATE "C", times as ISO 8601 text, so storage/marks.py's SQL is the same on both engines.
CREATE TABLE marks (
    key        TEXT COLLATE "C" PRIMARY KEY,
    value      TEXT COLLATE "C" NOT NULL DEFAULT '',
    expires_at TEXT COLLATE "C"
);
CREATE INDEX marks_expires ON marks (expires_at);
