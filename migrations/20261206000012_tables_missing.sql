-- A terminal still lacking a table after it was sent again is a fault: one open alarm.
DROP INDEX alarm_one_open_fault;
CREATE UNIQUE INDEX alarm_one_open_fault ON alarm (terminal_id, kind)
    WHERE state = 'active' AND kind IN ('terminal_offline', 'comm_fault', 'clock_drift', 'memory_full',
                                        'clock_invalid', 'records_implausible', 'tables_missing');
