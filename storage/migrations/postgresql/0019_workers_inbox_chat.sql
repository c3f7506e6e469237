-- The same as storage/migrations/0019_workers_inbox_chat.sql: each update's chat (its chat, else its sender, else
-- 0), so that a webhook worker takes one chat's waiting updates in order while other workers take other chats'
-- (bot/workers.py). NULL only for rows kept before this migration: the front fills those in at start.
ALTER TABLE inbox ADD COLUMN chat_id BIGINT;

CREATE INDEX inbox_waiting_by_chat ON inbox (chat_id, update_id) WHERE done_at IS NULL;
