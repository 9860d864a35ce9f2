-- Purchases are posted per terminal batch (issue 11, "No hot rows"): one movement per upload,
-- one entry per purchase on its payer, one for the merchant. The purchase's trace (terminal,
-- numbering epoch, transaction number, card) moves from the movement to its payer's entry, and
-- the rule "each POS transaction is posted once" moves with it.
ALTER TABLE ledger_entry
    ADD COLUMN card_id bigint,
    ADD COLUMN terminal_id bigint,
    ADD COLUMN txn_epoch bigint,
    ADD COLUMN txn_no bigint;
ALTER TABLE ledger_entry ADD CONSTRAINT ledger_entry_purchase_traced
    CHECK ((txn_no IS NULL) = (terminal_id IS NULL) AND (txn_no IS NULL) = (txn_epoch IS NULL));

-- Purchases posted before: their payer entry (the one that paid, amount > 0) takes the trace.
ALTER TABLE ledger_entry DISABLE TRIGGER USER;
UPDATE ledger_entry e
SET card_id = m.card_id, terminal_id = m.terminal_id, txn_epoch = m.txn_epoch, txn_no = m.txn_no
FROM ledger_movement m
WHERE m.id = e.movement_id AND m.kind = 'purchase' AND e.amount > 0;
ALTER TABLE ledger_entry ENABLE TRIGGER USER;

CREATE UNIQUE INDEX ledger_entry_one_purchase ON ledger_entry (terminal_id, txn_epoch, txn_no)
    WHERE txn_no IS NOT NULL;

DROP INDEX ledger_movement_one_purchase;
DROP INDEX ledger_movement_card_purchases;
ALTER TABLE ledger_movement DROP CONSTRAINT ledger_movement_purchase_traced;
ALTER TABLE ledger_movement DROP COLUMN txn_no;
-- A purchase movement is one terminal's batch, in the numbering epoch it was posted in.
ALTER TABLE ledger_movement ADD CONSTRAINT ledger_movement_purchase_traced
    CHECK ((kind = 'purchase') = (terminal_id IS NOT NULL AND txn_epoch IS NOT NULL));

-- The books are checked per statement, not per entry: a batch writes thousands of entries in
-- one statement, and a per-row check (sum the movement again for each entry) costs the square.
-- The rule is that each INSERT's entries of one movement sum to zero by themselves. Every
-- writer inserts a movement's entries in one statement, and a movement made of zero-sum parts
-- sums to zero, so every movement balances at every statement's end; an entry added later to
-- an old movement must bring its own counter-entry. The check reads only the new rows.
-- A purchase movement's traced entries (one per purchase) come in one statement too, and
-- number what the movement says (`ledger verify` checks the whole books again).
-- The references are checked here as well, once per statement: accounts and movements are
-- never deleted (below, and ledger_append_only), so a row found now stays found, and the
-- merchant's one account row is not share-locked by every entry of every till.
DROP TRIGGER ledger_movement_balances ON ledger_entry;
DROP FUNCTION ledger_movement_balances();
ALTER TABLE ledger_entry DROP CONSTRAINT ledger_entry_movement_id_fkey;
ALTER TABLE ledger_entry DROP CONSTRAINT ledger_entry_account_id_fkey;

