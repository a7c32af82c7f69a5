-- min() and max() of differential views keep each group's best values
-- (1.7, src/views/diff_extremes.c): deleting the extreme moves to the next
-- one kept instead of reading the sources; when every kept value is gone
-- the next ones are read.  The rule itself, the aggregate that fills a
-- state, then views compared with their full recompute after every refresh.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;

-- the rule: kept values best first, how many values the group had, deleted
-- values and how many rows each, the best inserted value, how many values
-- the group has now, max (true) or min (false)
SELECT pipeline.extremes_after('{1,3,5}'::int[], 10, NULL, NULL, NULL::int, 10, false) AS unchanged,
       pipeline.extremes_after('{1,3,5}'::int[], 10, NULL, NULL, 9, 12, false) AS worse_insert,
       pipeline.extremes_after('{1,3,5}'::int[], 10, NULL, NULL, 2, 12, false) AS better_insert,
       pipeline.extremes_after('{1,3,5}'::int[], 10, NULL, NULL, 5, 12, false) AS equal_to_last,
       pipeline.extremes_after('{1,3,5}'::int[], 10, '{1}', '{1}', NULL::int, 9, false) AS min_deleted,
       pipeline.extremes_after('{1,3,5}'::int[], 10, '{9}', '{1}', NULL::int, 9, false) AS other_deleted,
       pipeline.extremes_after('{1,3,5}'::int[], 10, '{2}', '{1}', NULL::int, 9, false) AS unknown_deleted;
SELECT pipeline.extremes_after('{1,1,3}'::int[], 10, '{1}', '{2}', NULL::int, 8, false) AS two_rows,
       pipeline.extremes_after('{1,3}'::int[], 10, '{1,3}', '{1,1}', 7, 10, false) AS all_kept_went,
       pipeline.extremes_after('{1,3}'::int[], 2, '{1,3}', '{1,1}', 7, 1, false) AS all_went_unknown,
       pipeline.extremes_after(NULL::int[], 0, NULL, NULL, 4, 2, false) AS first_value,
       pipeline.extremes_after(NULL::int[], 0, '{4}', '{1}', 4, 1, false) AS came_and_went,
       pipeline.extremes_after(NULL::int[], 5, NULL, NULL, 4, 7, false) AS unknown_stays;
SELECT pipeline.extremes_after('{9,7,5}'::int[], 10, '{9}', '{1}', 8, 11, true) AS max_side,
       pipeline.extremes_after('{9,7,5}'::int[], 10, '{9}', '{1}', 8, 10, true) AS max_side_one_came,
       pipeline.extremes_after('{1,2,3,4,5,6,7,8}'::int[], 20, NULL, NULL, 0, 22, false) AS two_came,
       pipeline.extremes_after('{1,2,3,4,5,6,7,8}'::int[], 20, NULL, NULL, 0, 21, false) AS one_came_eight_kept,
       pipeline.extremes_after('{1,3,5}'::int[], 20, NULL, NULL, 9, 21, false) AS one_worse_came,
       pipeline.extremes_after('{b,c}'::text[] COLLATE "C", 5, NULL, NULL, 'B' COLLATE "C", 7, false) AS c_collation;

-- called by hand with odd arguments: an answer or a clear error, no crash
SELECT pipeline.extremes_after('{{1,2},{3,4}}'::int[], 4, NULL, NULL, 0, 5, false) AS two_dimensions,
       pipeline.extremes_after('{1,2}'::int[], 4, '{1}', '{9223372036854775807}', 0, -9223372036854775807, false) AS huge_counts,
       pipeline.extremes_after('{1,2}'::int[], 4, '{1,2}', '{-1,0}', NULL, 4, false) AS negative_counts;
SELECT pipeline.extremes_after('{1}'::int[], 4, '{1}', '{1,1}', 0, 5, false);
SELECT pipeline.extremes_after(ARRAY['<a/>'::xml], 1, NULL, NULL, '<b/>'::xml, 2, false);

