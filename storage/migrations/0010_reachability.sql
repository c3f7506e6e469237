-- Who the bot cannot write to, and what the office has been told of it.
-- blocked_reason: what Telegram's last 403 to the person said ('blocked': they blocked the bot; 'deactivated':
-- their Telegram account is gone); set with blocked_at, and cleared with it when they write to the bot again.
-- A block seen through my_chat_member sets blocked_at alone (reason NULL: blocked).
ALTER TABLE people ADD COLUMN blocked_reason TEXT;

-- The office has been told that this person cannot be reached, in this episode (why, and since when): it is
-- told again only when that changes, so daily jobs tell it once, not every day.
CREATE TABLE unreachable_told (
    person_id INTEGER PRIMARY KEY REFERENCES people (id) ON DELETE CASCADE,
    episode   TEXT NOT NULL,
    told_at   TEXT NOT NULL
);
