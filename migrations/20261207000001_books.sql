-- The database keeps the books, whatever the client does (issue 11, "Money, one type"):
-- a movement has entries; its entries sum to zero (ledger_movement_balances, already);
-- entries and movements are never edited, deleted or truncated; and an account that must not
-- go below zero cannot.

-- A movement with no entries is refused at commit (entries are written after their movement,
-- in the same transaction). ledger_entry_movement makes the look-up cheap.
CREATE FUNCTION ledger_movement_has_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ledger_entry WHERE movement_id = NEW.id) THEN
        RAISE EXCEPTION 'ledger movement % has no entries', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER ledger_movement_has_entries AFTER INSERT ON ledger_movement
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_movement_has_entries();

-- Row triggers do not see TRUNCATE; it would empty the books in one statement.
CREATE TRIGGER ledger_entry_no_truncate BEFORE TRUNCATE ON ledger_entry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_movement_no_truncate BEFORE TRUNCATE ON ledger_movement
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Which way an account's money runs. `balance` is minus the sum of the entries (the cardholder
-- view), so what the centre owes (a cardholder, fee income, balances kept) is a positive
-- balance, and what it holds (the cash drawer) a negative one: the cash in the drawer is minus
-- its balance.
ALTER TABLE account ADD COLUMN asset boolean NOT NULL DEFAULT false;
UPDATE account SET asset = true WHERE kind = 'cash';

-- Whether the account may go below zero, per account. Every account is floored by default: a
-- drawer cannot pay out cash it never took, fee income and kept balances only grow, and the desk
-- never takes a fee or a refund from a cardholder beyond the balance.
-- A cardholder's floor is per account because an offline POS purchase that overdraws is booked
-- anyway (issue 11, "POS, offline"): that posting lifts the floor of that one account in its
-- own transaction (and blacklists the card), and the top-up that brings the balance back to
-- zero or more sets it again.
ALTER TABLE account ADD COLUMN floor_zero boolean NOT NULL DEFAULT true;
ALTER TABLE account ADD CONSTRAINT account_floor_zero
    CHECK (NOT floor_zero OR CASE WHEN asset THEN balance <= 0 ELSE balance >= 0 END);
