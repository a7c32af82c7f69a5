SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

-- Randomized check of apply_changes against an independent computation in
-- plain SQL: 6,000 I/U/D changes on 400 keys, with sequences out of order
-- across 6 batches, 5% redelivered (identical) changes, and a third of the
-- deletes carrying only the key (a NULL sequence).  The model keeps its own
-- deleted-key memory: a change that would insert an absent key is applied
-- only if it is newer than the key's remembered delete.
\set seed 0.4242
SELECT setseed(:seed), :seed AS seed;
CREATE TABLE rand_changes_all AS
SELECT g AS n, 1 + floor(random() * 400)::int AS k,
       (random() * 1000)::int AS payload, md5(random()::text) AS label,
       CASE WHEN r < 0.3 THEN 'I' WHEN r < 0.8 THEN 'U' ELSE 'D' END AS op,
       floor(random() * 6)::int AS batch
  FROM (SELECT g, random() AS r FROM generate_series(1, 6000) g) x;
-- unique sequence numbers in an order unrelated to arrival and batch
ALTER TABLE rand_changes_all ADD COLUMN seq bigint;
UPDATE rand_changes_all c SET seq = p.seq
  FROM (SELECT n, row_number() OVER (ORDER BY random()) * 10 AS seq FROM rand_changes_all) p
 WHERE p.n = c.n;
-- a third of the deletes carry only the key
UPDATE rand_changes_all SET seq = NULL WHERE op = 'D' AND random() < 0.33;
-- 5% redelivered, identical, sometimes in another batch
INSERT INTO rand_changes_all
SELECT n + 100000, k, payload, label, op, CASE WHEN random() < 0.5 THEN batch ELSE floor(random() * 6)::int END, seq
  FROM rand_changes_all ORDER BY random() LIMIT 300;
SELECT count(*) AS changes, count(DISTINCT k) AS keys, count(DISTINCT batch) AS batches,
       count(*) FILTER (WHERE seq IS NULL) > 100 AS many_null_sequence_deletes
  FROM rand_changes_all;

CREATE TABLE rand_target (k int PRIMARY KEY, payload int, label text, seq bigint);
CREATE TABLE rand_expected (k int PRIMARY KEY, payload int, label text, seq bigint);
CREATE TABLE rand_deleted (k int PRIMARY KEY, seq bigint NOT NULL);
INSERT INTO rand_target SELECT k, -1, 'initial', 0 FROM generate_series(1, 400, 3) k;
INSERT INTO rand_expected SELECT * FROM rand_target;
CREATE TABLE rand_changes (k int, payload int, label text, seq bigint, op text);
CREATE TABLE rand_counts (batch int, inserted bigint, updated bigint, deleted bigint,
                          exp_inserted bigint, exp_updated bigint, exp_deleted bigint,
                          kept_out bigint);

DO $$
DECLARE
    b int;
    got record;
    ins bigint;
    upd bigint;
    del bigint;
    kept bigint;
