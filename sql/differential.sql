-- Differential refresh: each construct, each kind of change, compared with a
-- full recompute of the view's query (both ways, EXCEPT ALL, and by the
-- text of every row, so a numeric's scale counts); what refresh() says the
-- view holds, and what pipeline.runs.detail says about how a run went.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';

CREATE SCHEMA diff;
CREATE TABLE diff.users (id int PRIMARY KEY, name text, region text, referrer int);
CREATE TABLE diff.events (id bigserial PRIMARY KEY, user_id int, kind text,
                          amount numeric, qty int, flag boolean, at timestamptz);
INSERT INTO diff.users VALUES (1, 'ann', 'eu', NULL), (2, 'bob', 'us', 1), (3, 'cy', NULL, 2),
                              (4, 'di', 'eu', 2);
INSERT INTO diff.events (user_id, kind, amount, qty, flag, at)
SELECT 1 + i % 4, CASE i % 3 WHEN 0 THEN 'a' WHEN 1 THEN 'b' ELSE NULL END,
       (i % 7) * 1.5, i % 5, i % 2 = 0, '2026-01-01'::timestamptz + i * interval '1 hour'
  FROM generate_series(1, 40) i;

-- rows of a view and of its query, each as text, that the other lacks
\i test/differences.sql

SELECT pipeline.create_matview('diff', 'filtered',
    'SELECT id, user_id, amount * 2 AS doubled FROM diff.events WHERE kind = ''a''', '1 hour',
    refresh_mode => 'differential');
SELECT pipeline.create_matview('diff', 'joined',
    'SELECT e.id, u.name, r.name AS referrer_name, e.qty FROM diff.events e
       JOIN diff.users u ON u.id = e.user_id JOIN diff.users r ON r.id = u.referrer', '1 hour',
    refresh_mode => 'differential');
SELECT pipeline.create_matview('diff', 'per_user',
    'SELECT user_id, count(*) AS n, count(kind) AS kinds, sum(qty) AS qty, sum(amount) AS amount,
            avg(amount) AS mean, avg(qty) AS mean_qty, min(amount) AS low, max(at) AS last,
            bool_and(flag) AS all_flag, bool_or(flag) AS any_flag
       FROM diff.events GROUP BY user_id HAVING count(*) > 1', '1 hour',
    refresh_mode => 'differential');
SELECT pipeline.create_matview('diff', 'totals',
    'SELECT count(*) AS n, sum(amount) AS amount, max(qty) AS top FROM diff.events', '1 hour',
    refresh_mode => 'differential');
SELECT pipeline.create_matview('diff', 'kinds',
    'SELECT DISTINCT kind, region FROM diff.events e, diff.users u WHERE u.id = e.user_id', '1 hour',
    refresh_mode => 'differential');
SELECT pipeline.create_matview('diff', 'by_region',
    'SELECT u.region, sum(p.n) AS n, max(p.low) AS low FROM diff.mv_per_user p
       JOIN diff.users u ON u.id = p.user_id GROUP BY u.region', '1 hour',
    refresh_mode => 'differential');
SELECT pipeline.create_matview('diff', 'unioned',
    'SELECT user_id AS k, amount, ''event'' AS src FROM diff.events WHERE kind = ''b''
     UNION ALL SELECT id, referrer * 1.5, region FROM diff.users
     UNION ALL SELECT p.user_id, p.low, ''low'' FROM diff.mv_per_user p WHERE p.n > 7', '1 hour',
    refresh_mode => 'differential');
SELECT name, refresh_mode, full_refresh_reason, pg_catalog.pg_class.relkind
  FROM pipeline.matviews JOIN pg_catalog.pg_class ON pg_class.oid = matview
 WHERE schema_name = 'diff' ORDER BY name;
-- aggregates of one argument share its count of non-NULL values, and sum()
-- and avg() of it one sum and scale
SELECT pg_catalog.string_agg(attname, ' ' ORDER BY attnum) AS per_user_state
  FROM pg_catalog.pg_attribute
 WHERE attrelid = ('pipeline.state_' || 'diff.mv_per_user'::regclass::oid)::regclass AND attnum > 0;
-- and a delta's largest numeric scale, of how many rows (1.9): NULLs, NaN
-- and infinities have none; each value counts the rows it stands for
SELECT pipeline.max_scale(v, n) AS scale, pipeline.max_scale_rows(v, n) AS scale_rows
  FROM (VALUES (1.5, 2), (2.25, 1), (3.75, 3), ('NaN', 5), (NULL, 1), ('Infinity', 1), (7, 4)) x(v, n);