CREATE FUNCTION ledger_entries_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.account_id INTO bad FROM (SELECT DISTINCT account_id FROM new_entries) n
    WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.id = n.account_id) LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger entry on account %, which does not exist', bad.account_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT t.movement_id, m.id IS NULL AS missing, m.kind, m.purchase_count, t.total, t.traced
    INTO bad
    FROM (SELECT n.movement_id, sum(n.amount) AS total, count(n.txn_no) AS traced,
                 min(n.terminal_id) AS t_min, max(n.terminal_id) AS t_max,
                 min(n.txn_epoch) AS e_min, max(n.txn_epoch) AS e_max
          FROM new_entries n GROUP BY n.movement_id) t
    LEFT JOIN ledger_movement m ON m.id = t.movement_id
    WHERE m.id IS NULL OR t.total <> 0
       OR t.traced <> coalesce(m.purchase_count, 0)
       OR t.traced > 0 AND (t.t_min <> m.terminal_id OR t.t_max <> m.terminal_id
                            OR t.e_min <> m.txn_epoch OR t.e_max <> m.txn_epoch)
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF bad.missing THEN
        RAISE EXCEPTION 'ledger entry of movement %, which does not exist', bad.movement_id
            USING ERRCODE = 'foreign_key_violation';
    ELSIF bad.total <> 0 THEN
        RAISE EXCEPTION 'ledger movement % does not balance: its entries sum to %', bad.movement_id, bad.total
            USING ERRCODE = 'check_violation';
    ELSE
        RAISE EXCEPTION 'ledger movement % (%) posts % purchases of its terminal, and says %',
            bad.movement_id, bad.kind, bad.traced, coalesce(bad.purchase_count, 0)
            USING ERRCODE = 'check_violation';
    END IF;
END $$;
CREATE TRIGGER ledger_entries_check AFTER INSERT ON ledger_entry
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_check();

-- An account with history is never deleted; none is, so none may be.
CREATE FUNCTION account_never_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an account is never deleted: its entries are the books'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER account_never_deleted BEFORE DELETE ON account
    FOR EACH ROW EXECUTE FUNCTION account_never_deleted();
CREATE TRIGGER account_no_truncate BEFORE TRUNCATE ON account
    FOR EACH STATEMENT EXECUTE FUNCTION account_never_deleted();

-- How many purchases a purchase movement posts: settlement counts a month of them from the
-- movements alone. Checked against the traced entries by ledger_entries_check.
ALTER TABLE ledger_movement ADD COLUMN purchase_count integer;
ALTER TABLE ledger_movement DISABLE TRIGGER USER;
UPDATE ledger_movement SET purchase_count = 1 WHERE kind = 'purchase';
ALTER TABLE ledger_movement ENABLE TRIGGER USER;
ALTER TABLE ledger_movement ADD CONSTRAINT ledger_movement_purchase_count
    CHECK ((kind = 'purchase') = (purchase_count IS NOT NULL) AND purchase_count > 0);

-- A reversal is against one purchase, which is now its payer's entry, not a whole movement.
ALTER TABLE movement_detail ADD COLUMN reverses_entry_id bigint UNIQUE;
ALTER TABLE movement_detail DISABLE TRIGGER USER;
UPDATE movement_detail d SET reverses_entry_id = e.id
FROM ledger_entry e
WHERE e.movement_id = d.reverses_movement_id AND e.txn_no IS NOT NULL;
ALTER TABLE movement_detail ENABLE TRIGGER USER;
ALTER TABLE movement_detail DROP COLUMN reverses_movement_id;
ALTER TABLE movement_detail ADD CONSTRAINT movement_detail_reversal_has_receipt
    CHECK ((reverses_entry_id IS NULL) = (receipt = ''));

-- The numbering epoch a purchase record was stored in (the terminal's record_base then), so a
-- record finds its posting exactly, even after the POS numbered anew.
ALTER TABLE pos_purchase ADD COLUMN txn_epoch bigint NOT NULL DEFAULT 0;
UPDATE pos_purchase p SET txn_epoch = t.record_base FROM terminal t WHERE t.id = p.terminal_id;

-- A batch's entries without its purchases (the merchant's, and every other movement's): what
-- settlement and the takings read, without the thousands of traced entries beside them.
CREATE INDEX ledger_entry_untraced ON ledger_entry (movement_id) WHERE txn_no IS NULL;

-- A missing number is chased: read from the POS's journal (READ_TXN), never guessed. What the
-- POS said: sold (the record came, and was posted), void (no sale under it), or unknown (older
-- than its journal). A void number is no longer missing; an unknown one stays listed.
ALTER TABLE pos_txn_missing
    ADD COLUMN chased_at timestamptz,
    ADD COLUMN chase text CHECK (chase IN ('sold', 'void', 'unknown')),
    ADD CHECK ((chase IS NULL) = (chased_at IS NULL));
