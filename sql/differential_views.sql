-- Differential refresh through plain views: a view's tables become the
-- managed view's sources (views in views too), each refresh compared with a
-- full recompute; views that cannot be expanded and why; a replaced view
-- makes the next refresh full; the owner's SELECT on a view is checked as a
-- recompute would.  Subqueries in FROM are pulled up as views are.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';

CREATE SCHEMA pv;
CREATE TABLE pv.users (user_id int PRIMARY KEY, region text);
CREATE TABLE pv.events (id bigserial PRIMARY KEY, user_id int, amount numeric, kind text);
INSERT INTO pv.users SELECT g, CASE WHEN g % 3 = 0 THEN NULL WHEN g % 2 = 0 THEN 'east' ELSE 'west' END
  FROM generate_series(1, 12) g;
INSERT INTO pv.events (user_id, amount, kind)
SELECT g % 13, (g % 9) * 1.25, CASE WHEN g % 3 = 0 THEN 'buy' ELSE 'view' END FROM generate_series(1, 150) g;

-- a filter with renamed and computed columns; a view over it joined with a
-- table; a join with USING; a security_invoker view
CREATE VIEW pv.buys AS
  SELECT e.user_id AS uid, e.amount * 2 AS doubled FROM pv.events e WHERE e.kind = 'buy';
CREATE VIEW pv.buys_by_region AS
  SELECT b.uid, b.doubled, u.region FROM pv.buys b JOIN pv.users u ON u.user_id = b.uid
   WHERE u.region IS DISTINCT FROM 'north';
CREATE VIEW pv.event_regions AS
  SELECT * FROM pv.events JOIN pv.users USING (user_id);
CREATE VIEW pv.invoker_buys WITH (security_invoker) AS
  SELECT e.user_id, e.amount FROM pv.events e WHERE e.kind = 'buy';
CREATE VIEW pv.aliased_regions AS
  SELECT j.id, j.region, j.kind FROM (pv.events e JOIN pv.users u ON u.user_id = e.user_id) AS j;

\i test/differences.sql

