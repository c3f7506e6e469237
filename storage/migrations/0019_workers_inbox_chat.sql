-- Webhook workers (issue 17): each update's chat, so a worker can take one chat's waiting updates, in order, while
-- other workers take other chats'. The chat is the update's chat, else its sender (as the per-chat order in one
-- process has it), else 0. NULL only for rows kept before this migration: the bot fills those in at start.
ALTER TABLE inbox ADD COLUMN chat_id INTEGER;

CREATE INDEX inbox_waiting_by_chat ON inbox (chat_id, update_id) WHERE done_at IS NULL;
