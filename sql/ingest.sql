SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

-- a transactions table fed by a message stream
CREATE TABLE transactions (id bigint NOT NULL, account text, amount numeric(10,2) CHECK (amount >= 0),
                           at timestamptz);
SELECT * FROM pipeline.ingest('transactions', '[
  {"dedup_id": "m1", "id": 1, "account": "a", "amount": 10.5, "at": "2024-01-01 10:00:00+00"},
  {"dedup_id": "m2", "id": 2, "account": "b", "amount": 3},
  {"dedup_id": "m1", "id": 1, "account": "a", "amount": 10.5, "at": "2024-01-01 10:00:00+00"},
  {"dedup_id": "m3", "id": 3, "account": "c", "amount": 1, "extra": "ignored"}
]');
-- m1 and m2 again are duplicates; the rest are validated
SELECT * FROM pipeline.ingest('transactions', '[
  {"dedup_id": "m2", "id": 2, "account": "b", "amount": 3},
  {"dedup_id": "m1", "id": 99},
  {"dedup_id": "m4", "id": "four", "amount": 4},
  {"dedup_id": "m5", "id": 5, "amount": 5, "at": "not a time"},
  {"dedup_id": "m6", "id": 6, "amount": -1},
  {"dedup_id": "m7", "amount": 7},
  {"dedup_id": "m8", "id": 8, "amount": 8},
  "just a string",
  {"id": 9, "amount": 9},
  {"dedup_id": null, "id": 10}
]');
SELECT id, account, amount, at FROM transactions ORDER BY id;
SELECT message, error FROM pipeline.rejected WHERE target = 'transactions'::regclass
 ORDER BY message::text;
SELECT dedup_id FROM pipeline.ingested WHERE target = 'transactions'::regclass ORDER BY dedup_id;
-- a rejected message claims nothing: its corrected resend is accepted
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "m4", "id": 4, "amount": 4}]');
-- in one batch too: a repeat of an id whose earlier messages were all
-- rejected is tried (and marks those rejections accepted); a repeat of an
-- accepted id is a duplicate
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "b1", "id": "y"},
  {"dedup_id": "b1", "id": "z"}, {"dedup_id": "b1", "id": 21}, {"dedup_id": "b1", "id": 22},
  {"dedup_id": "b2", "id": 23}, {"dedup_id": "b2", "id": "w"}]');
SELECT id FROM transactions WHERE id > 20 ORDER BY id;
SELECT message->>'id' AS id, dedup_id, accepted_at IS NOT NULL AS accepted
  FROM pipeline.rejected WHERE dedup_id IN ('b1', 'b2') ORDER BY 1;
-- ids are remembered per target
CREATE TABLE transactions_copy (LIKE transactions);
SELECT * FROM pipeline.ingest('transactions_copy', '[{"dedup_id": "m1", "id": 1, "amount": 1}]');
-- another dedup key; an empty batch
SELECT * FROM pipeline.ingest('transactions_copy', '[{"MessageDeduplicationId": "x", "id": 11}]',
                              dedup_key => 'MessageDeduplicationId');
SELECT * FROM pipeline.ingest('transactions_copy', '[]');
-- a rolled back ingest is forgotten
BEGIN;
SELECT * FROM pipeline.ingest('transactions_copy', '[{"dedup_id": "r1", "id": 12}]');
ROLLBACK;
SELECT * FROM pipeline.ingest('transactions_copy', '[{"dedup_id": "r1", "id": 12}]');
SELECT id FROM transactions_copy ORDER BY id;

-- errors, each leaving nothing behind
CREATE FUNCTION ingest_state() RETURNS text LANGUAGE sql AS
$$ SELECT (SELECT count(*) FROM transactions) || ' rows, ' ||
          (SELECT count(*) FROM pipeline.ingested) || ' ids, ' ||
          (SELECT count(*) FROM pipeline.rejected) || ' rejected' $$;
SELECT ingest_state() AS before;
SELECT * FROM pipeline.ingest('transactions', '{"dedup_id": "m9", "id": 9}');
SELECT * FROM pipeline.ingest('transactions', '"m9"');
SELECT * FROM pipeline.ingest('transactions', NULL);
SELECT * FROM pipeline.ingest(NULL, '[]');
SELECT * FROM pipeline.ingest('transactions', '[]', NULL);
CREATE VIEW transactions_view AS SELECT * FROM transactions;
SELECT * FROM pipeline.ingest('transactions_view', '[{"dedup_id": "v1", "id": 1}]');
SELECT * FROM pipeline.ingest('no_such_table', '[]');

