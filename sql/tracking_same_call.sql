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

DROP VIEW same.state;
SELECT pipeline.drop_matview('same.mv_up', cascade => true);
DROP SCHEMA same CASCADE;
