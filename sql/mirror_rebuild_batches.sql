-- A redefinition that rebuilds a stream mirror replays its stream as one
-- batch.  Where the runs' batches decided a key's outcome (a delete without
-- a sequence is the newest change of its key in its batch; a repeated
-- (key, sequence) pair with other contents updates across batches but is
-- an error within one) the rebuild is refused with the key, by check() as
-- by the definition, and the mirror, its memory and its mark stay.  As a
-- non-superuser owner with a trap schema first in search_path.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE ROLE mrb_owner LOGIN;
CREATE SCHEMA mrb AUTHORIZATION mrb_owner;
CREATE SCHEMA mrb_trap AUTHORIZATION mrb_owner;
RESET client_min_messages;
SET ROLE mrb_owner;
CREATE FUNCTION mrb_trap.texteq(text, text) RETURNS boolean LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: text = text ran as %', current_user; END $f$;
CREATE OPERATOR mrb_trap.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mrb_trap.texteq);
CREATE FUNCTION mrb_trap.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS
  $f$ BEGIN RAISE EXCEPTION 'trap: count ran as %', current_user; END $f$;
SET search_path = mrb_trap, public, pg_catalog;

-- a delete by key alone in one run, the key inserted in a later run
CREATE TABLE mrb.stream (off bigserial PRIMARY KEY, k int, v text, seq int, op text);
SELECT pipeline.create_matview('mrb', 'm', 'SELECT off, k, v, seq, op FROM mrb.stream', '1 hour', 'mirror',
    incremental_key => 'off', options => '{"mirror-keys": "k", "mirror-sequence": "seq"}');
INSERT INTO mrb.stream (k, v, seq, op) VALUES (1, NULL, NULL, 'D'), (2, 'two', 1, 'I');
SELECT status FROM pipeline.refresh('mrb.mv_m');
INSERT INTO mrb.stream (k, v, seq, op) VALUES (1, 'hello', 3, 'I');
SELECT status FROM pipeline.refresh('mrb.mv_m');
TABLE mrb.mv_m ORDER BY k;
-- replayed as one batch the delete would win: refused, nothing changes
SELECT status, detail FROM pipeline.check('mrb.mv_m',
    'SELECT off, k, v, upper(v) AS v2, seq, op FROM mrb.stream');
SELECT pipeline.create_matview('mrb', 'm', 'SELECT off, k, v, upper(v) AS v2, seq, op FROM mrb.stream', '1 hour', 'mirror',
    incremental_key => 'off', options => '{"mirror-keys": "k", "mirror-sequence": "seq"}');
TABLE mrb.mv_m ORDER BY k;
SELECT count(*) AS remembered FROM pipeline.deleted_keys WHERE target = 'mrb.mv_m'::regclass;
SELECT high_water FROM pipeline.incremental_state WHERE matview = 'mrb.mv_m'::regclass;
-- changes not yet consumed are one batch either way: a rebuild is allowed
-- when the key's changes all lie past the mark
TRUNCATE mrb.stream;
SELECT pipeline.drop_matview('mrb.mv_m');
INSERT INTO mrb.stream (k, v, seq, op) VALUES (1, 'one', 1, 'I');
SELECT pipeline.create_matview('mrb', 'm', 'SELECT off, k, v, seq, op FROM mrb.stream', '1 hour', 'mirror',
    incremental_key => 'off', options => '{"mirror-keys": "k", "mirror-sequence": "seq"}');
INSERT INTO mrb.stream (k, v, seq, op) VALUES (2, 'two', 1, 'I'), (2, NULL, NULL, 'D');
SELECT pipeline.create_matview('mrb', 'm', 'SELECT off, k, v, upper(v) AS v2, seq, op FROM mrb.stream', '1 hour', 'mirror',
    incremental_key => 'off', options => '{"mirror-keys": "k", "mirror-sequence": "seq"}');
TABLE mrb.mv_m ORDER BY k;
SELECT pipeline.drop_matview('mrb.mv_m');
-- a later delete with a sequence leaves the key deleted either way: allowed
TRUNCATE mrb.stream;
SELECT pipeline.create_matview('mrb', 'm', 'SELECT off, k, v, seq, op FROM mrb.stream', '1 hour', 'mirror',
    incremental_key => 'off', options => '{"mirror-keys": "k", "mirror-sequence": "seq"}');
INSERT INTO mrb.stream (k, v, seq, op) VALUES (1, 'a', 1, 'I'), (1, NULL, NULL, 'D'), (2, 'two', 1, 'I');
SELECT status FROM pipeline.refresh('mrb.mv_m');
INSERT INTO mrb.stream (k, v, seq, op) VALUES (1, NULL, 5, 'D');
SELECT status FROM pipeline.refresh('mrb.mv_m');
SELECT status, detail FROM pipeline.check('mrb.mv_m',
    'SELECT off, k, v, upper(v) AS v2, seq, op FROM mrb.stream');
SELECT pipeline.drop_matview('mrb.mv_m');

-- a sequence repeated with other contents in a later run, quarantining
CREATE TABLE mrb.q (off bigserial PRIMARY KEY, k int, v text, seq int, op text);
SELECT pipeline.define($d$/**
 * @matview-schema mrb
 * @matview-name qm
 * @matview-type mirror
 * @incremental-key off
 * @mirror-keys k
 * @mirror-sequence seq
 * @on-error quarantine
 * @interval-in-minutes 60
 */
SELECT off, k, v, seq, op FROM mrb.q$d$);
INSERT INTO mrb.q (k, v, seq, op) VALUES (1, 'a', 5, 'I'), (2, 'keep', 1, 'I');
SELECT status FROM pipeline.refresh('mrb.mv_qm');
INSERT INTO mrb.q (k, v, seq, op) VALUES (1, 'b', 5, 'U');
SELECT status FROM pipeline.refresh('mrb.mv_qm');
TABLE mrb.mv_qm ORDER BY k;
SELECT pipeline.define($d$/**
 * @matview-schema mrb
 * @matview-name qm
 * @matview-type mirror
 * @incremental-key off
 * @mirror-keys k
 * @mirror-sequence seq
 * @on-error quarantine
 * @interval-in-minutes 60
 */
SELECT off, k, v, length(v) AS len, seq, op FROM mrb.q$d$);
TABLE mrb.mv_qm ORDER BY k;
SELECT count(*) AS rejected FROM pipeline.rejected WHERE target = 'mrb.mv_qm'::regclass;
-- identical redeliveries are no conflict: the rebuild goes ahead
UPDATE mrb.q SET v = 'a', op = 'I' WHERE v OPERATOR(pg_catalog.=) 'b';
SELECT pipeline.define($d$/**
 * @matview-schema mrb
 * @matview-name qm
 * @matview-type mirror
 * @incremental-key off
 * @mirror-keys k
 * @mirror-sequence seq
 * @on-error quarantine
 * @interval-in-minutes 60
 */
SELECT off, k, v, length(v) AS len, seq, op FROM mrb.q$d$);
TABLE mrb.mv_qm ORDER BY k;

SELECT pipeline.drop_matview('mrb.mv_qm');
RESET search_path;
RESET ROLE;
DROP SCHEMA mrb CASCADE;
DROP SCHEMA mrb_trap CASCADE;
DROP ROLE mrb_owner;