BEGIN
    FOR b IN 0..5 LOOP
        INSERT INTO rand_changes
        SELECT k, CASE WHEN op = 'D' THEN NULL ELSE payload END,
               CASE WHEN op = 'D' THEN NULL ELSE label END, seq, op
          FROM rand_changes_all WHERE batch = b ORDER BY random();
        SELECT * INTO got FROM pipeline.apply_changes('rand_changes', 'rand_target', '{k}', 'seq');

        -- the same batch, by hand: the latest change per key by row_number
        -- (a NULL sequence is the latest), then delete / update / insert,
        -- never letting an older change win over a row or a remembered delete
        CREATE TEMP TABLE latest AS
        SELECT k, payload, label, seq, op, newest_seq FROM (
            SELECT *, row_number() OVER (PARTITION BY k ORDER BY seq DESC NULLS FIRST) AS rn,
                   max(seq) OVER (PARTITION BY k) AS newest_seq
              FROM rand_changes_all WHERE batch = b) x
         WHERE rn = 1;
        CREATE TEMP TABLE gone AS
        WITH d AS (
            DELETE FROM rand_expected e USING latest l
             WHERE e.k = l.k AND l.op = 'D' AND (l.seq IS NULL OR e.seq <= l.seq)
            RETURNING e.k, e.seq)
        SELECT * FROM d;
        GET DIAGNOSTICS del = ROW_COUNT;
        UPDATE rand_expected e SET payload = l.payload, label = l.label, seq = l.seq
          FROM latest l WHERE e.k = l.k AND l.op <> 'D' AND e.seq <= l.seq;
        GET DIAGNOSTICS upd = ROW_COUNT;
        SELECT count(*) INTO kept FROM latest l
         WHERE l.op <> 'D' AND NOT EXISTS (SELECT FROM rand_expected e WHERE e.k = l.k)
           AND EXISTS (SELECT FROM rand_deleted r WHERE r.k = l.k AND r.seq >= l.seq);
        INSERT INTO rand_expected
        SELECT k, payload, label, seq FROM latest l
         WHERE l.op <> 'D' AND NOT EXISTS (SELECT FROM rand_expected e WHERE e.k = l.k)
           AND NOT EXISTS (SELECT FROM rand_deleted r WHERE r.k = l.k AND r.seq >= l.seq);
        GET DIAGNOSTICS ins = ROW_COUNT;
        -- remember every winning delete: its sequence, or for a NULL one
        -- the newest known (the key's other changes, the row it deleted)
        INSERT INTO rand_deleted
        SELECT l.k, coalesce(l.seq, greatest(l.newest_seq, g.seq)) FROM latest l
          LEFT JOIN gone g ON g.k = l.k
         WHERE l.op = 'D' AND coalesce(l.seq, greatest(l.newest_seq, g.seq)) IS NOT NULL
        ON CONFLICT (k) DO UPDATE SET seq = greatest(rand_deleted.seq, excluded.seq);
        DROP TABLE latest, gone;
        INSERT INTO rand_counts VALUES (b, got.inserted, got.updated, got.deleted, ins, upd, del, kept);
    END LOOP;
END
$$;

-- every batch counted as computed by hand; the change table emptied each time
SELECT batch, inserted = exp_inserted AND updated = exp_updated AND deleted = exp_deleted AS counts_match,
       inserted + updated + deleted > 0 AS did_something
  FROM rand_counts ORDER BY batch;
SELECT count(*) AS left_in_changes FROM rand_changes;
-- the mirror equals the independent answer, row for row
SELECT count(*) AS target_rows, (SELECT count(*) FROM rand_expected) AS expected_rows FROM rand_target;
SELECT count(*) AS differences FROM (
    (TABLE rand_target EXCEPT TABLE rand_expected)
    UNION ALL
    (TABLE rand_expected EXCEPT TABLE rand_target)) d;
-- and the remembered deletes equal the model's
SELECT count(*) > 0 AS keys_remembered FROM pipeline.deleted_keys WHERE target = 'rand_target'::regclass;
SELECT count(*) AS memory_differences FROM (
    (SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'rand_target'::regclass
     EXCEPT SELECT k::text, seq::text FROM rand_deleted)
    UNION ALL
    (SELECT k::text, seq::text FROM rand_deleted
     EXCEPT SELECT key, sequence FROM pipeline.deleted_keys WHERE target = 'rand_target'::regclass)) d;
-- out-of-order batches really happened: some change lost to a newer row,
-- and some would have brought a deleted row back
SELECT count(*) > 0 AS some_older_changes_ignored
  FROM rand_changes_all c JOIN rand_changes_all n ON n.k = c.k AND n.batch < c.batch AND n.seq > c.seq;
SELECT sum(kept_out) > 0 AS some_deleted_rows_not_resurrected FROM rand_counts;

DROP TABLE rand_changes_all, rand_target, rand_expected, rand_deleted, rand_changes, rand_counts;
SELECT count(*) AS keys_of_dropped_target FROM pipeline.deleted_keys;
