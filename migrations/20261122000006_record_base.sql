-- A terminal whose own record numbers begin again (a door controller reset to factory settings
-- or swapped) keeps onecard's numbering going: a record is stored as record_base + the
-- terminal's number, and record_base moves up to the bookmark when the restart is noticed.
ALTER TABLE terminal ADD COLUMN record_base bigint NOT NULL DEFAULT 0;

-- The serial number the terminal reports of itself (RS-485 GET_INFO): a different one at the
-- same address is a swapped terminal, whose numbering is new. Empty until first seen.
ALTER TABLE terminal ADD COLUMN hardware_serial text NOT NULL DEFAULT '';