-- 1.9: the best values of the rows that came, merged; kept as far as both
-- lists are known to hold every value before (all that came: as many
-- values as rows came)
SELECT pipeline.extremes_merged('{1,3,5}'::int[], 10, NULL, NULL, '{2,4,9}'::int[], 13, false) AS all_came_known,
       pipeline.extremes_merged('{1,3,5}'::int[], 10, NULL, NULL, '{2,4}'::int[], 15, false) AS more_came,
       pipeline.extremes_merged('{1,3,5}'::int[], 10, NULL, NULL, '{7,8}'::int[], 12, false) AS all_worse,
       pipeline.extremes_merged('{1,2,3,4,5,6,7,8}'::int[], 20, NULL, NULL, '{0,0,4}'::int[], 23, false) AS eight_at_most,
       pipeline.extremes_merged(NULL::int[], 0, NULL, NULL, '{4,6}'::int[], 2, false) AS first_values,
       pipeline.extremes_merged('{9,7,5}'::int[], 10, '{9}', '{1}', '{8,6}'::int[], 11, true) AS max_side;
-- asked again with the same arguments, or with other deletes: each its own answer
SELECT pipeline.extremes_merged('{1,3,5}'::int[], 10, v.gone, '{1}', '{4}'::int[], 10, false) AS after_delete
  FROM (VALUES ('{1}'::int[]), ('{1}'), ('{3}'), ('{2}'), ('{3}'), ('{1}')) v(gone);
-- an answer of kept values left as they were is remembered as such: asked
-- again with other kept values, it gives those
SELECT pipeline.extremes_merged(v.kept, 10, '{9}', '{1}', '{8}'::int[], 10, false) AS kept_as_given
  FROM (VALUES ('{1,3,5}'::int[]), ('{1,3,5}'), ('{2,4,6}'), ('{1,3,5}'), ('{2,4,6}')) v(kept);
-- a deleted value better than the last kept and not kept came and went
-- inside the window (a view reading its changes as logged sees both): taken
-- from the inserted values; unknown when it is not among them, or when
-- others came and none is left to bound them
SELECT pipeline.extremes_merged('{9,7,5}'::int[], 10, '{10}', '{1}', '{10,8}'::int[], 11, true) AS came_and_went,
       pipeline.extremes_merged('{9,7,5}'::int[], 10, '{10}', '{1}', '{10}'::int[], 10, true) AS only_it_came,
       pipeline.extremes_merged('{9,7,5}'::int[], 10, '{10}', '{1}', '{10}'::int[], 11, true) AS others_came,
       pipeline.extremes_merged('{9,7,5}'::int[], 10, '{10}', '{1}', '{11,8}'::int[], 11, true) AS not_among_them,
       pipeline.extremes_merged('{1,3,5}'::int[], 10, '{2,2}', '{1,1}', '{2,2,4}'::int[], 11, false) AS twice;
-- values that went and came all worse than the last kept leave it as it
-- is; one equal to the last kept takes its place
SELECT pipeline.extremes_merged('{1,3,5}'::int[], 10, '{7,9}', '{1,2}', '{6}'::int[], 8, false) AS worse_only,
       pipeline.extremes_merged('{1,3,5}'::int[], 10, '{5}', '{1}', '{6}'::int[], 10, false) AS last_went,
       pipeline.extremes_merged('{9,7,5}'::int[], 10, '{4}', '{1}', '{5}'::int[], 10, true) AS equal_came;
-- deleted values in two dimensions are read as any array is (not in place)
SELECT pipeline.extremes_merged('{9,7,5}'::numeric[], 10, '{{1,2},{3,4}}', '{1,1,1,1}', NULL, 6, true) AS two_dimensions;

-- the aggregate filling a state: the eight best, duplicates included
SELECT pipeline.kept_extremes(v, false) AS smallest, pipeline.kept_extremes(v, true) AS largest
  FROM unnest('{5,3,NULL,9,1,1,7,2,8,6,4}'::int[]) v;
SELECT pipeline.kept_extremes(v, false) IS NULL AS none_for_nulls
  FROM unnest('{NULL,NULL}'::int[]) v;
SELECT g, pipeline.kept_extremes(t, true) AS largest
  FROM (VALUES (1, 'b'), (1, 'a'), (2, 'z'), (1, 'c')) x(g, t) GROUP BY g ORDER BY g;