-- privileges: the caller needs INSERT on the target; pipeline's tables are
-- written only through ingest() and readable by the target's readers
CREATE ROLE ingest_user;
GRANT USAGE ON SCHEMA public TO ingest_user;
SET ROLE ingest_user;
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "p1", "id": 1}]');
SELECT count(*) AS visible_rejected FROM pipeline.rejected;
SELECT count(*) AS visible_ids FROM pipeline.ingested;
INSERT INTO pipeline.ingested VALUES ('transactions', 'forged');
DELETE FROM pipeline.rejected;
RESET ROLE;
SELECT ingest_state() AS after_errors;
-- INSERT on some columns is enough for messages naming only those, as for
-- a plain INSERT; a message naming another column fails the call (a
-- missing privilege, not a bad message)
GRANT INSERT (id, amount) ON transactions TO ingest_user;
SET ROLE ingest_user;
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "c1", "id": 41, "amount": 4}]');
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "c2", "id": 42, "account": "x"}]');
RESET ROLE;
REVOKE INSERT (id, amount) ON transactions FROM ingest_user;
SELECT id, account, amount FROM transactions WHERE id IN (41, 42);
DELETE FROM transactions WHERE id = 41;
DELETE FROM pipeline.ingested WHERE dedup_id = 'c1';
SELECT ingest_state() AS after_columns;
GRANT INSERT, SELECT ON transactions TO ingest_user;
SET ROLE ingest_user;
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "p1", "id": 21, "amount": 1}, {"dedup_id": "p2", "id": "x"}]');
SELECT count(*) AS visible_rejected FROM pipeline.rejected;
SELECT count(*) AS visible_ids FROM pipeline.ingested;
RESET ROLE;
SELECT ingest_state() AS after_user;

-- a rejection keeps its dedup id; a corrected resend with that id is
-- accepted and marks the rejection accepted
DELETE FROM pipeline.rejected;
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "fix1", "id": "bad"}, {"id": 5}]');
SELECT dedup_id, error, accepted_at IS NULL AS open FROM pipeline.rejected ORDER BY dedup_id;
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "fix1", "id": 31, "amount": 3}]');
SELECT dedup_id, accepted_at IS NULL AS open,
       accepted_at >= rejected_at AS accepted_after FROM pipeline.rejected ORDER BY dedup_id;
-- a duplicate of an accepted id changes nothing
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "fix1", "id": "bad again"}]');
SELECT count(*) AS rejections FROM pipeline.rejected;

-- pipeline.ingested_retention: the next ingest into the target forgets ids
-- older than it, and only those; a forgotten id is accepted again
SET pipeline.ingested_retention = '1h';
UPDATE pipeline.ingested SET ingested_at = now() - interval '2 hours' WHERE dedup_id IN ('p1', 'p2');
UPDATE pipeline.ingested SET ingested_at = now() - interval '59 minutes' WHERE dedup_id = 'fix1';
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "fix1", "id": 32}, {"dedup_id": "p1", "id": 33}]');
SELECT dedup_id FROM pipeline.ingested WHERE target = 'transactions'::regclass
   AND dedup_id IN ('p1', 'p2', 'fix1') ORDER BY 1;
RESET pipeline.ingested_retention;

-- pipeline.rejected_retention: the next ingest into the target forgets its
-- rejections older than it, and only those; another target's stay, and so
-- do rows a quarantining view set aside (they have a source)
SELECT * FROM pipeline.ingest('transactions', '[{"dedup_id": "old1", "id": "bad"}, {"dedup_id": "new1", "id": "bad"}]');
SELECT * FROM pipeline.ingest('transactions_copy', '[{"dedup_id": "other1", "id": "bad"}]');
INSERT INTO pipeline.rejected (target, message, error, rejected_at, source)
VALUES ('transactions', '{"id": 1}', 'set aside', now() - interval '2 days', 'transactions_copy');
UPDATE pipeline.rejected SET rejected_at = now() - interval '2 days' WHERE dedup_id IN ('old1', 'other1');
UPDATE pipeline.rejected SET rejected_at = now() - interval '23 hours' WHERE dedup_id = 'new1';
SET pipeline.rejected_retention = '1d';
SELECT * FROM pipeline.ingest('transactions', '[]');
SELECT target, coalesce(dedup_id, error) AS kept FROM pipeline.rejected
 WHERE dedup_id IN ('old1', 'new1', 'other1') OR source IS NOT NULL ORDER BY 1, 2;
RESET pipeline.rejected_retention;
DELETE FROM pipeline.rejected WHERE source IS NOT NULL;

