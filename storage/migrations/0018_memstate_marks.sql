-- Marks: small keyed facts with an expiry that decide behaviour and used to live in one process's memory (a
-- group's /summary cooldown, an album already answered, who runs the weekly delivery). With several workers on
-- one database each would keep its own; here they are one. `value` is whatever the taker noted (a message id, a
-- lease holder's token); `expires_at` is UTC ISO 8601 like every time here, NULL for no expiry. A mark past its
-- expiry counts as absent and is pruned by the minute's heartbeat.
CREATE TABLE marks (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL DEFAULT '',
    expires_at TEXT
);
CREATE INDEX marks_expires ON marks (expires_at);
