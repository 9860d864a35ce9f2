-- Punches an attendance machine overwrote before they were collected (issue 10, item 10). Its
-- log numbers nothing, so such a gap is a span of the machine's own time: after the newest
-- punch collected, before the oldest it still holds.
ALTER TABLE record_gap ALTER COLUMN first_record DROP NOT NULL;
ALTER TABLE record_gap ALTER COLUMN last_record DROP NOT NULL;
ALTER TABLE record_gap ADD COLUMN lost_after timestamp;
ALTER TABLE record_gap ADD COLUMN lost_before timestamp;
ALTER TABLE record_gap ADD CONSTRAINT record_gap_numbers_or_times CHECK (
    (first_record IS NOT NULL AND last_record IS NOT NULL AND lost_after IS NULL AND lost_before IS NULL)
    OR (first_record IS NULL AND last_record IS NULL AND lost_after IS NOT NULL
        AND lost_before IS NOT NULL AND lost_after < lost_before)
);
ALTER TABLE record_gap ADD CONSTRAINT record_gap_one_span UNIQUE (terminal_id, lost_after);
