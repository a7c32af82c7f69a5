-- Update sets: stage, staged, check_staged, apply_staged, discard_staged.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

CREATE SCHEMA billingdb;
CREATE TABLE billingdb.orders (user_id int, amount numeric);
INSERT INTO billingdb.orders VALUES (1, 10), (1, 5), (2, 7);
SELECT pipeline.create_matview('billingdb', 'lifetime_value',
  'SELECT user_id, sum(amount) AS lifetime_value FROM billingdb.orders GROUP BY user_id', '1 hour');
SELECT pipeline.create_matview('billingdb', 'health', $$
  SELECT l.user_id, l.lifetime_value > 10 AS healthy FROM billingdb.mv_lifetime_value l
$$, '1 hour');
CREATE UNIQUE INDEX health_user ON billingdb.mv_health (user_id);

-- the rename alone breaks the reader
SELECT * FROM pipeline.check('billingdb.mv_lifetime_value',
  'SELECT user_id, sum(amount) AS ltv FROM billingdb.orders GROUP BY user_id');

-- staging validates the header at once
SELECT pipeline.stage($$/**
 * @matview-schema billingdb
 * @interval-in-minutes 60
 */ SELECT 1 AS x$$);
SELECT pipeline.stage(NULL);
SELECT * FROM pipeline.staged;

-- stage the rename; staging the same view again replaces it
SELECT pipeline.stage($$/**
 * @matview-schema billingdb
 * @matview-name lifetime_value
 * @interval-in-minutes 60
 */
SELECT user_id, sum(amount) AS wrong FROM billingdb.orders GROUP BY user_id$$);
SELECT pipeline.stage($$/**
 * @matview-schema billingdb
 * @matview-name lifetime_value
 * @interval-in-minutes 60
 */
SELECT user_id, sum(amount) AS ltv FROM billingdb.orders GROUP BY user_id$$);
SELECT name, query FROM pipeline.staged ORDER BY name;
-- alone it breaks, and apply refuses, applying nothing and keeping the set
SELECT * FROM pipeline.check_staged();
SELECT * FROM pipeline.apply_staged();
SELECT name, version FROM pipeline.matviews ORDER BY name;
SELECT count(*) AS still_staged FROM pipeline.staged;

-- with the reader's fix and a new view reading both, the set is fine
SELECT pipeline.stage($$/**
 * @matview-schema billingdb
 * @matview-name health
 * @interval-in-minutes 60
 */
SELECT l.user_id, l.ltv > 10 AS healthy FROM billingdb.mv_lifetime_value l$$);
SELECT pipeline.stage($$/**
 * @matview-schema billingdb
 * @matview-name summary
 * @interval-in-minutes 60
 */
SELECT count(*) FILTER (WHERE h.healthy) AS healthy, sum(l.ltv) AS total
  FROM billingdb.mv_health h JOIN billingdb.mv_lifetime_value l USING (user_id)$$);
SELECT name FROM pipeline.staged ORDER BY name;
SELECT * FROM pipeline.check_staged();
-- check_staged changed nothing
SELECT name, columns, version FROM pipeline.matviews ORDER BY name;

-- another user has a separate update set
CREATE ROLE staging_other;
SET ROLE staging_other;
SELECT count(*) AS others_see FROM pipeline.staged;
SELECT * FROM pipeline.apply_staged();
SELECT pipeline.discard_staged();
-- the staging table is not writable directly
DELETE FROM pipeline.staged_changes;
RESET ROLE;
SELECT count(*) AS mine_still_staged FROM pipeline.staged;

-- apply: all of it, in DAG order, then the set is empty
SELECT * FROM pipeline.apply_staged();
SELECT count(*) AS staged_after_apply FROM pipeline.staged;
SELECT name, columns, version FROM pipeline.matviews ORDER BY name;
SELECT upstream, downstream FROM pipeline.edges ORDER BY downstream::text, upstream::text;
SELECT * FROM billingdb.mv_health ORDER BY user_id;
SELECT * FROM billingdb.mv_summary;
SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'billingdb.mv_health'::regclass;

-- discard empties the set; check_staged and apply_staged of nothing do nothing
SELECT pipeline.stage($$/**
 * @matview-schema billingdb
 * @matview-name summary
 * @interval-in-minutes 60
 */
SELECT 1 AS one$$);
SELECT count(*) FROM pipeline.staged;
SELECT pipeline.discard_staged();
SELECT count(*) FROM pipeline.staged;
SELECT * FROM pipeline.check_staged();
SELECT * FROM pipeline.apply_staged();

-- a set that would create a cycle is refused
SELECT pipeline.stage($$/**
 * @matview-schema billingdb
 * @matview-name lifetime_value
 * @interval-in-minutes 60
 */
SELECT user_id, 1::numeric AS ltv FROM billingdb.mv_health$$);
SELECT * FROM pipeline.check_staged();
SELECT pipeline.discard_staged();

-- the catalog remap reaches tables other modules add (any regclass column)
CREATE TABLE pipeline.remap_probe (id serial, rel regclass, other regclass);
INSERT INTO pipeline.remap_probe (rel, other) VALUES ('billingdb.mv_health', 'billingdb.orders');
SELECT pipeline.create_matview('billingdb', 'health', $$
  SELECT l.user_id, l.ltv >= 10 AS healthy FROM billingdb.mv_lifetime_value l
$$, '1 hour');
SELECT rel, other, rel = 'billingdb.mv_health'::regclass AS follows FROM pipeline.remap_probe;
DROP TABLE pipeline.remap_probe;

SELECT pipeline.drop_matview('billingdb.mv_lifetime_value', cascade => true);
DROP SCHEMA billingdb CASCADE;
DROP ROLE staging_other;