CREATE TABLE pv.expect (name text PRIMARY KEY, query text NOT NULL);
INSERT INTO pv.expect VALUES
 ('per_user', 'SELECT uid, count(*) AS n, sum(doubled) AS total, max(doubled) AS top FROM pv.buys GROUP BY uid'),
 ('per_region', 'SELECT r.region, count(*) AS n, min(r.doubled) AS low FROM pv.buys_by_region r GROUP BY r.region'),
 ('joined', 'SELECT r.uid, r.doubled, u.region AS again FROM pv.buys_by_region r, pv.users u WHERE u.user_id = r.uid'),
 ('regions', 'SELECT DISTINCT region, kind FROM pv.event_regions'),
 ('invoker', 'SELECT user_id, sum(amount) AS total FROM pv.invoker_buys GROUP BY user_id'),
 ('unioned', 'SELECT uid, doubled FROM pv.buys UNION ALL SELECT user_id, amount FROM pv.invoker_buys'),
 -- subqueries in FROM, pulled up as views are: nested and joined with
 -- USING, under a column alias list, over a view; GROUP BY () is one group
 ('sub_nested', 'SELECT s.region, count(*) AS n, sum(s.doubled) AS total
                   FROM (SELECT b.doubled, u.region
                           FROM (SELECT user_id, amount * 2 AS doubled FROM pv.events WHERE kind = ''buy'') b
                           JOIN pv.users u USING (user_id)) s
                  GROUP BY s.region'),
 ('sub_aliased', 'SELECT k, a FROM (SELECT user_id, amount FROM pv.events) AS q(k, a) WHERE a > 2'),
 ('sub_of_view', 'SELECT q.uid, q.doubled FROM (SELECT uid, doubled FROM pv.buys WHERE doubled > 3) q
                   UNION ALL SELECT k, a FROM (SELECT user_id, amount FROM pv.events WHERE kind = ''view'') q(k, a)'),
 ('grand_total', 'SELECT count(*) AS n, sum(amount) AS total, max(amount) AS top FROM pv.events GROUP BY ()'),
 -- a VALUES list in FROM: constant, in every term as it is
 ('values_joined', 'SELECT m.label, count(*) AS n, sum(e.amount) AS total
                      FROM pv.events e JOIN (VALUES (''buy'', ''sale''), (''view'', ''look'')) m(kind, label)
                           ON m.kind = e.kind GROUP BY m.label'),
 ('values_unioned', 'SELECT user_id, amount FROM pv.events WHERE amount > 8 UNION ALL VALUES (-1, 0.5), (-2, NULL)'),
 -- a function in FROM reading another FROM item: a set per row of it
 ('functions_lateral', 'SELECT e.id, g, x.label FROM pv.events e, generate_series(1, e.user_id % 4) g,
                              unnest(ARRAY[e.kind, ''any'']) x(label) WHERE g <> 2'),
 -- functions in FROM of constant arguments: as constant as VALUES
 ('functions_joined', 'SELECT g.n, u.label, u.ord, count(*) AS n_events, sum(e.amount) AS total
                         FROM pv.events e JOIN generate_series(1, 6) g(n) ON g.n = e.user_id
                         JOIN unnest(ARRAY[''buy'', ''view'']) WITH ORDINALITY u(label, ord) ON u.label = e.kind
                        GROUP BY g.n, u.label, u.ord'),
 -- a function reading a join's column through the join's alias, the join
 -- flattened as a subquery or view beside it is expanded (the refresh named
 -- the gone join); through a view that reads it so
 ('lateral_aliased', 'SELECT j.id, x.label
                        FROM (pv.events JOIN (SELECT user_id AS uid, region FROM pv.users) u
                              ON u.uid = pv.events.user_id) AS j,
                             unnest(ARRAY[j.region, j.kind]) x(label)'),
 ('lateral_grouped', 'SELECT count(*) AS n, count(x.label) AS labels
                        FROM (pv.events JOIN (SELECT user_id AS uid, region FROM pv.users) u
                              ON u.uid = pv.events.user_id) AS j,
                             unnest(ARRAY[j.region, j.kind]) x(label) GROUP BY ()'),
 ('lateral_of_view', 'SELECT p.id, x.label FROM pv.aliased_regions p, unnest(ARRAY[p.region, p.kind]) x(label)'),
 -- a subquery's conditions are tested before the reader's, as PostgreSQL
 -- tests them (user 0 has events: filling the view divided by zero)
 ('sub_guarded', 'SELECT q.id, count(*) AS n FROM (SELECT id, user_id FROM pv.events WHERE abs(user_id) > 0) q
                   WHERE 100 / q.user_id > 1 GROUP BY q.id'),
 -- joins written with USING and with an alias, around a view
 ('using', 'SELECT user_id, region, count(*) AS n, sum(doubled) AS s
              FROM pv.events JOIN pv.users USING (user_id) JOIN pv.buys ON uid = user_id GROUP BY user_id, region'),
 ('aliased', 'SELECT j.id, j.region, b.doubled
                FROM (pv.events JOIN pv.users USING (user_id)) AS j JOIN pv.buys b ON b.uid = j.user_id'),
 -- an aggregate used twice, and a literal that looks like the refresh's
 -- own placeholders
 ('twice', 'SELECT user_id, sum(amount) * sum(amount) AS sq,
                   CASE WHEN count(*) > 0 THEN sum(amount) / count(*) END AS mean,
                   ''price $9501, "$9001"'' AS label
              FROM pv.events GROUP BY user_id HAVING sum(amount) > -100 AND sum(amount) < 100000');
SELECT pipeline.create_matview('pv', name, query, '1 hour', refresh_mode => 'differential')
  FROM pv.expect ORDER BY name;
SELECT matview, refresh_mode, full_refresh_reason FROM pipeline.matviews
 WHERE schema_name = 'pv' ORDER BY 1;

CREATE FUNCTION pv.step(label text) RETURNS TABLE (step text, name text, differences bigint)
LANGUAGE plpgsql AS $$
DECLARE
    e record;
BEGIN
    FOR e IN SELECT x.name, x.query FROM pv.expect x ORDER BY x.name LOOP
        PERFORM pipeline.refresh(format('pv.mv_%s', e.name)::regclass, false);
        step := label;
        name := e.name;
        differences := pg_temp.differences(format('pv.mv_%s', e.name)::regclass, e.query);
        RETURN NEXT;
    END LOOP;
END
$$;

SELECT * FROM pv.step('created');
-- a plain view the views read cannot be dropped from under them
DROP VIEW pv.buys_by_region;
INSERT INTO pv.events (user_id, amount, kind) VALUES (1, 100, 'buy'), (NULL, 3, 'buy'), (5, NULL, 'view');
DELETE FROM pv.events WHERE id % 7 = 0;
UPDATE pv.events SET kind = 'buy' WHERE id % 11 = 0;
UPDATE pv.users SET region = 'north' WHERE user_id = 4;
UPDATE pv.users SET user_id = 40 WHERE user_id = 5;
SELECT * FROM pv.step('changed');

-- each refresh read the views' tables' changes
SELECT matview, status FROM pipeline.run_due('2031-02-01 00:00+00') WHERE matview::text LIKE 'pv.%' ORDER BY 1;
INSERT INTO pv.events (user_id, amount, kind) VALUES (2, 8, 'buy');
SELECT matview, status FROM pipeline.run_due('2031-02-01 01:00+00') WHERE matview::text LIKE 'pv.%' ORDER BY 1;
SELECT r.matview, r.detail FROM pipeline.runs r
 WHERE r.matview::text LIKE 'pv.%' AND r.time_label = '2031-02-01 01:00+00' ORDER BY 1;

-- a view replaced: the refresh after it is full, the one after that not
CREATE OR REPLACE VIEW pv.buys AS
  SELECT e.user_id AS uid, e.amount * 3 AS doubled FROM pv.events e WHERE e.kind = 'buy';
INSERT INTO pv.events (user_id, amount, kind) VALUES (3, 9, 'buy');
SELECT matview, status FROM pipeline.run_due('2031-02-01 02:00+00') WHERE matview::text LIKE 'pv.%' ORDER BY 1;
SELECT r.matview, r.detail FROM pipeline.runs r
 WHERE r.matview::text LIKE 'pv.%' AND r.time_label = '2031-02-01 02:00+00' ORDER BY 1;
INSERT INTO pv.events (user_id, amount, kind) VALUES (3, 10, 'buy');
SELECT * FROM pv.step('after replace');
SELECT r.matview, r.detail FROM pipeline.runs r
 WHERE r.matview = 'pv.mv_per_user'::regclass ORDER BY r.run_id DESC LIMIT 1;

-- a replacement alone, no write: the views that read the view run (in
-- full), the others are skipped; at the next label all are skipped
SELECT count(*) FROM pipeline.run_due('2031-02-01 03:00+00') WHERE matview::text LIKE 'pv.%';
CREATE OR REPLACE VIEW pv.buys AS
  SELECT e.user_id AS uid, e.amount * 2 AS doubled FROM pv.events e WHERE e.kind = 'buy';
SELECT matview, status FROM pipeline.run_due('2031-02-01 04:00+00') WHERE matview::text LIKE 'pv.%' ORDER BY 1;
SELECT r.matview, r.detail FROM pipeline.runs r
 WHERE r.matview::text LIKE 'pv.%' AND r.time_label = '2031-02-01 04:00+00' ORDER BY 1;
SELECT matview, status FROM pipeline.run_due('2031-02-01 05:00+00') WHERE matview::text LIKE 'pv.%' ORDER BY 1;
SELECT * FROM pv.step('after a replacement alone');

-- views that cannot be expanded: refreshed fully in auto, with the reason;
-- refused in differential
CREATE ROLE pv_other;
CREATE VIEW pv.totals AS SELECT user_id, sum(amount) AS total FROM pv.events GROUP BY user_id;
CREATE VIEW pv.guarded WITH (security_barrier) AS SELECT user_id, amount FROM pv.events WHERE kind = 'buy';
CREATE VIEW pv.others AS SELECT user_id, amount FROM pv.events;
ALTER VIEW pv.others OWNER TO pv_other;
GRANT SELECT ON pv.events TO pv_other;
CREATE VIEW pv.outer_joined AS SELECT e.user_id, u.region FROM pv.events e LEFT JOIN pv.users u USING (user_id);
SELECT pipeline.create_matview('pv', 'from_' || v, format('SELECT user_id FROM pv.%I', v), '1 hour')
  FROM unnest(ARRAY['totals', 'guarded', 'others', 'outer_joined']) v;
SELECT matview, refresh_mode, full_refresh_reason FROM pipeline.matviews
 WHERE schema_name = 'pv' AND name LIKE 'from%' ORDER BY 1;
SELECT pipeline.create_matview('pv', 'refused', 'SELECT user_id FROM pv.totals', '1 hour',
                               refresh_mode => 'differential');
-- subqueries in FROM that cannot be pulled up; GROUP BY () without an
-- aggregate is one row whatever the rows, not a row per row
CREATE TABLE pv.two_collations (id int PRIMARY KEY, c text COLLATE "C", p text COLLATE "POSIX");
CREATE FUNCTION pg_temp.refusal(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pipeline.create_matview('pv', 'refused', query, '1 hour', refresh_mode => 'differential');
    RETURN 'created';
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RETURN SQLERRM;
END
$$;
SELECT pg_temp.refusal(q) FROM unnest(ARRAY[
  'SELECT user_id, n FROM (SELECT user_id, count(*) AS n FROM pv.events GROUP BY user_id) q',
  'SELECT u.user_id, q.amount FROM pv.users u, LATERAL (SELECT amount FROM pv.events e WHERE e.user_id = u.user_id) q',
  'SELECT to_jsonb(q) AS j FROM (SELECT user_id, amount FROM pv.events) q',
  'SELECT 1 AS one FROM pv.events GROUP BY ()',
  -- what PostgreSQL computes even when the reader does not read it
  'SELECT q.id FROM (SELECT id, random() AS r FROM pv.events) q',
  'SELECT q.id FROM (SELECT id FROM pv.events ORDER BY 1 / (user_id - 5)) q',
  -- a collation explicit in the subquery, implicit in its reader; a
  -- column of two collations, which has none in the reader but whose
  -- two meet the reader's operator once written into it
  'SELECT q.id FROM (SELECT id, kind COLLATE "C" AS k FROM pv.events) q WHERE q.k < ''b'' COLLATE "POSIX"',
  'SELECT q.id FROM (SELECT id, c || p AS cp FROM pv.two_collations) q WHERE q.cp > ''a''']) q;

-- the owner's SELECT on a view it reads is checked at every refresh, as a
-- recompute's would be
CREATE ROLE pv_owner;
GRANT USAGE, CREATE ON SCHEMA pv TO pv_owner;
GRANT SELECT ON pv.events TO pv_owner;
SET ROLE pv_owner;
CREATE VIEW pv.own_buys AS SELECT user_id, amount FROM pv.events WHERE kind = 'buy';
SELECT pipeline.create_matview('pv', 'owned', 'SELECT user_id, count(*) AS n FROM pv.own_buys GROUP BY user_id', '1 hour');
SELECT refresh_mode FROM pipeline.matviews WHERE matview = 'pv.mv_owned'::regclass;
SELECT status FROM pipeline.refresh('pv.mv_owned');
REVOKE SELECT ON pv.own_buys FROM pv_owner;
SELECT status FROM pipeline.refresh('pv.mv_owned');
RESET ROLE;

-- a join side the query reads no column of (a cross join counted, a
-- comma join projecting the other side): its rows before the change are
-- its multiplicities alone (the refresh failed with a syntax error)
CREATE TABLE pv.l (x int);
CREATE TABLE pv.r (y int);
CREATE TABLE pv.s (z int);
INSERT INTO pv.l VALUES (1), (2);
INSERT INTO pv.r VALUES (1);
INSERT INTO pv.s VALUES (7), (8);
SELECT pipeline.create_matview('pv', 'pairs', 'SELECT count(*) AS n FROM pv.l CROSS JOIN pv.r', '1 hour');
SELECT pipeline.create_matview('pv', 'lefts', 'SELECT l.x FROM pv.l, pv.r', '1 hour');
SELECT pipeline.create_matview('pv', 'triples', 'SELECT count(*) AS n FROM pv.l, pv.r, pv.s', '1 hour');
SELECT m.matview, m.refresh_mode FROM pipeline.matviews m
 WHERE m.matview IN ('pv.mv_pairs'::regclass, 'pv.mv_lefts'::regclass, 'pv.mv_triples'::regclass) ORDER BY 1;
CREATE VIEW pv.equal_to_recompute AS
SELECT (SELECT n FROM pv.mv_pairs) = (SELECT count(*) FROM pv.l, pv.r) AS pairs_equal,
       (SELECT array_agg(x ORDER BY x) FROM pv.mv_lefts) =
       (SELECT array_agg(l.x ORDER BY l.x) FROM pv.l, pv.r) AS lefts_equal,
       (SELECT n FROM pv.mv_triples) = (SELECT count(*) FROM pv.l, pv.r, pv.s) AS triples_equal;
INSERT INTO pv.l VALUES (3);
INSERT INTO pv.r VALUES (2), (3);
INSERT INTO pv.s VALUES (9);
DELETE FROM pv.s WHERE z = 7;
SELECT matview, status FROM pipeline.refresh('pv.mv_pairs', false)
UNION ALL SELECT matview, status FROM pipeline.refresh('pv.mv_lefts', false)
UNION ALL SELECT matview, status FROM pipeline.refresh('pv.mv_triples', false);
TABLE pv.equal_to_recompute;
DELETE FROM pv.r WHERE y = 1;
DELETE FROM pv.l WHERE x = 2;
SELECT matview, status FROM pipeline.refresh('pv.mv_pairs', false)
UNION ALL SELECT matview, status FROM pipeline.refresh('pv.mv_lefts', false)
UNION ALL SELECT matview, status FROM pipeline.refresh('pv.mv_triples', false);
TABLE pv.equal_to_recompute;
DROP VIEW pv.equal_to_recompute;

-- a plain view managed views read cannot join an extension: pg_dump would
-- leave it out, and the views with it
ALTER EXTENSION plpgsql ADD VIEW pv.buys_by_region;

-- cleanup
SELECT pipeline.drop_matview(m.matview, "cascade" => true)
  FROM pipeline.matviews m WHERE m.schema_name = 'pv' ORDER BY m.matview::text DESC;
DROP SCHEMA pv CASCADE;
DROP ROLE pv_other;
DROP ROLE pv_owner;
