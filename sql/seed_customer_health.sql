-- The Datacoral customer_health example: raw tables from
-- four "slices", two 30-minute views over the event streams, and the four
-- DPL documents of the seed, defined as written.  The only change is
-- Redshift's implicit text-to-number cast in lifetime_value:
-- sum(substring(amount, 2)) becomes sum(substring(amount, 2)::numeric).
-- (The post's web page indents with non-breaking spaces; plain spaces here.)
-- Every view is checked against the same computation done directly on the
-- raw tables, before and after the raw data changes.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- the raw tables and data are the demo's (pg_regress runs in the tree root)
\i demo/setup.sql

-- the four documents of the seed
SELECT pipeline.define($$
/**
 * @datacoral O-1.0.0
 * @matview-schema billingdb
 * @matview-name lifetime_value
 * @matview-type regular
 * @interval-in-minutes 120
 */

SELECT
      o.user_id,
      sum(substring(amount, 2)::numeric) as lifetime_value
FROM
      billingdb.orders o,
      billingdb.invoices i
WHERE
      o.user_id = i.user_id
      AND i.status != 'Pending'
GROUP BY
      o.user_id;
$$);
SELECT pipeline.define($$
/**
 * @datacoral O-1.0.0
 * @matview-schema zendesk
 * @matview-name satisfaction
 * @matview-type regular
 * @interval-in-minutes 60
 */

SELECT
      t.requester_id,
      t.satisfaction_rating_score,
      tm.full_resolution_time_in_minutes_business,
      tm.first_resolution_time_in_minutes_business
FROM
      zendesk.tickets t,
      zendesk.ticket_metrics tm
WHERE
      t.id = tm.ticket_id;
$$);
SELECT pipeline.define($$
/**
 * @datacoral O-1.0.0
 * @matview-schema events
 * @matview-name engagement
 * @matview-type regular
 * @interval-in-minutes 30
 */

SELECT
      h.user_id,
      max(h.eventtime) latest_device_sync,
      max(sa.eventtime) latest_web_event,
      count(1) AS touchpoints
FROM
      webevents.mv_siteactivity sa,
      deviceevents.mv_heartbeat h
WHERE
      h.user_id = sa.user_id
GROUP BY
      h.user_id;
$$);
SELECT pipeline.define($$
/**
 * @datacoral O-1.0.0
 * @matview-schema public
 * @matview-name customer_health
 * @matview-type regular
 * @interval-in-minutes 240
 */

SELECT
      l.user_id,
      lifetime_value * satisfaction_rating_score * touchpoints AS health_score
FROM
      billingdb.mv_lifetime_value l,
      zendesk.mv_satisfaction,
      events.mv_engagement;
$$);

-- the catalog
SELECT matview, schema_name, name, matview_type, refresh_interval, columns,
       version, owner = current_user AS owned_by_definer
  FROM pipeline.matviews ORDER BY matview::text;
-- every view of the seed, engagement and customer_health included, is
-- refreshed differentially in auto mode
SELECT matview, refresh_mode, full_refresh_reason FROM pipeline.matviews ORDER BY matview::text;
SELECT upstream, downstream FROM pipeline.edges ORDER BY downstream::text, upstream::text;
SELECT * FROM pipeline.refresh_order();
SELECT * FROM pipeline.upstream('public.mv_customer_health');
SELECT * FROM pipeline.downstream('webevents.pageviews');
SELECT * FROM pipeline.downstream('billingdb.invoices');
SELECT pipeline.graph('dot');

-- the same computations, straight from the raw tables (written differently
-- on purpose: explicit joins, replace() instead of substring, CTEs)
CREATE SCHEMA direct;
CREATE VIEW direct.siteactivity AS
  SELECT user_id, url, eventtime FROM webevents.pageviews WHERE user_id IS NOT NULL;
CREATE VIEW direct.heartbeat AS
  SELECT device_id, user_id, eventtime FROM deviceevents.events WHERE kind = 'heartbeat';
CREATE VIEW direct.lifetime_value AS
  SELECT o.user_id, sum(replace(o.amount, '$', '')::numeric) AS lifetime_value
    FROM billingdb.orders o
    JOIN billingdb.invoices i ON i.user_id = o.user_id AND i.status <> 'Pending'
   GROUP BY o.user_id;
CREATE VIEW direct.satisfaction AS
  SELECT t.requester_id, t.satisfaction_rating_score,
         m.full_resolution_time_in_minutes_business,
         m.first_resolution_time_in_minutes_business
    FROM zendesk.tickets t JOIN zendesk.ticket_metrics m ON m.ticket_id = t.id;
CREATE VIEW direct.engagement AS
  WITH web AS (SELECT user_id, count(*) AS n, max(eventtime) AS latest
                 FROM webevents.pageviews WHERE user_id IS NOT NULL GROUP BY user_id),
       dev AS (SELECT user_id, count(*) AS n, max(eventtime) AS latest
                 FROM deviceevents.events WHERE kind = 'heartbeat' GROUP BY user_id)
  SELECT dev.user_id, dev.latest AS latest_device_sync, web.latest AS latest_web_event,
         web.n * dev.n AS touchpoints
    FROM dev JOIN web USING (user_id);
CREATE VIEW direct.customer_health AS
  SELECT l.user_id, l.lifetime_value * s.satisfaction_rating_score * e.touchpoints AS health_score
    FROM direct.lifetime_value l CROSS JOIN direct.satisfaction s CROSS JOIN direct.engagement e;

-- one row per view: rows in the view, rows computed directly, and rows that
-- differ (in either direction, duplicates counted)
CREATE VIEW direct.comparison AS
  SELECT 'webevents.mv_siteactivity' AS matview,
         (SELECT count(*) FROM webevents.mv_siteactivity) AS mv_rows,
         (SELECT count(*) FROM direct.siteactivity) AS direct_rows,
         (SELECT count(*) FROM ((SELECT * FROM webevents.mv_siteactivity EXCEPT ALL SELECT * FROM direct.siteactivity)
                      UNION ALL (SELECT * FROM direct.siteactivity EXCEPT ALL SELECT * FROM webevents.mv_siteactivity)) d) AS differing
  UNION ALL
  SELECT 'deviceevents.mv_heartbeat',
         (SELECT count(*) FROM deviceevents.mv_heartbeat),
         (SELECT count(*) FROM direct.heartbeat),
         (SELECT count(*) FROM ((SELECT * FROM deviceevents.mv_heartbeat EXCEPT ALL SELECT * FROM direct.heartbeat)
                      UNION ALL (SELECT * FROM direct.heartbeat EXCEPT ALL SELECT * FROM deviceevents.mv_heartbeat)) d)
  UNION ALL
  SELECT 'billingdb.mv_lifetime_value',
         (SELECT count(*) FROM billingdb.mv_lifetime_value),
         (SELECT count(*) FROM direct.lifetime_value),
         (SELECT count(*) FROM ((SELECT * FROM billingdb.mv_lifetime_value EXCEPT ALL SELECT * FROM direct.lifetime_value)
                      UNION ALL (SELECT * FROM direct.lifetime_value EXCEPT ALL SELECT * FROM billingdb.mv_lifetime_value)) d)
  UNION ALL
  SELECT 'zendesk.mv_satisfaction',
         (SELECT count(*) FROM zendesk.mv_satisfaction),
         (SELECT count(*) FROM direct.satisfaction),
         (SELECT count(*) FROM ((SELECT * FROM zendesk.mv_satisfaction EXCEPT ALL SELECT * FROM direct.satisfaction)
                      UNION ALL (SELECT * FROM direct.satisfaction EXCEPT ALL SELECT * FROM zendesk.mv_satisfaction)) d)
  UNION ALL
  SELECT 'events.mv_engagement',
         (SELECT count(*) FROM events.mv_engagement),
         (SELECT count(*) FROM direct.engagement),
         (SELECT count(*) FROM ((SELECT * FROM events.mv_engagement EXCEPT ALL SELECT * FROM direct.engagement)
                      UNION ALL (SELECT * FROM direct.engagement EXCEPT ALL SELECT * FROM events.mv_engagement)) d)
  UNION ALL
  SELECT 'public.mv_customer_health',
         (SELECT count(*) FROM public.mv_customer_health),
         (SELECT count(*) FROM direct.customer_health),
         (SELECT count(*) FROM ((SELECT * FROM public.mv_customer_health EXCEPT ALL SELECT * FROM direct.customer_health)
                      UNION ALL (SELECT * FROM direct.customer_health EXCEPT ALL SELECT * FROM public.mv_customer_health)) d);

-- views are created populated: already equal to the direct computation
SELECT * FROM direct.comparison;

-- a value worked out by hand: user 2 has orders 1, 12, 23, 34, 45, 56 and
-- three invoices, all paid, so (as the seed's join is written) each order
-- counts three times
SELECT i.id, i.status FROM billingdb.invoices i WHERE i.user_id = 2 ORDER BY i.id;
SELECT string_agg(amount, ' + ' ORDER BY id) AS orders FROM billingdb.orders WHERE user_id = 2;
SELECT * FROM billingdb.mv_lifetime_value WHERE user_id = 2;
SELECT * FROM events.mv_engagement ORDER BY user_id;

-- a unique index: lifetime_value is then refreshed CONCURRENTLY
CREATE UNIQUE INDEX ON billingdb.mv_lifetime_value (user_id);

-- new raw data arrives in every slice
INSERT INTO billingdb.orders VALUES (61, 12, '$100.00', '2026-11-04 00:00+00'),
                                    (62, 2, '$0.50', '2026-11-04 01:00+00');
UPDATE billingdb.invoices SET status = 'Paid' WHERE status = 'Pending' AND id <= 12;
INSERT INTO zendesk.ticket_metrics VALUES (123, 23, 45, 10), (124, 24, 90, 20);
UPDATE zendesk.tickets SET satisfaction_rating_score = 5 WHERE id = 7;
DELETE FROM webevents.pageviews WHERE user_id = 3;
INSERT INTO webevents.pageviews SELECT 200 + g, 11, '/pricing', timestamptz '2026-11-05 00:00+00' + g * interval '1 minute'
  FROM generate_series(1, 5) g;
INSERT INTO deviceevents.events VALUES (151, 'dev-new', 11, 'heartbeat', '2026-11-05 12:00+00'),
                                       (152, 'dev-new', 12, 'crash', '2026-11-05 12:01+00');

-- the views are stale until refreshed
SELECT matview, differing > 0 AS stale FROM direct.comparison;

-- refresh each source's first-level view with its downstream views
SELECT matview, status, rows FROM pipeline.refresh('webevents.mv_siteactivity');
SELECT matview, status, rows FROM pipeline.refresh('deviceevents.mv_heartbeat');
SELECT matview, status, rows FROM pipeline.refresh('billingdb.mv_lifetime_value');
SELECT matview, status, rows FROM pipeline.refresh('zendesk.mv_satisfaction');

SELECT * FROM direct.comparison;
SELECT * FROM billingdb.mv_lifetime_value WHERE user_id IN (2, 12) ORDER BY user_id;
SELECT * FROM events.mv_engagement WHERE user_id IN (3, 11) ORDER BY user_id;

-- a change in one slice only: a cascade from its view reaches customer_health
UPDATE zendesk.tickets SET satisfaction_rating_score = satisfaction_rating_score + 1;
SELECT matview, differing > 0 AS stale FROM direct.comparison;
SELECT matview, status, rows FROM pipeline.refresh('zendesk.mv_satisfaction');
SELECT * FROM direct.comparison;

-- clean up
DROP SCHEMA direct CASCADE;
SELECT pipeline.drop_matview('webevents.mv_siteactivity', cascade => true);
SELECT pipeline.drop_matview('deviceevents.mv_heartbeat');
SELECT pipeline.drop_matview('billingdb.mv_lifetime_value');
SELECT pipeline.drop_matview('zendesk.mv_satisfaction');
SELECT count(*) AS views_left FROM pipeline.matviews;
SELECT count(*) AS edges_left FROM pipeline.edges;
DROP SCHEMA billingdb, zendesk, webevents, deviceevents, events CASCADE;
