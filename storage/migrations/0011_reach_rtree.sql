-- A spatial index over each reach's bounding box (SQLite's built-in R*Tree), for the nearest-reach search that
-- runs at every patrol start by location and every report: it looks at the reaches near the point instead of
-- scanning all of them. Kept in step with reaches.min_lat… by triggers, so every way a reach is written (the
-- registry import, the demo data, an edit) keeps it right. The R*Tree stores 32-bit floats, rounded outwards, so
-- its box always holds the reach's own box; the search measures against the reach's own.
CREATE VIRTUAL TABLE reach_boxes USING rtree (id, min_lat, max_lat, min_lon, max_lon);

INSERT INTO reach_boxes (id, min_lat, max_lat, min_lon, max_lon)
SELECT id, min_lat, max_lat, min_lon, max_lon FROM reaches WHERE min_lat IS NOT NULL;

CREATE TRIGGER reach_boxes_insert AFTER INSERT ON reaches WHEN NEW.min_lat IS NOT NULL
BEGIN
    INSERT INTO reach_boxes (id, min_lat, max_lat, min_lon, max_lon)
    VALUES (NEW.id, NEW.min_lat, NEW.max_lat, NEW.min_lon, NEW.max_lon);
END;

CREATE TRIGGER reach_boxes_update AFTER UPDATE OF id, min_lat, min_lon, max_lat, max_lon ON reaches
BEGIN
    DELETE FROM reach_boxes WHERE id = OLD.id;
    INSERT INTO reach_boxes (id, min_lat, max_lat, min_lon, max_lon)
    SELECT NEW.id, NEW.min_lat, NEW.max_lat, NEW.min_lon, NEW.max_lon WHERE NEW.min_lat IS NOT NULL;
END;

CREATE TRIGGER reach_boxes_delete AFTER DELETE ON reaches
BEGIN
    DELETE FROM reach_boxes WHERE id = OLD.id;
END;