SELECT pipeline.max_scale(v, 1) AS scale, pipeline.max_scale_rows(v, 1) AS scale_rows
  FROM (VALUES ('NaN'::numeric)) x(v);
-- a bag view's lookup column has statistics once the view is filled, so
-- the refresh's delete finds its rows by the index (unanalyzed, it read
-- and sorted the whole view); a grouped view's joins are pinned instead
SELECT c.relname, s.attname, c.reltuples >= 0 AS counted
  FROM pg_catalog.pg_class c
  LEFT JOIN pg_catalog.pg_stats s ON s.schemaname = 'diff' AND s.tablename = c.relname
 WHERE c.oid IN ('diff.mv_filtered'::regclass, 'diff.mv_unioned'::regclass) ORDER BY 1, 2;

CREATE TABLE diff.expect (name text, query text);
INSERT INTO diff.expect VALUES
 ('filtered', 'SELECT id, user_id, amount * 2 AS doubled FROM diff.events WHERE kind = ''a'''),
 ('joined', 'SELECT e.id, u.name, r.name AS referrer_name, e.qty FROM diff.events e
       JOIN diff.users u ON u.id = e.user_id JOIN diff.users r ON r.id = u.referrer'),
 ('per_user', 'SELECT user_id, count(*) AS n, count(kind) AS kinds, sum(qty) AS qty, sum(amount) AS amount,
            avg(amount) AS mean, avg(qty) AS mean_qty, min(amount) AS low, max(at) AS last,
            bool_and(flag) AS all_flag, bool_or(flag) AS any_flag
       FROM diff.events GROUP BY user_id HAVING count(*) > 1'),
 ('totals', 'SELECT count(*) AS n, sum(amount) AS amount, max(qty) AS top FROM diff.events'),
 ('kinds', 'SELECT DISTINCT kind, region FROM diff.events e, diff.users u WHERE u.id = e.user_id'),
 ('by_region', 'SELECT u.region, sum(p.n) AS n, max(p.low) AS low FROM diff.mv_per_user p
       JOIN diff.users u ON u.id = p.user_id GROUP BY u.region'),
 ('unioned', 'SELECT user_id AS k, amount, ''event'' AS src FROM diff.events WHERE kind = ''b''
     UNION ALL SELECT id, referrer * 1.5, region FROM diff.users
     UNION ALL SELECT p.user_id, p.low, ''low'' FROM diff.mv_per_user p WHERE p.n > 7');

-- refresh all in DAG order; each view's detail and differences
CREATE FUNCTION diff.step(label text) RETURNS TABLE (step text, name text, rows bigint, differences bigint)
LANGUAGE plpgsql AS $$
DECLARE
    e record;
BEGIN
    FOR e IN SELECT x.name, x.query FROM diff.expect x
              ORDER BY array_position(ARRAY['filtered','joined','per_user','totals','kinds','by_region','unioned'], x.name) LOOP
        SELECT r.rows INTO rows FROM pipeline.refresh(format('diff.mv_%s', e.name)::regclass, false) r;
        step := label;
        name := e.name;
        differences := pg_temp.differences(format('diff.mv_%s', e.name)::regclass, e.query);
        RETURN NEXT;
    END LOOP;
END
$$;

SELECT * FROM diff.step('created');

INSERT INTO diff.events (user_id, kind, amount, qty, flag, at)
VALUES (1, 'a', 100.125, 9, true, '2026-03-01'), (5, 'b', NULL, NULL, NULL, NULL), (NULL, 'a', 2, 1, false, now());
SELECT * FROM diff.step('insert');

-- the minimum and the largest scale of user 1 go; keys change
DELETE FROM diff.events WHERE amount = 100.125;
DELETE FROM diff.events WHERE user_id = 2 AND amount = 0;
UPDATE diff.events SET user_id = 3 WHERE id % 5 = 0;
UPDATE diff.users SET referrer = 4 WHERE id = 3;
UPDATE diff.users SET region = 'apac' WHERE id = 1;
SELECT * FROM diff.step('delete, update');

-- a group vanishes and comes back; rolled back work leaves no trace
BEGIN;
DELETE FROM diff.events WHERE user_id = 4;
SAVEPOINT s;
INSERT INTO diff.events (user_id, amount) VALUES (4, 1000);
ROLLBACK TO SAVEPOINT s;
COMMIT;
BEGIN;
INSERT INTO diff.events (user_id, amount) SELECT 9, g FROM generate_series(1, 100) g;
ROLLBACK;
SELECT * FROM diff.step('vanish');
-- equal amounts of two scales: the sum and mean read with the larger; the
-- minimum is a smaller one, since a minimum among equal values of two
-- scales reads as whichever comes first
COPY diff.events (user_id, kind, amount, qty, flag) FROM stdin;
4	a	1.10	3	t
4	\N	1.1	4	f
4	b	0.5	1	t
\.
SELECT * FROM diff.step('copy');

-- a refresh in the same transaction as the writes, twice
BEGIN;
UPDATE diff.events SET amount = amount + 0.5 WHERE user_id = 1;
SELECT * FROM diff.step('same transaction 1');
UPDATE diff.events SET qty = qty + 1 WHERE user_id = 3;
SELECT * FROM diff.step('same transaction 2');
COMMIT;

-- a truncate makes the next refresh full
TRUNCATE diff.users CASCADE;
INSERT INTO diff.users VALUES (1, 'eve', 'eu', NULL), (3, 'fay', 'us', 1);
SELECT * FROM diff.step('truncate');
SELECT * FROM diff.step('nothing');

-- runs say how they went
INSERT INTO diff.events (user_id, amount) VALUES (2, 7);
SELECT matview, status FROM pipeline.run_due('2030-01-01 00:00+00') WHERE matview::text LIKE 'diff.%' ORDER BY 1;
SELECT r.matview, r.detail FROM pipeline.runs r WHERE r.matview::text LIKE 'diff.%' ORDER BY 1;
TRUNCATE diff.events;
SELECT matview, status FROM pipeline.run_due('2030-01-01 01:00+00') WHERE matview::text LIKE 'diff.%' ORDER BY 1;
SELECT r.matview, r.detail FROM pipeline.runs r WHERE r.matview::text LIKE 'diff.%' AND r.time_label > '2030-01-01 00:00+00' ORDER BY 1;
SELECT name, differences FROM diff.expect, LATERAL pg_temp.differences(format('diff.mv_%s', name)::regclass, query) differences ORDER BY 1;

-- only the refresh writes a differential view's table; dropping what it
-- reads is refused as for a materialized view
INSERT INTO diff.mv_totals VALUES (1, 2, 3);
DELETE FROM diff.mv_filtered;
TRUNCATE diff.mv_kinds;
ALTER TABLE diff.events DROP COLUMN qty;
DROP TABLE diff.users;
ALTER TABLE diff.mv_totals DISABLE TRIGGER pipeline_view_guard;
ALTER TABLE diff.mv_totals DISABLE TRIGGER ALL;
DROP TRIGGER pipeline_view_guard ON diff.mv_totals;
ALTER TRIGGER pipeline_view_guard ON diff.mv_totals DEPENDS ON EXTENSION plpgsql;
ALTER EXTENSION plpgsql ADD TABLE diff.mv_totals;
-- nor a child of a table a view reads (pg_dump would leave its rows out)
CREATE TABLE diff.parent (k int);
CREATE TABLE diff.kid () INHERITS (diff.parent);
SELECT pipeline.create_matview('diff', 'of_parent', 'SELECT k FROM diff.parent', '1 hour', refresh_mode => 'full');
ALTER EXTENSION plpgsql ADD TABLE diff.kid;
SELECT pipeline.drop_matview('diff.mv_of_parent');
DROP TABLE diff.parent CASCADE;

-- a view whose expressions depend on settings (timestamptz::date on
-- TimeZone) is recomputed when they differ from its last refresh's
SELECT pipeline.create_matview('diff', 'days', 'SELECT at::date AS day, count(*) AS n FROM diff.events GROUP BY 1', '1 hour');
INSERT INTO diff.events (user_id, at) VALUES (1, '2026-06-01 23:30+00');
SET timezone = 'Asia/Tokyo';
SELECT matview, status FROM pipeline.run_due('2030-01-01 02:00+00') WHERE matview = 'diff.mv_days'::regclass;
SELECT detail FROM pipeline.runs WHERE matview = 'diff.mv_days'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT pg_temp.differences('diff.mv_days', 'SELECT at::date AS day, count(*) AS n FROM diff.events GROUP BY 1');
INSERT INTO diff.events (user_id, at) VALUES (1, '2026-06-02 23:30+00');
SELECT matview, status FROM pipeline.run_due('2030-01-01 03:00+00') WHERE matview = 'diff.mv_days'::regclass;
SELECT detail FROM pipeline.runs WHERE matview = 'diff.mv_days'::regclass ORDER BY run_id DESC LIMIT 1;
SELECT pg_temp.differences('diff.mv_days', 'SELECT at::date AS day, count(*) AS n FROM diff.events GROUP BY 1');
SET timezone = 'UTC';
SELECT pipeline.drop_matview('diff.mv_days');

-- a refresh checks that the owner may still read the sources, as a
-- recompute would
CREATE ROLE diff_owner;
GRANT USAGE ON SCHEMA diff TO diff_owner;
GRANT CREATE ON SCHEMA diff TO diff_owner;
GRANT SELECT ON diff.users TO diff_owner;
SET ROLE diff_owner;
SELECT pipeline.create_matview('diff', 'names', 'SELECT name FROM diff.users', '1 hour');
RESET ROLE;
INSERT INTO diff.users VALUES (9, 'gus', 'eu', NULL);
REVOKE SELECT ON diff.users FROM diff_owner;
SELECT status FROM pipeline.refresh('diff.mv_names');
GRANT SELECT ON diff.users TO diff_owner;
SELECT status, rows FROM pipeline.refresh('diff.mv_names');
SET ROLE diff_owner;
SELECT pipeline.drop_matview('diff.mv_names');
RESET ROLE;

-- a row joined in by one delta term and out by another (its account moved
-- in the same refresh) is no row of its group: the group's only value of
-- the largest scale, deleted in that refresh, must not seem kept by it
CREATE TABLE diff.accounts (id int PRIMARY KEY, region text);
CREATE TABLE diff.payments (id int PRIMARY KEY, account int, amount numeric);
INSERT INTO diff.accounts VALUES (1, 'g'), (2, 'g');
INSERT INTO diff.payments VALUES (1, 1, 1.0001), (2, 2, 2.5), (3, 1, 3.25);
SELECT pipeline.create_matview('diff', 'by_area',
    'SELECT a.region, sum(p.amount) AS total, count(*) AS n FROM diff.payments p
       JOIN diff.accounts a ON a.id = p.account GROUP BY a.region', '1 hour',
    refresh_mode => 'differential');
SELECT status FROM pipeline.refresh('diff.mv_by_area');
DELETE FROM diff.payments WHERE id = 1;
INSERT INTO diff.payments VALUES (4, 2, 4.0004);
UPDATE diff.accounts SET region = 'h' WHERE id = 2;
SELECT status FROM pipeline.refresh('diff.mv_by_area');
SELECT * FROM diff.mv_by_area ORDER BY region;
SELECT pg_temp.differences('diff.mv_by_area',
    'SELECT a.region, sum(p.amount) AS total, count(*) AS n FROM diff.payments p
       JOIN diff.accounts a ON a.id = p.account GROUP BY a.region');
SELECT pipeline.drop_matview('diff.mv_by_area');
-- the same in a group that had no value yet: the row taken back is neither
-- its maximum nor of its scale
INSERT INTO diff.accounts VALUES (3, 'w'), (4, 'w');
INSERT INTO diff.payments VALUES (5, 3, NULL);
SELECT pipeline.create_matview('diff', 'area_top',
    'SELECT a.region, max(p.amount) AS top, sum(p.amount) AS total FROM diff.payments p
       JOIN diff.accounts a ON a.id = p.account GROUP BY a.region', '1 hour',
    refresh_mode => 'differential');
INSERT INTO diff.payments VALUES (6, 4, 350.0000), (7, 3, 8.7170);
UPDATE diff.accounts SET region = 'e' WHERE id = 4;
SELECT status FROM pipeline.refresh('diff.mv_area_top');
SELECT * FROM diff.mv_area_top ORDER BY region;
DELETE FROM diff.payments WHERE id = 7;
INSERT INTO diff.payments VALUES (8, 3, 1.5);
SELECT status FROM pipeline.refresh('diff.mv_area_top');
SELECT * FROM diff.mv_area_top ORDER BY region;
-- and in a group that appears: payment 9, of an account that did not
-- exist, goes as the account comes; the new group has no value
INSERT INTO diff.payments VALUES (9, 5, 330), (10, 5, NULL);
SELECT status FROM pipeline.refresh('diff.mv_area_top');
DELETE FROM diff.payments WHERE id = 9;
INSERT INTO diff.accounts VALUES (5, 'z');
SELECT status FROM pipeline.refresh('diff.mv_area_top');
SELECT * FROM diff.mv_area_top ORDER BY region;
SELECT pg_temp.differences('diff.mv_area_top',
    'SELECT a.region, max(p.amount) AS top, sum(p.amount) AS total FROM diff.payments p
       JOIN diff.accounts a ON a.id = p.account GROUP BY a.region');
SELECT pipeline.drop_matview('diff.mv_area_top');

-- over a stream (incremental) view: what each append adds is captured
CREATE TABLE diff.clicks (id int PRIMARY KEY, user_id int, amount numeric);
INSERT INTO diff.clicks SELECT g, g % 3, g * 0.5 FROM generate_series(1, 6) g;
SELECT pipeline.create_matview('diff', 'click_stream', 'SELECT id, user_id, amount FROM diff.clicks',
                               '1 hour', 'incremental', 'id');
SELECT pipeline.create_matview('diff', 'click_totals',
    'SELECT user_id, count(*) AS n, sum(amount) AS total, max(amount) AS top
       FROM diff.mv_click_stream GROUP BY user_id', '1 hour', refresh_mode => 'differential');
INSERT INTO diff.clicks SELECT g, g % 4, g * 1.5 FROM generate_series(7, 12) g;
SELECT matview, status FROM pipeline.run_due('2030-01-01 05:00+00')
 WHERE matview::text LIKE 'diff.mv_click%' ORDER BY 1;
SELECT matview, detail FROM pipeline.runs
 WHERE matview::text LIKE 'diff.mv_click%' AND time_label = '2030-01-01 05:00+00' ORDER BY 1;
SELECT * FROM diff.mv_click_totals ORDER BY user_id;
SELECT pg_temp.differences('diff.mv_click_totals',
    'SELECT user_id, count(*) AS n, sum(amount) AS total, max(amount) AS top
       FROM diff.clicks GROUP BY user_id');
SELECT pipeline.drop_matview('diff.mv_click_stream', "cascade" => true);

-- the view is a table of exactly the query's columns
SELECT * FROM diff.mv_per_user ORDER BY user_id;
SELECT * FROM diff.mv_totals;

-- aggregates with FILTER are maintained, as the aggregate of CASE WHEN
SELECT pipeline.create_matview('diff', 'kind_counts',
  'SELECT user_id, count(*) FILTER (WHERE kind = ''buy'') AS buys, sum(amount) FILTER (WHERE kind = ''buy'') AS bought,
          max(amount) FILTER (WHERE kind <> ''buy'') AS top_other FROM diff.events GROUP BY user_id',
  '1 hour', refresh_mode => 'differential');
INSERT INTO diff.events (user_id, kind, amount) VALUES (1, 'buy', 5.5), (1, 'view', 7), (2, 'buy', NULL);
DELETE FROM diff.events WHERE id = (SELECT min(id) FROM diff.events WHERE kind = 'buy');
SELECT matview, status FROM pipeline.refresh('diff.mv_kind_counts', false);
SELECT refresh_mode FROM pipeline.matviews WHERE matview = 'diff.mv_kind_counts'::regclass;
(TABLE diff.mv_kind_counts EXCEPT ALL
 SELECT user_id, count(*) FILTER (WHERE kind = 'buy'), sum(amount) FILTER (WHERE kind = 'buy'),
        max(amount) FILTER (WHERE kind <> 'buy') FROM diff.events GROUP BY user_id)
UNION ALL
(SELECT user_id, count(*) FILTER (WHERE kind = 'buy'), sum(amount) FILTER (WHERE kind = 'buy'),
        max(amount) FILTER (WHERE kind <> 'buy') FROM diff.events GROUP BY user_id
 EXCEPT ALL TABLE diff.mv_kind_counts);
SELECT pipeline.drop_matview('diff.mv_kind_counts');

-- clean up
SELECT pipeline.drop_matview('diff.mv_unioned');
SELECT pipeline.drop_matview('diff.mv_filtered');
SELECT pipeline.drop_matview('diff.mv_joined');
SELECT pipeline.drop_matview('diff.mv_per_user', "cascade" => true);
SELECT pipeline.drop_matview('diff.mv_totals');
SELECT pipeline.drop_matview('diff.mv_kinds');
SELECT count(*) AS capture_left FROM pipeline.capture_sources;
SELECT count(*) AS states_left FROM pg_class WHERE relnamespace = 'pipeline'::regnamespace AND relname LIKE 'state%';
DROP SCHEMA diff CASCADE;
DROP ROLE diff_owner;
