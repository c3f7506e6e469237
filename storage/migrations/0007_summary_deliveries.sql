-- Weekly summaries delivered: one row per (what, week, where), so a restart never sends a week twice or skips one.
-- kind 'area': an area's summary to a bound group (target = chat id); kind 'chief': a chief's private digest
-- (target = person id, area_id 0). message_ids: JSON list of the messages sent; attempts and next_attempt_at
-- while sending keeps failing; reported_at once the admins were told it keeps failing.
CREATE TABLE summary_deliveries (
    kind TEXT NOT NULL,
    area_id INTEGER NOT NULL,
    week TEXT NOT NULL,
    target INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT,
    message_ids TEXT NOT NULL DEFAULT '[]',
    reported_at TEXT,
    delivered_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, area_id, week, target)
);
