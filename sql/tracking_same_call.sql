-- Skip-unchanged across runs that share a transaction (one run_due() call,
-- or run_due() inside the caller's transaction): a downstream view that ran
-- after its upstream in one call is skipped at the next label when nothing
-- changed, and a change is never missed, also one made in the same
-- transaction before or after the runs.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE SCHEMA same;
CREATE TABLE same.src (x int);
INSERT INTO same.src VALUES (1);
SELECT pipeline.create_matview('same', 'up', 'SELECT sum(x) AS total FROM same.src', '1 hour');
SELECT pipeline.create_matview('same', 'down', 'SELECT total * 10 AS scaled FROM same.mv_up', '1 hour');
CREATE VIEW same.state AS
SELECT (SELECT total FROM same.mv_up) AS up, (SELECT scaled FROM same.mv_down) AS down;

-- both run in one call; at the next label nothing changed: both skipped
SELECT * FROM pipeline.run_due('2026-01-01 00:00+00');
SELECT * FROM pipeline.run_due('2026-01-01 01:00+00');
SELECT * FROM pipeline.run_due('2026-01-01 02:00+00');
-- a change: both run, in one call, and both see it
INSERT INTO same.src VALUES (2);
SELECT * FROM pipeline.run_due('2026-01-01 03:00+00');
SELECT * FROM same.state;
SELECT * FROM pipeline.run_due('2026-01-01 04:00+00');

-- a change made earlier in the same transaction
BEGIN;
INSERT INTO same.src VALUES (4);
SELECT * FROM pipeline.run_due('2026-01-01 05:00+00');
SELECT * FROM same.state;
COMMIT;
SELECT * FROM pipeline.run_due('2026-01-01 06:00+00');

-- a change made after the runs, in the same transaction: the next call in
-- it, and the next call after it, both run (a later xid ending first makes
-- PostgreSQL's snapshot of this transaction look past its own xid: the
-- rolled-back savepoint below)
BEGIN;
INSERT INTO same.src VALUES (8);
SAVEPOINT s;
INSERT INTO same.src VALUES (1000);
ROLLBACK TO SAVEPOINT s;
SELECT * FROM pipeline.run_due('2026-01-01 07:00+00');
SELECT * FROM same.state;
INSERT INTO same.src VALUES (16);
SELECT * FROM pipeline.run_due('2026-01-01 08:00+00');
SELECT * FROM same.state;
INSERT INTO same.src VALUES (32);
COMMIT;
SELECT * FROM pipeline.run_due('2026-01-01 09:00+00');
SELECT * FROM same.state;
SELECT * FROM pipeline.run_due('2026-01-01 10:00+00');

-- unchanged runs in the same transaction as a later write
BEGIN;
SELECT * FROM pipeline.run_due('2026-01-01 11:00+00');
UPDATE same.src SET x = x + 1 WHERE x = 1;
COMMIT;
SELECT * FROM pipeline.run_due('2026-01-01 12:00+00');
SELECT * FROM same.state;

-- a write in a rolled-back savepoint after the runs changes nothing: the
-- next label may skip; a write after it that stays is seen
BEGIN;
SELECT * FROM pipeline.run_due('2026-01-01 13:00+00');
SAVEPOINT s;
DELETE FROM same.src;
ROLLBACK TO SAVEPOINT s;
COMMIT;
SELECT * FROM pipeline.run_due('2026-01-01 14:00+00');
BEGIN;
SAVEPOINT s;
DELETE FROM same.src;
ROLLBACK TO SAVEPOINT s;
DELETE FROM same.src WHERE x = 32;
COMMIT;
SELECT * FROM pipeline.run_due('2026-01-01 15:00+00');
SELECT * FROM same.state;

-- the latest successes remember the transaction they ran in (one call)
SELECT count(DISTINCT xid) AS transactions FROM pipeline.refresh_snapshots
 WHERE matview IN ('same.mv_up'::regclass, 'same.mv_down'::regclass);

-- a mirror that empties its stage (no stream key) counts its own delete as
-- seen; a write to the stage later in the same transaction is not
CREATE TABLE same.cases_stage (change_kind text, changed_at timestamptz, case_id int, status text);
SELECT pipeline.create_matview('same', 'cases',
    'SELECT change_kind, changed_at, case_id, status FROM same.cases_stage', '1 hour', 'mirror',
    options => '{"mirror-keys": "case_id", "mirror-sequence": "changed_at",
                 "mirror-operation": "change_kind", "mirror-delete-value": "remove"}');
INSERT INTO same.cases_stage VALUES ('I', '2020-05-12 10:00', 1, 'open');
SELECT * FROM pipeline.run_due('2026-02-01 00:00+00') WHERE matview = 'same.mv_cases'::regclass;
BEGIN;
INSERT INTO same.cases_stage VALUES ('I', '2020-05-13 10:00', 2, 'open');
SELECT * FROM pipeline.run_due('2026-02-01 01:00+00') WHERE matview = 'same.mv_cases'::regclass;
INSERT INTO same.cases_stage VALUES ('I', '2020-05-14 10:00', 3, 'open');
COMMIT;
SELECT * FROM pipeline.run_due('2026-02-01 02:00+00') WHERE matview = 'same.mv_cases'::regclass;
SELECT count(*) AS stage_rows FROM same.cases_stage;
SELECT case_id, status FROM same.mv_cases ORDER BY case_id;
SELECT pipeline.drop_matview('same.mv_cases');

-- refresh() outside a run rewrites the upstream: the downstream view runs
-- at its next label, not skipped with the old rows; refresh(cascade) of a
-- view whose downstream another role owns leaves that one to its label
-- the same way
SELECT * FROM pipeline.run_due('2026-03-01 00:00+00');
INSERT INTO same.src VALUES (1000);
SELECT matview, status FROM pipeline.refresh('same.mv_up', cascade => false);
SELECT * FROM same.state;
SELECT * FROM pipeline.run_due('2026-03-01 01:00+00');
SELECT * FROM same.state;
SELECT * FROM pipeline.run_due('2026-03-01 02:00+00');
CREATE ROLE same_other;
GRANT USAGE ON SCHEMA same TO same_other;
GRANT SELECT ON same.src TO same_other;
ALTER TABLE same.mv_up OWNER TO same_other;
INSERT INTO same.src VALUES (10000);
SET ROLE same_other;
SELECT matview, status FROM pipeline.refresh('same.mv_up');
RESET ROLE;
SELECT * FROM same.state;
SELECT * FROM pipeline.run_due('2026-03-01 03:00+00');
SELECT * FROM same.state;
-- the view's state follows its owner at once: the role can go
ALTER TABLE same.mv_up OWNER TO CURRENT_USER;
REVOKE ALL ON same.src FROM same_other;
REVOKE ALL ON SCHEMA same FROM same_other;
DROP ROLE same_other;

DROP VIEW same.state;
SELECT pipeline.drop_matview('same.mv_up', cascade => true);
DROP SCHEMA same CASCADE;
