-- Door queries over every door at once ("all openings last night"): the index of 0007 leads
-- with the controller and serves one door at a time. Terminal times mostly grow, so new rows
-- land at the right edge of this index and ingest pays little for it.
CREATE INDEX door_event_time ON door_event (terminal_time);

-- Alarm history: closed alarms by when they were raised.
CREATE INDEX alarm_closed_raised ON alarm (raised_at) WHERE state = 'cleared';
