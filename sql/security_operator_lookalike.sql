-- Hardening (attack pass, 2026-12-06): SQL that pipeline writes names an
-- operator or output function as OPERATOR(schema.name) or schema.name(...),
-- and PostgreSQL resolves that name again for the operands' types, where an
-- exact match wins.  With values of the attacker's domain over an extension
-- type (citext, whose operators live in a schema the attacker may create
-- in), the attacker's look-alike "public.=(domain, domain)" or
-- "public.citextout(domain)" ran instead, as the view's owner: a
-- differential view's key matching and its "reads alike" check, and
-- apply_changes()'s key match.  Outside pg_catalog the operands are now cast
-- to the operator's own argument types, which only it matches exactly.
-- The victim runs everything with the attacker's schema first in its
-- search_path; the spy records who runs the look-alikes: only the attacker.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pipeline;
CREATE SCHEMA ol_ext;
CREATE EXTENSION citext SCHEMA ol_ext;

CREATE ROLE ol_attacker LOGIN;
CREATE ROLE ol_victim LOGIN;
CREATE SCHEMA ol_attacker AUTHORIZATION ol_attacker;
CREATE SCHEMA ol_victim AUTHORIZATION ol_victim;
GRANT USAGE ON SCHEMA ol_attacker, ol_ext TO PUBLIC;
-- as public was before PostgreSQL 15 (and stays on an upgraded cluster)
GRANT CREATE ON SCHEMA ol_ext TO ol_attacker;
CREATE TABLE public.ol_log (who name, what text);
GRANT SELECT, INSERT ON public.ol_log TO PUBLIC;

SET SESSION AUTHORIZATION ol_attacker;
SET search_path = ol_attacker, pg_catalog;
CREATE DOMAIN ol_attacker.mail AS ol_ext.citext;
CREATE TABLE ol_attacker.shared (id int PRIMARY KEY, mail ol_attacker.mail, n int);
INSERT INTO ol_attacker.shared VALUES (1, 'a@x', 1), (2, 'b@x', 2), (3, 'A@x', 3);
GRANT SELECT ON ol_attacker.shared TO ol_victim;

RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ol_victim;
SET search_path = ol_attacker, public, pg_catalog;
SELECT pipeline.create_matview('ol_victim', 'by_mail',
    'SELECT mail, count(*) AS rows, sum(n) AS total FROM ol_attacker.shared GROUP BY mail',
    '1 hour', refresh_mode => 'differential');
SELECT pipeline.create_matview('ol_victim', 'all_rows',
    'SELECT id, mail, n FROM ol_attacker.shared', '1 hour', refresh_mode => 'differential');
CREATE TABLE ol_victim.contacts (mail ol_attacker.mail PRIMARY KEY, name text, seq bigint);
CREATE TABLE ol_victim.contact_changes (mail ol_attacker.mail, name text, seq bigint, op text);
INSERT INTO ol_victim.contacts VALUES ('a@x', 'ann', 1), ('b@x', 'bob', 1);

-- the look-alikes: they answer as citext does, and tell on whoever runs them
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ol_attacker;
SET search_path = ol_attacker, pg_catalog;
CREATE FUNCTION ol_attacker.eq(ol_attacker.mail, ol_attacker.mail) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.ol_log VALUES (current_user, '=');
    RETURN $1::ol_ext.citext OPERATOR(ol_ext.=) $2::ol_ext.citext;
END $f$;
CREATE FUNCTION ol_attacker.gt(ol_attacker.mail, ol_attacker.mail) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.ol_log VALUES (current_user, '>');
    RETURN $1::ol_ext.citext OPERATOR(ol_ext.>) $2::ol_ext.citext;
END $f$;
CREATE FUNCTION ol_attacker.out(ol_attacker.mail) RETURNS text
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.ol_log VALUES (current_user, 'citextout');
    RETURN $1::ol_ext.citext::text;
END $f$;
GRANT EXECUTE ON FUNCTION ol_attacker.eq(ol_attacker.mail, ol_attacker.mail),
    ol_attacker.gt(ol_attacker.mail, ol_attacker.mail), ol_attacker.out(ol_attacker.mail) TO PUBLIC;
CREATE OPERATOR ol_ext.= (LEFTARG = ol_attacker.mail, RIGHTARG = ol_attacker.mail,
                          FUNCTION = ol_attacker.eq);
CREATE OPERATOR ol_ext.> (LEFTARG = ol_attacker.mail, RIGHTARG = ol_attacker.mail,
                          FUNCTION = ol_attacker.gt);
