-- Retention (RETENTION_YEARS): track points and original photos older than the window are pruned; what the
-- rest of the product reads from them is kept on the rows that stay.

-- A patrol whose points were pruned keeps its figures (distance_m, duration_s, point_count, valid, reasons were
-- already stored at the finish) and a simplified track for maps and exports: JSON [[lon, lat], …], WGS 84.
ALTER TABLE patrols ADD COLUMN track TEXT;
ALTER TABLE patrols ADD COLUMN points_pruned_at TEXT;

-- A photo whose original file was removed keeps its row (hash, size, dimensions, EXIF time and place, phash), so
-- duplicate detection and the evidence it backs still work. received_at: when the same bytes last came in
-- again (they are then as young as that; NULL: only at created_at).
ALTER TABLE photos ADD COLUMN pruned_at TEXT;
ALTER TABLE photos ADD COLUMN received_at TEXT;

-- What the pruning job walks: finished patrols not pruned yet by when they ended, photos not pruned yet by age.
CREATE INDEX patrols_unpruned ON patrols (ended_at) WHERE status = 'finished' AND points_pruned_at IS NULL;
CREATE INDEX photos_unpruned ON photos (created_at) WHERE pruned_at IS NULL;

-- "Is this photo still evidence of a problem?" is asked per photo.
CREATE INDEX problem_photos_photo ON problem_photos (photo_id);
