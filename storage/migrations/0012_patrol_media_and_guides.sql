-- Voice notes, audio, videos and video notes sent during a patrol: evidence like its photos. Only Telegram's
-- file id is kept (to send it on), not the bytes: they prove the person was there, the verdict does not read them.
CREATE TABLE patrol_media (
    id             INTEGER PRIMARY KEY,
    patrol_id      INTEGER NOT NULL REFERENCES patrols (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('voice', 'audio', 'video', 'video_note')),
    file_id        TEXT NOT NULL,
    file_unique_id TEXT NOT NULL,
    duration_s     INTEGER,
    sent_at        TEXT NOT NULL,
    caption        TEXT,
    -- The same message handled again (after a crash) adds nothing.
    UNIQUE (patrol_id, file_unique_id, sent_at)
);

CREATE INDEX patrol_media_patrol ON patrol_media (patrol_id);

-- The share of the reach's line a finished patrol's track passed (0 to 1; NULL: no line, or finished before
-- this was kept). Kept like the distance, because old track points are pruned and could not give it again.
ALTER TABLE patrols ADD COLUMN coverage REAL;

-- Picture guides a person has been sent (how to share a live location): each is sent once per person.
CREATE TABLE guides_sent (
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    guide     TEXT NOT NULL,
    sent_at   TEXT NOT NULL,
    PRIMARY KEY (person_id, guide)
);
