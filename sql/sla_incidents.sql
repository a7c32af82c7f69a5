-- An SLA incident closes when the view is fresh again, and also when its
-- SLA goes: a redefinition without @freshness-sla-minutes closes the open
-- one with sla_recovered at the next check (it stayed open for good).
-- And the alert endpoint's URL is not shown to every role.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

CREATE SCHEMA sla;
CREATE TABLE sla.flag (fail boolean);
INSERT INTO sla.flag VALUES (false);
CREATE FUNCTION sla.checked(x int) RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT fail FROM sla.flag) THEN
        RAISE EXCEPTION 'source not ready';
    END IF;
    RETURN x;
END $$;
CREATE TABLE sla.src (x int);
INSERT INTO sla.src VALUES (1);
SELECT pipeline.create_matview('sla', 'late', 'SELECT sla.checked(x) AS x FROM sla.src, sla.flag', '1 hour',
                               refresh_mode => 'full', options => '{"freshness-sla-minutes": "60"}');
SELECT * FROM pipeline.run_due('2030-01-01 10:00+00');
UPDATE sla.flag SET fail = true;
SELECT * FROM pipeline.run_due('2030-01-01 12:01+00');
SELECT kind, time_label FROM pipeline.alerts ORDER BY alert_id;
SELECT sla_minutes, sla_breached FROM pipeline.status WHERE matview = 'sla.mv_late'::regclass;

-- redefined without the SLA (its first contents built while the source
-- is ready): the breach is over, though its next run fails again
UPDATE sla.flag SET fail = false;
SELECT pipeline.create_matview('sla', 'late', 'SELECT sla.checked(x) AS x FROM sla.src, sla.flag', '1 hour',
                               refresh_mode => 'full');
UPDATE sla.flag SET fail = true;
SELECT * FROM pipeline.run_due('2030-01-01 13:01+00');
SELECT kind, time_label FROM pipeline.alerts ORDER BY alert_id;
SELECT kind, closed_at IS NOT NULL AS closed FROM pipeline.incidents ORDER BY incident_id;
SELECT sla_minutes, sla_breached FROM pipeline.status WHERE matview = 'sla.mv_late'::regclass;

SELECT pipeline.drop_matview('sla.mv_late');
DROP SCHEMA sla CASCADE;
DELETE FROM pipeline.alerts;
DELETE FROM pipeline.incidents;

-- the endpoint's URL (a webhook's secret) is shown to superusers only
SET pipeline.alert_endpoint = 'https://alerts:hunter2@hooks.example.com/pipeline';
CREATE ROLE sla_reader;
SET ROLE sla_reader;
SHOW pipeline.alert_endpoint;
SELECT count(*) AS listed FROM pg_settings WHERE name = 'pipeline.alert_endpoint';
RESET ROLE;
DROP ROLE sla_reader;
RESET pipeline.alert_endpoint;
