-- An office's scope: the areas an admin sees and acts in (a town's river chief office runs its own town). No rows
-- for an admin: the whole county, as every admin was before. Cleared with the person; an area in a scope is
-- never deleted from under it (an office whose last area vanished would silently become the county).
CREATE TABLE admin_scopes (
    person_id INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
    area_id   INTEGER NOT NULL REFERENCES areas (id),
    PRIMARY KEY (person_id, area_id)
) WITHOUT ROWID;
