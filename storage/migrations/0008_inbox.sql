-- The inbox: every update, kept whole before it is confirmed to Telegram (the next getUpdates offset), so an
-- update fetched and then lost to a crash is handled after the restart instead of never. payload is cleared
-- once the update is handled; the row stays a short while so a second delivery of it is recognised.
CREATE TABLE inbox (
    update_id   INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    payload     TEXT,                        -- the update's JSON as Telegram sent it; NULL once handled
    attempts    INTEGER NOT NULL DEFAULT 0,  -- handling runs begun after a restart (a crash mid-handling)
    done_at     TEXT
);

CREATE INDEX inbox_waiting ON inbox (update_id) WHERE done_at IS NULL;
CREATE INDEX inbox_done ON inbox (done_at) WHERE done_at IS NOT NULL;

-- A track point is stored once: an update handled again after a crash adds nothing. Two identical points of
-- one patrol (same time, same place) carry nothing the first does not.
DELETE FROM patrol_points
WHERE id NOT IN (SELECT min(id) FROM patrol_points GROUP BY patrol_id, at, lat, lon);
DROP INDEX patrol_points_patrol;
CREATE UNIQUE INDEX patrol_points_patrol ON patrol_points (patrol_id, at, lat, lon);
