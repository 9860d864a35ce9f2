-- A terminal whose own record numbers begin again (a door controller reset to factory settings
-- or swapped) keeps onecard's numbering going: a record is stored as record_base + the
-- terminal's number, and record_base moves up to the bookmark when the restart is noticed.
ALTER TABLE terminal ADD COLUMN record_base bigint NOT NULL DEFAULT 0;
