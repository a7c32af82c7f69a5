-- The customer_health example of the Datacoral blog post (see README.md):
-- raw tables of four "slices" (billing, zendesk, web events, device
-- events) with a small deterministic data set, and the two 30-minute views
-- over the event streams that the seed's engagement query reads.  The four
-- views of the post itself are in demo/dpl/*.dpl.  The same tables and data
-- are read by the regression test sql/seed_customer_health.sql (\i), which
-- also checks every view against the raw tables.
--
-- Run it again to start over: it first drops the demo's managed views
-- (with every managed view that reads them) and its schemas.  One
-- transaction, so an error leaves things as they were; it sets no psql
-- variable and no setting beyond the transaction.
BEGIN;
SET LOCAL client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

-- the guard refuses DROP SCHEMA ... CASCADE over managed views: drop them
-- through the API first, each with its downstream views
DO $$
DECLARE
    v regclass;
BEGIN
    LOOP
        SELECT m.matview INTO v
          FROM pipeline.matviews m
         WHERE m.schema_name IN ('billingdb', 'zendesk', 'webevents', 'deviceevents', 'events')
            OR m.matview = to_regclass('public.mv_customer_health')
         LIMIT 1;
        EXIT WHEN v IS NULL;
        PERFORM pipeline.drop_matview(v, "cascade" => true);
    END LOOP;
END
$$;
DROP SCHEMA IF EXISTS billingdb, zendesk, webevents, deviceevents, events CASCADE;

CREATE SCHEMA billingdb;
CREATE SCHEMA zendesk;
CREATE SCHEMA webevents;
CREATE SCHEMA deviceevents;
CREATE SCHEMA events;

-- billing (MySQL, every 2 hours): amounts are text like '$12.34'
CREATE TABLE billingdb.orders (
    id         int PRIMARY KEY,
    user_id    int NOT NULL,
    amount     text NOT NULL,
    ordered_at timestamptz NOT NULL
);
CREATE TABLE billingdb.invoices (
    id        int PRIMARY KEY,
    user_id   int NOT NULL,
    status    text NOT NULL,
    issued_at timestamptz NOT NULL
);
-- zendesk (every hour)
CREATE TABLE zendesk.tickets (
    id                        int PRIMARY KEY,
    requester_id              int NOT NULL,
    satisfaction_rating_score int,
    created_at                timestamptz NOT NULL
);
CREATE TABLE zendesk.ticket_metrics (
    id                                         int PRIMARY KEY,
    ticket_id                                  int NOT NULL,
    full_resolution_time_in_minutes_business   int,
    first_resolution_time_in_minutes_business  int
);
-- web and device events (every 30 minutes)
CREATE TABLE webevents.pageviews (
    id        int PRIMARY KEY,
    user_id   int,
    url       text NOT NULL,
    eventtime timestamptz NOT NULL
);
CREATE TABLE deviceevents.events (
    id        int PRIMARY KEY,
    device_id text NOT NULL,
    user_id   int NOT NULL,
    kind      text NOT NULL,
    eventtime timestamptz NOT NULL
);

INSERT INTO billingdb.orders
SELECT g, g % 11 + 1,
       '$' || (g * 37 % 200 + 5) || '.' || lpad((g * 13 % 100)::text, 2, '0'),
       timestamptz '2026-11-01 00:00+00' + g * interval '1 hour'
  FROM generate_series(1, 60) g;
INSERT INTO billingdb.invoices
SELECT g, g % 12 + 1,
       (ARRAY['Pending', 'Paid', 'Overdue'])[g % 3 + 1],
       timestamptz '2026-11-01 00:00+00' + g * interval '2 hours'
  FROM generate_series(1, 36) g;
INSERT INTO zendesk.tickets
SELECT g, g % 10 + 1, CASE WHEN g % 7 = 0 THEN NULL ELSE g % 5 + 1 END,
       timestamptz '2026-11-01 00:00+00' + g * interval '90 minutes'
  FROM generate_series(1, 24) g;
INSERT INTO zendesk.ticket_metrics
SELECT 100 + g, g, g * 30 % 500, g * 11 % 120
  FROM generate_series(1, 22) g;          -- tickets 23 and 24 have no metrics yet
INSERT INTO webevents.pageviews
SELECT g, CASE WHEN g % 17 = 0 THEN NULL ELSE g % 12 + 1 END, '/page/' || g % 9,
       timestamptz '2026-11-01 00:00+00' + g * interval '7 minutes'
  FROM generate_series(1, 200) g;
INSERT INTO deviceevents.events
SELECT g, 'dev-' || g % 15, g % 9 + 2, CASE WHEN g % 10 = 0 THEN 'crash' ELSE 'heartbeat' END,
       timestamptz '2026-11-01 00:00+00' + g * interval '11 minutes'
  FROM generate_series(1, 150) g;

-- the two views the seed's engagement query reads (in a DO block, so
-- loading the file prints nothing)
DO $do$
BEGIN
PERFORM pipeline.define($dpl$
/**
 * @datacoral O-1.0.0
 * @matview-schema webevents
 * @matview-name siteactivity
 * @matview-type regular
 * @interval-in-minutes 30
 */

SELECT
      p.user_id,
      p.url,
      p.eventtime
FROM
      webevents.pageviews p
WHERE
      p.user_id IS NOT NULL;
$dpl$);
PERFORM pipeline.define($dpl$
/**
 * @datacoral O-1.0.0
 * @matview-schema deviceevents
 * @matview-name heartbeat
 * @matview-type regular
 * @interval-in-minutes 30
 */

SELECT
      e.device_id,
      e.user_id,
      e.eventtime
FROM
      deviceevents.events e
WHERE
      e.kind = 'heartbeat';
$dpl$);
END
$do$;
COMMIT;
