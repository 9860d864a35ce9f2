-- The public keys operators sign in with over `onecard ssh` (OpenSSH form). A key belongs to one
-- operator only: its SHA256 fingerprint is unique. Every change is audited.
CREATE TABLE operator_key (
    id          bigserial PRIMARY KEY,
    operator_id bigint NOT NULL REFERENCES operator (id),
    public_key  text NOT NULL,
    fingerprint text NOT NULL UNIQUE CHECK (fingerprint LIKE 'SHA256:%'),
    algorithm   text NOT NULL,
    comment     text NOT NULL DEFAULT '',
    added_by    text NOT NULL,
    added_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX operator_key_operator ON operator_key (operator_id);