SELECT pipeline.kept_extremes(x, false) FROM (VALUES ('<a/>'::xml)) v(x);
-- 1.9: a value counted as many times as the rows it stands for
SELECT pipeline.kept_extremes(v, false, n) AS smallest
  FROM (VALUES (5, 1), (2, 3), (9, 0), (1, 2), (7, 9)) x(v, n);

-- views: per group extremes of an int, a text in "C" order, a timestamp;
-- their full recompute after every refresh must be the same rows
CREATE SCHEMA ext;
CREATE TABLE ext.facts (id serial PRIMARY KEY, g int, v int, t text COLLATE "C", at timestamptz);
CREATE INDEX ON ext.facts (g, v);
INSERT INTO ext.facts (g, v, t, at)
SELECT i % 5, (i * 37) % 101, chr(65 + (i * 7) % 26) || chr(97 + i % 26),
       '2026-01-01 00:00+00'::timestamptz + i * interval '1 hour'
  FROM generate_series(1, 400) i;
SELECT pipeline.create_matview('ext', 'per_group',
    'SELECT g, min(v) AS lo, max(v) AS hi, min(t) AS first_t, max(at) AS last_at, count(*) AS n
       FROM ext.facts GROUP BY g', '1 hour', refresh_mode => 'differential');
CREATE TABLE ext.dims (id int PRIMARY KEY, region text);
INSERT INTO ext.dims SELECT i, CASE WHEN i < 3 THEN 'north' ELSE 'south' END FROM generate_series(0, 4) i;
SELECT pipeline.create_matview('ext', 'per_region',
    'SELECT d.region, max(f.v) AS hi, min(f.at) AS first_at
       FROM ext.facts f JOIN ext.dims d ON d.id = f.g GROUP BY d.region', '1 hour',
    refresh_mode => 'differential');
SELECT matview, refresh_mode FROM pipeline.matviews WHERE schema_name = 'ext' ORDER BY 1;

CREATE FUNCTION ext.differences() RETURNS TABLE (view text, rows bigint) LANGUAGE sql AS $$
    SELECT 'per_group', count(*) FROM (
        (SELECT * FROM ext.mv_per_group
         EXCEPT ALL SELECT g, min(v), max(v), min(t), max(at), count(*) FROM ext.facts GROUP BY g)
        UNION ALL
        (SELECT g, min(v), max(v), min(t), max(at), count(*) FROM ext.facts GROUP BY g
         EXCEPT ALL SELECT * FROM ext.mv_per_group)) x
    UNION ALL
    SELECT 'per_region', count(*) FROM (
        (SELECT * FROM ext.mv_per_region
         EXCEPT ALL SELECT d.region, max(f.v), min(f.at) FROM ext.facts f JOIN ext.dims d ON d.id = f.g
                     GROUP BY d.region)
        UNION ALL
        (SELECT d.region, max(f.v), min(f.at) FROM ext.facts f JOIN ext.dims d ON d.id = f.g
          GROUP BY d.region
         EXCEPT ALL SELECT * FROM ext.mv_per_region)) x
$$;
CREATE FUNCTION ext.refresh() RETURNS SETOF text LANGUAGE sql AS $$
    SELECT status FROM pipeline.refresh('ext.mv_per_group') UNION ALL
    SELECT status FROM pipeline.refresh('ext.mv_per_region')
$$;
SELECT * FROM ext.refresh();
SELECT * FROM ext.differences();

-- what the state keeps: each group's eight smallest v, from the start
SELECT format('SELECT s.k1 AS g, s.ext_1 AS lo, s.top_1 = (SELECT array_agg(v ORDER BY v) FROM
                 (SELECT v FROM ext.facts WHERE g = s.k1 ORDER BY v LIMIT 8) x) AS eight_smallest_kept
                 FROM pipeline.%I s ORDER BY 1', 'state_' || 'ext.mv_per_group'::regclass::oid)
\set ECHO none
\gexec
\set ECHO all

-- rounds of changes reaching the extremes: the same groups lose their
-- smallest and largest v again and again (more than eight times, so the
-- kept values run out and are read again), values move between groups,
-- new extremes and duplicates of them arrive, the dimension moves a group
-- between regions; after each refresh, the views equal their recompute
CREATE TABLE ext.outcomes (round int, view text, rows bigint, refreshes text);
CREATE PROCEDURE ext.rounds(n int) LANGUAGE plpgsql AS $$
DECLARE
    refreshes text;
BEGIN
    FOR r IN 1..n LOOP
        DELETE FROM ext.facts WHERE id IN (
            SELECT DISTINCT ON (g) id FROM ext.facts WHERE g IN (1, 2) ORDER BY g, v, id);
        DELETE FROM ext.facts WHERE id IN (
            SELECT DISTINCT ON (g) id FROM ext.facts WHERE g IN (2, 3) ORDER BY g, v DESC, id);
        DELETE FROM ext.facts WHERE id = (SELECT id FROM ext.facts ORDER BY at, id LIMIT 1);
        UPDATE ext.facts SET v = v - 50 WHERE id = (SELECT id FROM ext.facts WHERE g = 4 ORDER BY id LIMIT 1);
        UPDATE ext.facts SET g = (g + 1) % 5 WHERE id IN (SELECT id FROM ext.facts ORDER BY id DESC LIMIT 3);
        INSERT INTO ext.facts (g, v, t, at)
        SELECT r % 5, (SELECT min(v) FROM ext.facts WHERE g = r % 5), 'Z' || r, now() - r * interval '1 day'
          FROM generate_series(1, 2);
        IF r % 3 = 0 THEN
            UPDATE ext.dims SET region = CASE region WHEN 'north' THEN 'south' ELSE 'north' END WHERE id = 2;
        END IF;
        COMMIT;
        SELECT string_agg(x, ', ') INTO refreshes FROM ext.refresh() x;
        INSERT INTO ext.outcomes SELECT r, d.view, d.rows, refreshes FROM ext.differences() d;
        COMMIT;
    END LOOP;
END
$$;
CALL ext.rounds(14);
SELECT count(DISTINCT round) AS rounds, sum(rows) AS rows_differing FROM ext.outcomes;
SELECT DISTINCT refreshes FROM ext.outcomes;

-- kept values were used up and read again: groups 1 and 2 lost their
-- smallest v fourteen times, yet the state holds eight or fewer, exact
SELECT format('SELECT s.k1 AS g, cardinality(s.top_1) BETWEEN 1 AND 8 AS some_kept,
                 s.top_1 = (SELECT array_agg(v ORDER BY v) FROM
                   (SELECT v FROM ext.facts WHERE g = s.k1 ORDER BY v LIMIT cardinality(s.top_1)) x) AS a_prefix
                 FROM pipeline.%I s ORDER BY 1', 'state_' || 'ext.mv_per_group'::regclass::oid)
\set ECHO none
\gexec
\set ECHO all

-- a group that loses every row, then comes back
DELETE FROM ext.facts WHERE g = 3;
SELECT * FROM ext.refresh();
SELECT * FROM ext.differences();
INSERT INTO ext.facts (g, v, t, at) VALUES (3, 42, 'x', '2026-06-01 00:00+00'), (3, NULL, NULL, NULL);
SELECT * FROM ext.refresh();
SELECT * FROM ext.differences();
SELECT g, lo, hi, first_t, n FROM ext.mv_per_group WHERE g = 3;

SELECT pipeline.drop_matview('ext.mv_per_region');
SELECT pipeline.drop_matview('ext.mv_per_group');
DROP SCHEMA ext CASCADE;

-- min() and max() of a type of the caller's own (an enum in public, on
-- the caller's search_path): the state names it qualified, since it is
-- made under the pinned search_path; and a look-alike ordering operator
-- in public is never what a refresh compares with
CREATE TYPE public.grade AS ENUM ('e', 'd', 'c', 'b', 'a');
CREATE TABLE public.marks (who int, mark grade);
INSERT INTO public.marks SELECT i % 4, (ARRAY['e', 'd', 'c', 'b', 'a'])[1 + i % 5]::grade
  FROM generate_series(1, 40) i;
SELECT pipeline.create_matview('public', 'mark_range',
    'SELECT who, min(mark) AS worst, max(mark) AS best FROM public.marks GROUP BY who',
    '1 hour', refresh_mode => 'differential');
SELECT status FROM pipeline.refresh('public.mv_mark_range');
CREATE FUNCTION public.trap_grade(grade, grade) RETURNS boolean LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'trap operator called by %', current_user; END $$;
CREATE OPERATOR public.< (LEFTARG = grade, RIGHTARG = grade, FUNCTION = public.trap_grade);
CREATE OPERATOR public.> (LEFTARG = grade, RIGHTARG = grade, FUNCTION = public.trap_grade);
CREATE OPERATOR public.<= (LEFTARG = grade, RIGHTARG = grade, FUNCTION = public.trap_grade);
CREATE OPERATOR public.>= (LEFTARG = grade, RIGHTARG = grade, FUNCTION = public.trap_grade);
DELETE FROM public.marks WHERE mark IN ('e', 'a') AND who < 2;
UPDATE public.marks SET mark = 'a' WHERE who = 3 AND mark = 'c';
SELECT status FROM pipeline.refresh('public.mv_mark_range');
DROP FUNCTION public.trap_grade(grade, grade) CASCADE;
SELECT v.*, v.worst = r.worst AND v.best = r.best AS equals_recompute
  FROM public.mv_mark_range v
  JOIN (SELECT who, min(mark) AS worst, max(mark) AS best FROM public.marks GROUP BY who) r USING (who)
 ORDER BY who;
SELECT pipeline.drop_matview('public.mv_mark_range');
DROP TABLE public.marks;
DROP TYPE public.grade;

-- equal values written with other scales: deleting one removes the kept
-- copy written as it was (0.00, not 0), so what is left reads as the rows
-- left do (the view showed 0.00 after its last 0.00 row went)
CREATE TABLE public.scaled (id int, g int, x numeric);
INSERT INTO public.scaled VALUES (1, 1, 0.00), (2, 1, 5);
SELECT pipeline.create_matview('public', 'scaled_range',
       'SELECT g, min(x) AS lo, max(x) AS hi, count(*) AS n FROM public.scaled GROUP BY g', '1 hour');
INSERT INTO public.scaled VALUES (3, 1, 0), (4, 1, 5.000);
SELECT status FROM pipeline.refresh('public.mv_scaled_range');
DELETE FROM public.scaled WHERE id IN (1, 2);
SELECT status FROM pipeline.refresh('public.mv_scaled_range');
SELECT v.lo::text AS lo, v.hi::text AS hi,
       v.lo::text = r.lo::text AND v.hi::text = r.hi::text AS reads_as_recompute
  FROM public.mv_scaled_range v
  JOIN (SELECT g, min(x) AS lo, max(x) AS hi FROM public.scaled GROUP BY g) r USING (g);
-- and when the copy written as the deleted one came inside the window
-- while an equal one is kept, it is the one that goes (the view showed
-- 2.50 after its 2.50 row went)
INSERT INTO public.scaled VALUES (5, 2, 2.5), (6, 2, 1);
SELECT status FROM pipeline.refresh('public.mv_scaled_range');
INSERT INTO public.scaled VALUES (7, 2, 2.5), (8, 2, 2.50);
DELETE FROM public.scaled WHERE id = 8;
SELECT status FROM pipeline.refresh('public.mv_scaled_range');
DELETE FROM public.scaled WHERE id = 5;
SELECT status FROM pipeline.refresh('public.mv_scaled_range');
SELECT v.g, v.hi::text AS hi, v.lo::text = r.lo::text AND v.hi::text = r.hi::text AS reads_as_recompute
  FROM public.mv_scaled_range v
  JOIN (SELECT g, min(x) AS lo, max(x) AS hi FROM public.scaled GROUP BY g) r USING (g)
 ORDER BY v.g;
SELECT pipeline.drop_matview('public.mv_scaled_range');
DROP TABLE public.scaled;
