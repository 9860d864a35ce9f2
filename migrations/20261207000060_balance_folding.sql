-- A batch of uploaded purchases no longer writes its payers' balance rows: a busy canteen's
-- uploads touch hundreds of cardholders each, and they queued on each other's row locks. The
-- batch lists its movement as pending; `serve` folds pending movements into account.balance in
-- the background, many at a time, in one transaction (db::pos::fold). Until a movement is
-- folded, a balance is the cached one less the account's pending entries: account_balance(id)
-- for one account, account_pending for many. The entries are the truth either way.
CREATE TABLE balance_pending (
    movement_id bigint PRIMARY KEY REFERENCES ledger_movement (id)
);

-- An account's pending entries are found from the movement, one probe per pending movement.
DROP INDEX ledger_entry_movement;
CREATE INDEX ledger_entry_movement ON ledger_entry (movement_id, account_id);

-- What each payer's pending entries add up to: a pending movement's traced entries, one per
-- purchase. (Its merchant entry is not traced: a merchant's balance is never cached.)
CREATE VIEW account_pending AS
SELECT e.account_id, sum(e.amount) AS amount
FROM balance_pending p
JOIN ledger_entry e ON e.movement_id = p.movement_id AND e.txn_no IS NOT NULL
GROUP BY e.account_id;

-- The balance as the entries say, pending ones included.
CREATE FUNCTION account_balance(account bigint) RETURNS numeric LANGUAGE sql STABLE AS $$
    SELECT a.balance - coalesce(
        (SELECT sum(e.amount) FROM balance_pending p
         JOIN ledger_entry e ON e.movement_id = p.movement_id AND e.account_id = a.id
                             AND e.txn_no IS NOT NULL), 0)
    FROM account a WHERE a.id = account
$$;

-- A fold rewrites hundreds of balance rows at once: room on each page keeps the new versions
-- there (no index entries to add). New pages only; old ones get room as they are rewritten.
ALTER TABLE account SET (fillfactor = 50);
