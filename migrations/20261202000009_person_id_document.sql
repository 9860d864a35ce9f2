-- The card desk finds a person by ID document: the whole number or its last six characters
-- or more, ignoring Latin case (a check digit x, a passport). Reversed, an ending is a prefix,
-- which a btree index serves; only persons with an ID document on file are indexed.
CREATE INDEX person_id_document_suffix ON person (reverse(upper(id_document)) text_pattern_ops)
    WHERE id_document <> '';