-- a field a message leaves out takes its column's default (a serial, an
-- identity, now()), as in an INSERT naming only the fields given; a field
-- given as null is null; an identity GENERATED ALWAYS is always generated
-- (a message's value for it is ignored, as a key that is no column is);
-- messages of different shapes go in the order they came
CREATE TABLE pageviews (id bigserial PRIMARY KEY, url text NOT NULL,
                        n int GENERATED BY DEFAULT AS IDENTITY,
                        seq int GENERATED ALWAYS AS IDENTITY,
                        region text DEFAULT 'eu', seen_at timestamptz NOT NULL DEFAULT now(),
                        url_length int GENERATED ALWAYS AS (length(url)) STORED);
SELECT * FROM pipeline.ingest('pageviews', '[
  {"dedup_id": "v1", "url": "/a"},
  {"dedup_id": "v2", "url": "/b", "region": null},
  {"dedup_id": "v3", "url": "/c", "id": 100, "n": 7, "seq": 99, "region": "us"},
  {"dedup_id": "v4", "url": "/d"}]');
-- a message whose missing field has no default is rejected as before
SELECT * FROM pipeline.ingest('pageviews', '[{"dedup_id": "v5"}]');
SELECT id, url, n, seq, region, seen_at > now() - interval '1 hour' AS seen_default, url_length
  FROM pageviews ORDER BY seq;
SELECT dedup_id, error FROM pipeline.rejected WHERE target = 'pageviews'::regclass;
DROP TABLE pageviews;

-- bad messages in a large batch are found by runs that grow while they
-- pass and shrink when they fail: 2,000 messages, two
-- of them bad, take a few dozen transaction ids, not one per message, and
-- the outcome is that of one message at a time (the bad ones rejected,
-- every other accepted, a repeat of a rejected id tried in its place)
CREATE TABLE halves (id int PRIMARY KEY, v int CHECK (v >= 0));
SELECT pg_current_xact_id()::text::bigint AS xid_before \gset
SELECT * FROM pipeline.ingest('halves',
  (SELECT jsonb_agg(jsonb_build_object('dedup_id', 'h' || g, 'id', g, 'v', CASE WHEN g IN (77, 1500) THEN -1 ELSE g END))
     FROM generate_series(1, 2000) g)
  || '[{"dedup_id": "h77", "id": 77, "v": 77}, {"dedup_id": "h5", "id": 5, "v": 5}]');
SELECT pg_current_xact_id()::text::bigint - :xid_before < 100 AS few_xids;
SELECT count(*), sum(v) = (SELECT sum(g) FROM generate_series(1, 2000) g WHERE g <> 1500) AS sums FROM halves;
SELECT dedup_id, error FROM pipeline.rejected WHERE target = 'halves'::regclass ORDER BY dedup_id;
-- a repeat of a rejected id is tried in its id's place, before higher ids
-- (which it may collide with), as one message at a time would
CREATE TABLE repeats (d text PRIMARY KEY, u int UNIQUE, v int CHECK (v >= 0));
SELECT * FROM pipeline.ingest('repeats', '[
  {"dedup_id": "a", "d": "a", "u": 1, "v": -1},
  {"dedup_id": "b", "d": "b", "u": 5, "v": 1},
  {"dedup_id": "a", "d": "a", "u": 5, "v": 1}]');
SELECT * FROM repeats ORDER BY d;
SELECT dedup_id, error FROM pipeline.rejected WHERE target = 'repeats'::regclass ORDER BY dedup_id, error;
DROP TABLE repeats;
-- and a batch of bad messages only costs about one transaction id each,
-- as one message at a time did
SELECT pg_current_xact_id()::text::bigint AS xid_before \gset
SELECT * FROM pipeline.ingest('halves',
  (SELECT jsonb_agg(jsonb_build_object('dedup_id', 'bad' || g, 'id', g, 'v', -1)) FROM generate_series(1, 200) g));
SELECT pg_current_xact_id()::text::bigint - :xid_before < 240 AS about_one_xid_each;
DROP TABLE halves;

-- pipeline's own tables are no target, not even for a superuser: nothing
-- changes
SELECT count(*) AS before FROM pipeline.ingested;
SELECT * FROM pipeline.ingest('pipeline.ingested', '[{"target": "pageviews", "dedup_id": "forged"}]');
SELECT * FROM pipeline.ingest('pipeline.matview_definitions', '[{"name": "forged"}]');
SELECT count(*) AS after FROM pipeline.ingested;
-- nor is a managed view, written only by its refresh: refused before any
-- message is rejected against it
CREATE TABLE ingest_src (a int);
SELECT pipeline.create_matview('public', 'ingest_view', 'SELECT a FROM public.ingest_src', '1 hour',
                               refresh_mode => 'differential');
SELECT * FROM pipeline.ingest('public.mv_ingest_view', '[{"a": 1}]');
SELECT * FROM pipeline.ingest('public.mv_ingest_view', '[{"a": 1, "dedup_id": "x"}]', 'dedup_id');
SELECT count(*) AS rejected_against_it FROM pipeline.rejected WHERE target = 'public.mv_ingest_view'::regclass;
SELECT pipeline.drop_matview('public.mv_ingest_view');
DROP TABLE ingest_src;

-- an id is a string or a number, compared as text (1 and "1" are one id);
-- an object, an array or a boolean is no id: the message is rejected
CREATE TABLE id_kinds (n int);
SELECT * FROM pipeline.ingest('id_kinds', '[{"dedup_id": 1, "n": 1}, {"dedup_id": "1", "n": 2},
  {"dedup_id": {"k": 1}, "n": 3}, {"dedup_id": [1], "n": 4}, {"dedup_id": true, "n": 5}]');
SELECT n FROM id_kinds ORDER BY n;
SELECT message->>'n' AS n, error FROM pipeline.rejected WHERE target = 'id_kinds'::regclass ORDER BY 1;
DROP TABLE id_kinds;

DROP VIEW transactions_view;
DROP FUNCTION ingest_state();
DROP TABLE transactions, transactions_copy;
DELETE FROM pipeline.ingested;
DELETE FROM pipeline.rejected;
REVOKE ALL ON SCHEMA public FROM ingest_user;
DROP ROLE ingest_user;
