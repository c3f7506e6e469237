-- Which message carried each of a problem's photos to a chat: a person is sent a photo once, and later steps
-- reply to that message instead of sending the album again (on rural signal every resend costs). Forgotten
-- for the chat and problem when Telegram no longer finds the message (deleted), and the photos go again.
CREATE TABLE problem_photo_messages (
    chat_id    INTEGER NOT NULL,
    problem_id INTEGER NOT NULL REFERENCES problems (id),
    photo_id   INTEGER NOT NULL REFERENCES photos (id),
    message_id INTEGER NOT NULL,
    sent_at    TEXT NOT NULL,
    PRIMARY KEY (chat_id, problem_id, photo_id)
);
