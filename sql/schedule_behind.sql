-- A view whose upstream is behind the view's label runs the latest label
-- the upstream has succeeded for, never one it has not, also when the
-- upstream's last success is a label of the interval it had before a
-- redefinition (09:30 of a 30-minute view, redefined hourly: it serves the
-- hourly labels up to 09:00, not 10:00).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
SET pipeline.retry_backoff = 0;
SET pipeline.max_attempts = 1;

CREATE SCHEMA sb;
CREATE TABLE sb.flag (fail boolean);
INSERT INTO sb.flag VALUES (false);
CREATE TABLE sb.src (x int);
INSERT INTO sb.src VALUES (1);
CREATE FUNCTION sb.checked() RETURNS int LANGUAGE sql STABLE
    AS $$ SELECT 1 / CASE WHEN fail THEN 0 ELSE 1 END FROM sb.flag $$;
SELECT pipeline.create_matview('sb', 'up', 'SELECT x, sb.checked() AS ok FROM sb.src', '30 minutes');
SELECT pipeline.create_matview('sb', 'down', 'SELECT x FROM sb.mv_up', '1 hour');
SELECT * FROM pipeline.run_due('2026-01-01 09:00:00+00');
UPDATE sb.src SET x = 2;
SELECT * FROM pipeline.run_due('2026-01-01 09:30:00+00');
SELECT pipeline.create_matview('sb', 'up', 'SELECT x, sb.checked() AS ok FROM sb.src', '1 hour');
UPDATE sb.flag SET fail = true;
-- up fails 10:00; down stays at 09:00, blocked
SELECT * FROM pipeline.run_due('2026-01-01 10:05:00+00');
SELECT matview, time_label, status FROM pipeline.runs
 WHERE matview = 'sb.mv_down'::regclass ORDER BY time_label;
-- up recovers at 11:00: down runs 11:00
UPDATE sb.flag SET fail = false;
SELECT * FROM pipeline.run_due('2026-01-01 11:00:00+00');

SET client_min_messages = warning;
SELECT pipeline.drop_matview('sb.mv_up', cascade => true);
DROP SCHEMA sb CASCADE;
