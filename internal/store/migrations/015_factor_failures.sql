-- Wrong second-factor codes per operator, counted over a window whatever
-- the challenge or step-up they came in, so that a person who has the
-- password cannot guess codes without end by starting sign-in again.
ALTER TABLE ops.operators
    ADD COLUMN factor_failures        integer NOT NULL DEFAULT 0,
    ADD COLUMN factor_failures_since  timestamptz;