CREATE FUNCTION ol_ext.citextout(ol_attacker.mail) RETURNS text
LANGUAGE sql AS 'SELECT ol_attacker.out($1)';
-- they work, for the attacker
SELECT 'a@x'::ol_attacker.mail OPERATOR(ol_ext.=) 'A@X'::ol_attacker.mail AS lookalike_equal,
       ol_ext.citextout('a@x'::ol_attacker.mail) AS lookalike_output;
-- changes: a group gains and loses rows, a row changes
INSERT INTO ol_attacker.shared VALUES (4, 'B@X', 4), (5, 'c@x', 5);
DELETE FROM ol_attacker.shared WHERE id = 1;
UPDATE ol_attacker.shared SET mail = 'C@x' WHERE id = 2;

RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ol_victim;
SET search_path = ol_attacker, public, pg_catalog;
SELECT matview, status, rows FROM pipeline.refresh('ol_victim.mv_by_mail');
SELECT matview, status, rows FROM pipeline.refresh('ol_victim.mv_all_rows');
SELECT lower(mail::text) AS mail, rows, total FROM ol_victim.mv_by_mail ORDER BY 1;
SELECT id, mail::text, n FROM ol_victim.mv_all_rows ORDER BY id;
-- a change arriving for a key in the attacker's domain
INSERT INTO ol_victim.contact_changes VALUES ('A@X', 'anne', 2, 'U'), ('c@x', 'cy', 1, 'I'),
    ('b@x', NULL, 2, 'D');
SELECT * FROM pipeline.apply_changes('ol_victim.contact_changes', 'ol_victim.contacts', '{mail}', 'seq');
SELECT mail::text, name, seq FROM ol_victim.contacts ORDER BY 1;

-- A comparison with a subquery keeps no cast of the subquery's column in
-- the stored text: "(mail)::citext OPERATOR(ol_ext.=) ANY (SELECT mail
-- ...)" was read again for (citext, the attacker's domain), where the
-- attacker's "ol_ext.=(citext, mail)" matched exactly; and IS DISTINCT
-- FROM, NULLIF, CASE x WHEN and JOIN ... USING name no operator at all, so
-- the text read again meant pg_catalog's (case-sensitive text) equality.
-- Such queries are refused, with a hint; the explicit forms work.
CREATE TABLE ol_victim.allowed (mail ol_attacker.mail);
INSERT INTO ol_victim.allowed VALUES ('A@X');
-- citext's operators found by the victim's path, as its users have it
SET search_path = ol_attacker, ol_ext, public, pg_catalog;
SELECT pipeline.create_matview('ol_victim', 'listed',
    'SELECT id FROM ol_attacker.shared WHERE mail::ol_ext.citext IN (SELECT mail FROM ol_victim.allowed)',
    '1 hour', matview_type => 'incremental', incremental_key => 'id');
SELECT pipeline.create_matview('ol_victim', 'distinct_from',
    'SELECT id FROM ol_attacker.shared WHERE mail::ol_ext.citext IS DISTINCT FROM ''a@x''::ol_ext.citext',
    '1 hour', refresh_mode => 'full');
SELECT pipeline.create_matview('ol_victim', 'null_if',
    'SELECT id, NULLIF(mail::ol_ext.citext, ''a@x''::ol_ext.citext) AS m FROM ol_attacker.shared', '1 hour');
SELECT pipeline.create_matview('ol_victim', 'case_when',
    'SELECT id, CASE mail::ol_ext.citext WHEN ''a@x''::ol_ext.citext THEN 1 END AS m FROM ol_attacker.shared', '1 hour');
SELECT pipeline.create_matview('ol_victim', 'using_join',
    'SELECT s.id FROM (SELECT id, mail::ol_ext.citext AS m FROM ol_attacker.shared) s JOIN (SELECT mail::ol_ext.citext AS m FROM ol_victim.allowed) a USING (m)',
    '1 hour');
-- the hint's forms: the subquery's column cast, the operator named
SELECT pipeline.create_matview('ol_victim', 'listed',
    'SELECT id FROM ol_attacker.shared WHERE mail::ol_ext.citext IN (SELECT mail::ol_ext.citext FROM ol_victim.allowed)',
    '1 hour', matview_type => 'incremental', incremental_key => 'id');
SELECT pipeline.create_matview('ol_victim', 'not_a',
    'SELECT id FROM ol_attacker.shared WHERE NOT mail::ol_ext.citext OPERATOR(ol_ext.=) ''a@x''::ol_ext.citext',
    '1 hour', refresh_mode => 'full');
-- A row comparison's text names the first column's operator for all: with
-- text's first, citext's column was read again as text (case-sensitively);
-- with citext's first, text's column found no operator.  Refused, with a
-- hint; one schema's operators throughout are kept.
SELECT pipeline.create_matview('ol_victim', 'row_text_first',
    'SELECT id FROM ol_attacker.shared WHERE (n::text, mail::ol_ext.citext) > (''6'', ''a@x''::ol_ext.citext)',
    '1 hour');
