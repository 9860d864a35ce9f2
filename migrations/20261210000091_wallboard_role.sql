-- The wallboard role: the control room's wall screen, which reads and changes nothing.
INSERT INTO role (name) VALUES ('wallboard') ON CONFLICT (name) DO NOTHING;
