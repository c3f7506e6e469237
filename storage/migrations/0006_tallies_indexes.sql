-- Indexes for the tallies (patrol rate, problem figures) so that they stay fast on a city-scale store.

-- The patrol rate counts, for each chief's reach and required period, the valid finished patrols in the period:
-- one seek in this index per (assignment, period), never a visit to the table.
CREATE INDEX patrols_valid ON patrols (person_id, reach_id, started_at) WHERE status = 'finished' AND valid = 1;

-- Problems reported, closed (or dismissed), and due in a date range.
CREATE INDEX problems_reported ON problems (reported_at);
CREATE INDEX problems_closed ON problems (closed_at);
CREATE INDEX problems_deadline ON problems (deadline);
