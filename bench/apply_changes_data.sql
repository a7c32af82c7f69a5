-- bench/apply_changes_data.sql: the change data of bench/apply_changes and
-- bench/callgrind_apply_changes (psql -v rows=N): target_base, N rows;
-- changes_base, N changes (70% updates, 20% inserts, 10% deletes, 5% of the
-- changes repeat a key, arrival order not sequence order); changes2_base, a
-- second batch, all newer, that re-inserts batch 1's deleted keys.
SELECT setseed(0.42);
CREATE TABLE target_base (id bigint, user_id bigint, price numeric(10,2), no_items int,
                          checked_out boolean, update_date text, seq bigint);
INSERT INTO target_base
SELECT g, g % 5000, (g % 10000) / 100.0, g % 7, g % 3 = 0, 'd' || g, 0
  FROM generate_series(1, :rows) g;
-- 95% distinct keys: 70/95 updates, 20/95 inserts, 10/95 deletes of the mix;
-- the last 5% repeat a key of an earlier change, with a later or earlier seq
CREATE TABLE changes_base AS
WITH base AS (
  SELECT g, random() AS r FROM generate_series(1, (:rows * 95) / 100) g
), c AS (
  SELECT g,
         CASE WHEN r < 0.70 THEN 'U' WHEN r < 0.90 THEN 'I' ELSE 'D' END AS op,
         CASE WHEN r < 0.70 OR r >= 0.90 THEN ((g::bigint * 7919) % :rows) + 1
              ELSE :rows + g END AS id
    FROM base
)
SELECT id,
       CASE WHEN op = 'D' THEN NULL ELSE (g * 31) % 5000 END AS user_id,
       CASE WHEN op = 'D' THEN NULL ELSE ((g * 17) % 10000) / 100.0 END::numeric(10,2) AS price,
       CASE WHEN op = 'D' THEN NULL ELSE g % 11 END AS no_items,
       CASE WHEN op = 'D' THEN NULL ELSE g % 2 = 0 END AS checked_out,
       CASE WHEN op = 'D' THEN NULL ELSE 'c' || g END AS update_date,
       (g * 2)::bigint AS seq, op
  FROM c;
INSERT INTO changes_base
SELECT id, CASE WHEN op2 = 'D' THEN NULL ELSE user_id + 1 END, CASE WHEN op2 = 'D' THEN NULL ELSE coalesce(price, 1) END,
       CASE WHEN op2 = 'D' THEN NULL ELSE 99 END, CASE WHEN op2 = 'D' THEN NULL ELSE true END,
       CASE WHEN op2 = 'D' THEN NULL ELSE 'dup' || id END,
       CASE WHEN random() < 0.5 THEN seq + 1 ELSE seq - 1 END, op2
  FROM (SELECT *, CASE WHEN random() < 0.8 THEN 'U' ELSE 'D' END AS op2
          FROM changes_base ORDER BY random() LIMIT :rows - (:rows * 95) / 100) d;
-- arrival order is not sequence order
CREATE TABLE changes_shuffled AS SELECT * FROM changes_base ORDER BY random();
DROP TABLE changes_base;
ALTER TABLE changes_shuffled RENAME TO changes_base;
-- the second batch, all newer than the first: its deletes re-insert their
-- keys (which pipeline has remembered as deleted), and a tenth of its
-- updates delete instead
CREATE TABLE changes2_base AS
SELECT id, coalesce(user_id, id % 5000) AS user_id, coalesce(price, 1) AS price,
       coalesce(no_items, 1) AS no_items, coalesce(checked_out, false) AS checked_out,
       coalesce(update_date, 'r' || id) AS update_date, seq + 3 * :rows AS seq,
       CASE WHEN op = 'D' THEN 'I' WHEN op = 'U' AND id % 10 = 0 THEN 'D' ELSE op END AS op
  FROM changes_base;
