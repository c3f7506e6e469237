-- A report kept for someone who is not a member yet: the photos a stranger sent (evidence, so kept in the store,
-- not in a dialog that /cancel or an upgrade may drop), and the reach a public sign's QR code named. It waits
-- for their one tap to join as a volunteer, then becomes their report draft and is deleted. One per Telegram
-- user (they have no person id until they join, and may never). photos: JSON [[photo_id, file_id,
-- as_document, [lat, lon] or null], ...], the draft's own form. Pruned with the photos by RETENTION_YEARS.
CREATE TABLE kept_reports (
    telegram_id INTEGER PRIMARY KEY,
    reach_id    INTEGER REFERENCES reaches (id) ON DELETE SET NULL,
    photos      TEXT NOT NULL DEFAULT '[]',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX kept_reports_updated ON kept_reports (updated_at);
