-- People who talk to the bot, their roles, and the chats the bot is in.
-- Times are UTC, ISO 8601 text ("2026-11-29T22:34:07Z"): sortable, readable, portable to PostgreSQL.

CREATE TABLE people (
    id            INTEGER PRIMARY KEY,
    -- NULL until the person opens the bot: the office registers chiefs before they have Telegram.
    telegram_id   INTEGER UNIQUE,
    name          TEXT NOT NULL CHECK (length(trim(name)) > 0),
    username      TEXT,
    -- Chosen language; NULL means "follow Telegram's language_code".
    language      TEXT CHECK (language IN ('zh', 'en')),
    language_code TEXT,
    phone         TEXT,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    started_at    TEXT,
    blocked_at    TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE person_roles (
    person_id  INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'chief', 'volunteer')),
    -- Only chiefs have a level; it sets their required patrol frequency.
    level      TEXT CHECK (level IN ('city', 'county', 'town', 'village')),
    granted_at TEXT NOT NULL,
    granted_by INTEGER REFERENCES people (id) ON DELETE SET NULL,
    PRIMARY KEY (person_id, role),
    CHECK ((role = 'chief') = (level IS NOT NULL))
);

CREATE TABLE chats (
    id         INTEGER PRIMARY KEY, -- Telegram chat id
    type       TEXT NOT NULL CHECK (type IN ('private', 'group', 'supergroup', 'channel')),
    title      TEXT,
    language   TEXT CHECK (language IN ('zh', 'en')),
    -- The bot's own membership: member, administrator, left, kicked. Not 'member'/'administrator' = unreachable.
    bot_status TEXT NOT NULL DEFAULT 'member',
    -- Set when Telegram moved a group to a supergroup: the id it now lives under.
    migrated_to INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Updates whose handling failed: kept whole so nothing a person sent is lost, and the office can look at them.
CREATE TABLE failed_updates (
    id          INTEGER PRIMARY KEY,
    update_id   INTEGER,
    chat_id     INTEGER,
    user_id     INTEGER,
    payload     TEXT NOT NULL,
    error       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    resolved_at TEXT
);

CREATE INDEX failed_updates_open ON failed_updates (created_at) WHERE resolved_at IS NULL;