SELECT pipeline.create_matview('ol_victim', 'row_citext_first',
    'SELECT id FROM ol_attacker.shared WHERE (mail::ol_ext.citext, n::text) > (''a@x''::ol_ext.citext, ''6'')',
    '1 hour', refresh_mode => 'full');
-- the same for a row compared with a subquery's rows: (a, b) IN (SELECT ...)
SELECT pipeline.create_matview('ol_victim', 'row_in',
    'SELECT id FROM ol_attacker.shared WHERE (n::text, mail::ol_ext.citext) IN (SELECT ''6'', ''a@x''::ol_ext.citext)',
    '1 hour');
SELECT pipeline.create_matview('ol_victim', 'row_not_in',
    'SELECT id FROM ol_attacker.shared WHERE (n::text, mail::ol_ext.citext) NOT IN (SELECT ''6'', ''a@x''::ol_ext.citext)',
    '1 hour', refresh_mode => 'full');
-- and in an expectation, kept as text too (a third pass): the audit
-- compared citext's column as text
SELECT pipeline.create_matview('ol_victim', 'row_expect',
    'SELECT id, n::text AS t, mail::ol_ext.citext AS m FROM ol_attacker.shared', '1 hour',
    options => '{"expect": ["ordered: (t, m) > (''0'', ''A@X''::ol_ext.citext)"]}');
SELECT pipeline.create_matview('ol_victim', 'row_expect',
    'SELECT id, n::text AS t, mail::ol_ext.citext AS m FROM ol_attacker.shared', '1 hour',
    options => '{"expect": ["same: m IS NOT DISTINCT FROM ''A@X''::ol_ext.citext"]}');
SELECT pipeline.create_matview('ol_victim', 'row_citext',
    'SELECT id FROM ol_attacker.shared WHERE (mail::ol_ext.citext, mail::ol_ext.citext) >= (''A@X''::ol_ext.citext, ''a@x''::ol_ext.citext)',
    '1 hour');
SELECT id FROM ol_victim.mv_row_citext ORDER BY id;
SELECT id FROM ol_attacker.shared
 WHERE ROW(mail::ol_ext.citext, mail::ol_ext.citext) OPERATOR(ol_ext.>=) ROW('A@X'::ol_ext.citext, 'a@x'::ol_ext.citext)
 ORDER BY id;
SELECT pipeline.drop_matview('ol_victim.mv_row_citext');
SET search_path = ol_attacker, public, pg_catalog;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ol_attacker;
SET search_path = ol_attacker, pg_catalog;
CREATE FUNCTION ol_attacker.eq_base(ol_ext.citext, ol_attacker.mail) RETURNS boolean
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.ol_log VALUES (current_user, '= (citext, mail)');
    RETURN $1 OPERATOR(ol_ext.=) $2::ol_ext.citext;
END $f$;
GRANT EXECUTE ON FUNCTION ol_attacker.eq_base(ol_ext.citext, ol_attacker.mail) TO PUBLIC;
CREATE OPERATOR ol_ext.= (LEFTARG = ol_ext.citext, RIGHTARG = ol_attacker.mail,
                          FUNCTION = ol_attacker.eq_base);
INSERT INTO ol_attacker.shared VALUES (6, 'a@X', 6);
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION ol_victim;
SET search_path = ol_attacker, public, pg_catalog;
SELECT matview, status, rows FROM pipeline.refresh('ol_victim.mv_listed');
SELECT matview, status, rows FROM pipeline.refresh('ol_victim.mv_not_a');
SELECT id FROM ol_victim.mv_listed ORDER BY id;
SELECT id FROM ol_victim.mv_not_a ORDER BY id;

-- the verdict: the look-alikes ran as nobody but the attacker
RESET SESSION AUTHORIZATION;
SELECT who, what, count(*) > 0 AS ran FROM public.ol_log GROUP BY 1, 2 ORDER BY 1, 2;

SET client_min_messages = warning;
SELECT pipeline.drop_matview('ol_victim.mv_by_mail');
SELECT pipeline.drop_matview('ol_victim.mv_all_rows');
SELECT pipeline.drop_matview('ol_victim.mv_listed');
SELECT pipeline.drop_matview('ol_victim.mv_not_a');
DROP SCHEMA ol_victim CASCADE;
DROP SCHEMA ol_attacker CASCADE;
DROP SCHEMA ol_ext CASCADE;
DROP TABLE public.ol_log;
DROP ROLE ol_victim;
DROP ROLE ol_attacker;
