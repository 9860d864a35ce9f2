-- The cardholder register (人事): it must exist before cards are issued. The card service issue
-- extends it; the foundation needs it for the demo site.

CREATE TABLE department (
    id        bigserial PRIMARY KEY,
    code      text NOT NULL UNIQUE,
    name      text NOT NULL,
    parent_id bigint REFERENCES department (id)
);

CREATE TABLE person (
    id            bigserial PRIMARY KEY,
    person_no     text NOT NULL UNIQUE,
    name          text NOT NULL,
    department_id bigint NOT NULL REFERENCES department (id),
    category      text NOT NULL CHECK (category IN ('staff', 'student', 'visitor')),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX person_department ON person (department_id);
