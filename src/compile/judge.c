/*-------------------------------------------------------------------------
 * judge.c
 *	  Judging a change set.  Inside a subtransaction that is always rolled
 *	  back, each view is analyzed by PostgreSQL's own parser in the set's
 *	  order.  A changed or new view is created WITH NO DATA under its name
 *	  (the old relation renamed aside), so what reads it is analyzed
 *	  against the new shape; a downstream view is recreated only when its
 *	  own output shape changed.  Each view is judged in a subtransaction of
 *	  its own, so that one failure does not hide the others.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/ruleutils.h"

#include "compile/apply.h"
#include "compile/changeset.h"
#include "compile/judge.h"
#include "compile/locks.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "util/analyze.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/audit.h"
#include "views/differential.h"
#include "views/incremental.h"
#include "views/matview.h"
#include "views/mirror.h"
#include "views/publication.h"
#include "views/quarantine.h"

/*
 * Compares an existing relation's columns with an analyzed query's output.
 * Sets *same when a relation created from the query would look identical
 * to readers; returns a description of any break (a column gone or of
 * another type or collation), or NULL.
 */
static char *
compare_shape(Oid relid, Query *query, bool *same)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *tles = NIL;
	ListCell   *lc;
	StringInfoData breaks;
	int			live = 0;
	int			i;

	initStringInfo(&breaks);
	foreach(lc, query->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (!tle->resjunk)
			tles = lappend(tles, tle);
	}
	*same = true;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		TargetEntry *tle = NULL;
		TargetEntry *at;

		if (att->attisdropped)
			continue;
		at = live < list_length(tles) ? list_nth_node(TargetEntry, tles, live) : NULL;
		live++;
		foreach(lc, tles)
		{
			TargetEntry *t = lfirst(lc);

			if (t->resname && strcmp(t->resname, NameStr(att->attname)) == 0)
			{
				tle = t;
				break;
			}
		}
		if (tle == NULL)
		{
			*same = false;
			appendStringInfo(&breaks, "%scolumn %s would disappear",
							 breaks.len ? "; " : "", quote_identifier(NameStr(att->attname)));
			continue;
		}
		if (tle != at || exprTypmod((Node *) tle->expr) != att->atttypmod)
			*same = false;
		if (exprType((Node *) tle->expr) != att->atttypid ||
			exprCollation((Node *) tle->expr) != att->attcollation)
		{
			*same = false;
			if (exprType((Node *) tle->expr) != att->atttypid)
				appendStringInfo(&breaks, "%scolumn %s would change type from %s to %s",
								 breaks.len ? "; " : "", quote_identifier(NameStr(att->attname)),
								 format_type_be(att->atttypid),
								 format_type_be(exprType((Node *) tle->expr)));
			else
				appendStringInfo(&breaks, "%scolumn %s would change collation",
								 breaks.len ? "; " : "", quote_identifier(NameStr(att->attname)));
		}
	}
	if (live != list_length(tles))
		*same = false;
	relation_close(rel, AccessShareLock);
	return breaks.len ? breaks.data : NULL;
}

/* An incremental view's key, checked against its query as it is read. */
static void
check_key(PendingView *v)
{
	RunAs		ra;

	incremental_check_key(pending_begin_reading(v, &ra), v->key, v->name);
	pending_end_reading(v, &ra);
}

/* Whether two lists of names are equal, in order. */
static bool
same_names(List *a, List *b)
{
	ListCell   *la;
	ListCell   *lb;

	if (list_length(a) != list_length(b))
		return false;
	forboth(la, a, lb, b)
		if (strcmp((char *) lfirst(la), (char *) lfirst(lb)) != 0)
			return false;
	return true;
}

/* Whether two optional texts are the same (both NULL, or equal) */
static bool
same_text(const char *a, const char *b)
{
	return (a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0);
}

/*
 * What column name of query reads: "SELECT <its expression> FROM ..." as
 * ruleutils writes it with every name qualified, or the whole query when
 * the column is computed over groups, windows or set operations; NULL when
 * the query has no such column.  Needs the path pinned.
 */
static char *
column_source(Query *query, const char *name)
{
	Query	   *only = copyObject(query);
	ListCell   *lc;

	foreach(lc, only->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk || tle->resname == NULL || strcmp(tle->resname, name) != 0)
			continue;
		if (only->setOperations != NULL || only->hasAggs || only->hasWindowFuncs ||
			only->groupClause != NIL || only->groupingSets != NIL || only->hasTargetSRFs)
			return pg_get_querydef(query, false);
		tle->resno = 1;
		only->targetList = list_make1(tle);
		only->jointree->quals = NULL;
		only->sortClause = NIL;
		only->distinctClause = NIL;
		only->hasDistinctOn = false;
		only->limitOffset = NULL;
		only->limitCount = NULL;
		only->rowMarks = NIL;
		return pg_get_querydef(only, false);
	}
	return NULL;
}

/* What the stored query of a mirror reads under some column names */
typedef struct StoredColumns
{
	Oid			owner;
	const char *bound_query;
	const char **names;			/* NULL entries are skipped */
	char	  **sources;		/* column_source() of each */
	int			count;
} StoredColumns;

static void
read_stored_columns(void *arg)
{
	StoredColumns *stored = arg;
	RunAs		ra;
	Query	   *query;

	runas_begin_internal(&ra, stored->owner);
	query = analyze_one(stored->bound_query);
	for (int i = 0; i < stored->count; i++)
		if (stored->names[i] != NULL)
			stored->sources[i] = column_source(query, stored->names[i]);
	runas_end(&ra);
}

/*
 * Whether the mirror's keys, sequence, operation and incremental key read
 * the same expressions in its new query as in its stored one (the same
 * names are not enough: its kept rows, deleted-key memory and mark hold
 * values of the old expressions).  A stored query that no longer analyzes
 * (an upstream in the same set changed) counts as changed.
 */
static bool
same_mirror_columns(PendingView *v, Query *query, MatviewDefinition *mirror)
{
	int			count = 3 + list_length(mirror->mirror_keys);
	const char **names = palloc0(sizeof(char *) * count);
	char	  **before = palloc0(sizeof(char *) * count);
	StoredColumns stored = {
		.owner = v->owner,
		.bound_query = catalog_get_required(v->relid)->bound_query,
		.names = names,
		.sources = before,
		.count = count
	};
	ListCell   *lc;
	RunAs		ra;
	bool		same;

	names[0] = mirror->mirror_sequence;
	names[1] = mirror->mirror_operation;
	names[2] = v->key;
	/* the memory holds the keys' values too */
	foreach(lc, mirror->mirror_keys)
		names[3 + foreach_current_index(lc)] = lfirst(lc);

	if (subxact_try(read_stored_columns, &stored, false) != NULL)
		return false;
	runas_begin_internal(&ra, v->owner);
	same = true;
	for (int i = 0; i < stored.count && same; i++)
	{
		char	   *now;

		if (names[i] == NULL)
			continue;
		now = column_source(query, names[i]);
		same = now != NULL && before[i] != NULL && strcmp(now, before[i]) == 0;
	}
	runas_end(&ra);
	return same;
}

/*
 * A mirror keeps its table, rows and mark when its columns (the query's
 * but the operation and incremental key), keys, sequence and operation
 * stay (its deleted-key memory holds values of its sequence); otherwise it is
 * rebuilt from its stream, which a changed definition may do only while
 * the stream holds everything the mirror consumed.  Returns true when the
 * mirror is judged (kept or broken); false to create its new table as any
 * changed view's.
 */
static bool
judge_mirror(PendingView *v, Query *query)
{
	MatviewDefinition *mirror = dpl_stored_options(MATVIEW_MIRROR, v->options);
	MatviewDefinition *old;
	char	   *breaks;
	char	   *refusal;
	bool		same;

	if (!OidIsValid(v->relid) || v->old_type != MATVIEW_MIRROR)
		return false;
	old = dpl_stored_options(MATVIEW_MIRROR, v->old_options);
	mirror->incremental_key = v->key;
	breaks = compare_shape(v->relid, mirror_table_query(query, mirror), &same);
	/* a rebuilt mirror's own columns are its readers' concern, as any view's */
	if (breaks && !v->def)
	{
		v->broken = true;
		v->detail = breaks;
		return true;
	}
	/* the kept deleted-key memory holds the old sequence column's values */
	if (same && same_names(mirror->mirror_keys, old->mirror_keys) &&
		same_text(mirror->mirror_sequence, old->mirror_sequence) &&
		same_text(mirror->mirror_operation, old->mirror_operation) &&
		same_text(mirror->mirror_delete_value, old->mirror_delete_value) &&
		same_text(v->key, v->old_key) && same_mirror_columns(v, query, mirror))
	{
		v->keep = true;
		return true;
	}
	refusal = v->def ? mirror_rebuild_refusal(v->relid, v->owner, v->old_key, v->bound, mirror) : NULL;

	/*
	 * the definition's own error (judge_view() runs under subxact_try()), as
	 * its query's would be: no view it reads or that reads it is to blame
	 */
	if (refusal)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("mirror %s would be rebuilt, but %s", pending_display_name(v), refusal),
				 errhint("Keep its keys, sequence, operation settings and columns as they are (such a redefinition keeps its rows), or drop it and define it anew from what its stream holds now.")));
	return false;
}

/*
 * Whether a regular view's resolved refresh mode needs another kind of
 * relation than it has (a table refreshed differentially, a materialized
 * view fully): an upstream that turns full turns an auto view full, and
 * the views reading it must be judged against what it will be.
 */
static bool
relation_kind_changes(PendingView *v)
{
	char		kind = v->mode == REFRESH_MODE_DIFFERENTIAL ? RELKIND_RELATION : RELKIND_MATVIEW;

	return v->type == MATVIEW_REGULAR && get_rel_relkind(v->relid) != kind;
}

/*
 * The relation named relname in nspid, locked AccessExclusive, or
 * InvalidOid when there is none; as RangeVarGetRelid() would, but without
 * the caller's USAGE on the schema: a downstream view rebuilt for a
 * redefinition may be in a schema its upstream's owner cannot use.
 */
static Oid
lock_relation_named(Oid nspid, const char *relname)
{
	Oid			locked = InvalidOid;

	for (;;)
	{
		/* after a lock's wait, the name may have moved to another relation */
		Oid			relid = get_relname_relid(relname, nspid);

		if (relid == locked)
			return relid;
		if (OidIsValid(locked))
			UnlockRelationOid(locked, AccessExclusiveLock);
		if (!OidIsValid(relid))
			return InvalidOid;
		LockRelationOid(relid, AccessExclusiveLock);
		locked = relid;
	}
}

/*
 * Analyzes a view's query and, when readers would see a new shape (new
 * columns, or another kind of relation), puts the new shape in place;
 * returns the relation with its new shape.
 */
static Oid
judge_view_shape(PendingView *v)
{
	Query	   *query = pending_analyze(v);
	bool		same = false;
	Oid			shape;
	Oid			old = InvalidOid;
	List	   *indexes = NIL;

	/* a definition's own keys, as define() checks them (update sets too) */
	if (v->def && v->type == MATVIEW_MIRROR)
		mirror_check(v->def, false);
	if (v->def && v->type == MATVIEW_UNLOAD)
		publication_check(v->def, v->relid);
	if (v->def && v->type == MATVIEW_INCREMENTAL)
		quarantine_check(v->def);
	if (v->def)
		mirror_refuse_reading_stages(v->def);

	/* a publication's relation is its manifest, whatever its query */
	if (v->type == MATVIEW_UNLOAD)
	{
		if (!v->broken)
			pending_resolve_refresh_mode(v);
		if (OidIsValid(v->relid) && v->old_type == MATVIEW_UNLOAD)
		{
			v->keep = true;
			return v->relid;
		}
		goto create;
	}
	if (v->type == MATVIEW_MIRROR)
	{
		if (!v->broken)
			pending_resolve_refresh_mode(v);
		if (judge_mirror(v, query))
			return v->relid;
		goto create;
	}

	if (!v->def || pending_incremental_unchanged(v))
	{
		char	   *breaks = compare_shape(v->relid, query, &same);

		/* a changed view's own columns are its readers' concern */
		if (breaks && !v->def)
		{
			v->broken = true;
			v->detail = breaks;
		}
	}
	if (v->type == MATVIEW_INCREMENTAL && !v->broken)
		check_key(v);
	if (v->type == MATVIEW_INCREMENTAL && v->def && !v->broken)
		incremental_check_query(v->query, v->key, v->name);
	/* a view asking for a refresh mode it cannot have breaks */
	if (!v->broken)
		pending_resolve_refresh_mode(v);
	if (same && (v->broken || !relation_kind_changes(v)))
	{
		v->keep = v->type == MATVIEW_INCREMENTAL;
		return v->relid;
	}
create:
	/* out of the new relation's way, under a name no relation has */
	if (OidIsValid(v->relid))
	{
		/*
		 * the relation under the view's name by now (a redefinition may have
		 * committed meanwhile), locked as the rename will lock it: its
		 * indexes, read before the rename names it otherwise
		 */
		old = lock_relation_named(v->nspid, v->relname);
		if (OidIsValid(old))
			indexes = apply_saved_indexes(v, old);
		runas_ddl(v->owner, psprintf("ALTER %s %s RENAME TO %s",
									 relation_keyword(v->relid), pending_display_name(v),
									 quote_identifier(ChooseRelationName("pipeline_old", NULL,
																		 psprintf("%u", v->relid),
																		 v->nspid, false))));
	}
	shape = matview_create_relation(v->owner, v->schema_name, v->nspid, v->relname,
									v->type, v->mode, v->bound, v->key, v->options);
	differential_judging_view(shape);
	/* the indexes the redefinition will make again */
	if (!v->broken)
		apply_try_indexes(v, indexes, quote_qualified_identifier(v->schema_name, v->relname), shape);
	return shape;
}

/*
 * Judges one view inside the check's subtransaction: its query and shape
 * (judge_view_shape()), then its expectations (a definition's, or a
 * rebuilt view's stored ones), which must bind to its new columns as
 * define() binds them.
 */
static void
judge_view(PendingView *v)
{
	Oid			shape = judge_view_shape(v);
	MatviewDefinition def;
	RunAs		ra;

	if (v->broken)
		return;
	/* a rebuilt view's stored ones are read as its bound query is */
	def = v->def ? *v->def : *dpl_stored_options(v->type, v->options);
	def.name = v->name;
	def.bound_query = v->bound;
	(void) pending_begin_reading(v, &ra);
	audit_bind(&def, shape);
	pending_end_reading(v, &ra);
}

/* Marks the views that unmanaged objects (plain views, ...) depend on. */
static void
find_unmanaged_dependents(ChangeSet *cs)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(cs->count, 1));
	int			n = 0;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	SpiRows    *rows;
	uint64		r;
	int			i;

	for (i = 0; i < cs->count; i++)
		if (OidIsValid(cs->views[i].relid))
			elems[n++] = ObjectIdGetDatum(cs->views[i].relid);
	if (n == 0)
		return;
	values[0] = PointerGetDatum(construct_array(elems, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));

	/*
	 * What depends on a view's relation, or on its row type or that type's
	 * array (a function's argument, a table's column): the drop of the old
	 * relation would fail on either.
	 */
	rows = spi_rows(InvalidOid, "SELECT DISTINCT x.relid, "
					"       CASE WHEN r.ev_class IS NOT NULL "
					"            THEN CASE c.relkind WHEN 'm' THEN 'materialized view ' ELSE 'view ' END "
					"                 || r.ev_class::regclass::text "
					"            ELSE pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid) END "
					"  FROM (SELECT v.oid AS relid, 'pg_catalog.pg_class'::regclass AS refclassid, "
					"               v.oid AS refobjid "
					"          FROM pg_catalog.pg_class v WHERE v.oid = ANY ($1) "
					"        UNION ALL "
					"        SELECT v.oid, 'pg_catalog.pg_type'::regclass, rowtype.oid "
					"          FROM pg_catalog.pg_class v "
					"          JOIN pg_catalog.pg_type t ON t.oid = v.reltype "
					"          CROSS JOIN LATERAL pg_catalog.unnest(ARRAY[t.oid, t.typarray]) rowtype(oid) "
					"         WHERE v.oid = ANY ($1)) x "
					"  JOIN pg_catalog.pg_depend d "
					"    ON d.refclassid = x.refclassid AND d.refobjid = x.refobjid "
					"  LEFT JOIN pg_catalog.pg_rewrite r "
					"         ON d.classid = 'pg_catalog.pg_rewrite'::regclass AND r.oid = d.objid "
					"  LEFT JOIN pg_catalog.pg_class c ON c.oid = r.ev_class "
					" WHERE d.deptype = 'n' "
					"   AND (r.ev_class IS NULL OR r.ev_class <> ALL ($1)) "
	/* a differential view's table depends on what it reads */
					"   AND NOT (d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = ANY ($1)) "

	/*
	 * publication membership comes back (table_settings.c), its list and
	 * filter too
	 */
					"   AND d.classid <> 'pg_catalog.pg_publication_rel'::regclass "
					" ORDER BY 1, 2",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	for (r = 0; r < rows->count; r++)
	{
		bool		isnull;
		Oid			relid = DatumGetObjectId(spi_rows_value(rows, r, 0, &isnull));
		char	   *what = spi_rows_text(rows, r, 1);
		PendingView *v = &cs->views[changeset_find(cs, relid)];

		v->dependents = v->dependents
			? psprintf("%s, %s", v->dependents, what)
			: what;
	}
}

bool
pending_is_broken(PendingView *v)
{
	return v->broken || v->dependents != NULL;
}

char *
pending_verdict_detail(PendingView *v)
{
	StringInfoData buf;

	initStringInfo(&buf);
	if (v->def && !OidIsValid(v->relid))
		appendStringInfo(&buf, "new view %s", pending_display_name(v));
	if (v->detail)
		appendStringInfo(&buf, "%s%s", buf.len ? ": " : "", v->detail);
	if (v->dependents)
		appendStringInfo(&buf, "%s%s depends on it and is not managed by pipeline",
						 buf.len ? "; " : "", v->dependents);
	return buf.len ? buf.data : NULL;
}

/* judge_view() for subxact_try() */
static void
judge_view_try(void *arg)
{
	judge_view((PendingView *) arg);
}

/* Marks v broken, and returns true, when one of its upstreams breaks. */
static bool
upstream_breaks(ChangeSet *cs, PendingView *v)
{
	ListCell   *lc;

	foreach(lc, v->upstream)
	{
		PendingView *up = &cs->views[lfirst_int(lc)];

		/*
		 * (judged before v: whether it is kept, and so free of its
		 * dependents)
		 */
		if (up->broken || (up->dependents != NULL && !up->keep))
		{
			v->broken = true;
			v->detail = psprintf("upstream %s breaks", pending_display_name(up));
			return true;
		}
	}
	return false;
}

/*
 * changeset_judge()'s work inside its subtransaction, which is always
 * rolled back.
 */
static void
judge_change_set(ChangeSet *cs)
{
	int			i;

	/*
	 * Judging renames and recreates views: a check takes every lock that
	 * needs at once, all or nothing, as a redefinition did already, so it
	 * never waits for an upstream a run holds while holding a view the run
	 * wants next.  The subtransaction's rollback lets them go again.
	 */
	if (!cs->locked)
		changeset_lock(cs);
	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];
		ErrorData  *error;

		CHECK_FOR_INTERRUPTS();
		if (upstream_breaks(cs, v))
			continue;

		error = subxact_try(judge_view_try, v, false);
		/* out of memory, disk or lock table: not the view's doing */
		if (error != NULL && ERRCODE_TO_CATEGORY(error->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES)
			ReThrowError(error);
		if (error != NULL)
		{
			v->broken = true;
			v->detail = error->message;
			v->error = error;
		}
	}
}

/*
 * Runs judge_change_set() in a subtransaction that is rolled back whatever
 * happens.  Its own errors are caught view by view; one that escapes (a
 * lock error, a cancel) is passed on unchanged once the subtransaction is
 * gone, so it is never left open.
 */
static void
judge_in_rolled_back_subxact(ChangeSet *cs)
{
	MemoryContext caller = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller);
	PG_TRY();
	{
		judge_change_set(cs);
	}
	PG_CATCH();
	{
		ErrorData  *error;

		differential_judging_done();
		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(caller);
		CurrentResourceOwner = owner;
		ReThrowError(error);
	}
	PG_END_TRY();
	differential_judging_done();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(caller);
	CurrentResourceOwner = owner;
}

static bool
reads_any(List *reads, List *relations)
{
	ListCell   *lc;

	foreach(lc, relations)
		if (list_member_oid(reads, lfirst_oid(lc)))
			return true;
	return false;
}

/*
 * A mirror of the set that empties its stage (no @incremental-key) beside
 * another view of the set that reads that stage, or empties it too: each
 * passed its own checks, against the views stored before the set.
 */
static void
refuse_stage_readers_in_set(ChangeSet *cs)
{
	for (int i = 0; i < cs->count; i++)
	{
		PendingView *mirror = &cs->views[i];
		Oid			stage;
		List	   *family;

		if (mirror->def == NULL || mirror->type != MATVIEW_MIRROR || mirror->broken)
			continue;
		stage = mirror_stage(mirror->def);
		if (!OidIsValid(stage))
			continue;
		family = dag_family(stage);

		/* applying: claimed as a definition claims it */
		if (cs->locked)
			mirror_claim_stage(mirror->def, stage);
		for (int j = 0; j < cs->count; j++)
		{
			PendingView *reader = &cs->views[j];

			if (j == i || reader->def == NULL || !reads_any(reader->reads, family))
				continue;
			mirror->broken = true;
			mirror->detail = psprintf("mirror %s without @incremental-key cannot consume %s: %s of this update set reads it",
									  pending_display_name(mirror), relation_qualified_name(stage),
									  pending_display_name(reader));
			break;
		}
	}
}

void
changeset_judge(ChangeSet *cs)
{
	int			i;

	find_unmanaged_dependents(cs);
	judge_in_rolled_back_subxact(cs);
	refuse_stage_readers_in_set(cs);

	/* a table that is kept does not get in the way of what reads it */
	for (i = 0; i < cs->count; i++)
		if (cs->views[i].keep)
			cs->views[i].dependents = NULL;
}

void
changeset_refuse_breaks(ChangeSet *cs, const char *changed)
{
	StringInfoData detail;
	int			broken = 0;
	bool		blocked = false;	/* by objects pipeline does not manage */
	int			i;

	initStringInfo(&detail);
	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];

		if (!pending_is_broken(v))
			continue;
		broken++;
		blocked |= v->dependents != NULL;
		appendStringInfo(&detail, "%s%s: %s", detail.len ? "\n" : "",
						 pending_display_name(v), pending_verdict_detail(v));
	}
	if (broken == 0)
		return;

	/*
	 * A redefinition whose own query or expectations fail: their error, as a
	 * new view's definition raises it (what reads the view breaks only
	 * because of it)
	 */
	for (i = 0; changed && i < cs->count; i++)
		if (cs->views[i].def && cs->views[i].error && !cs->views[i].dependents)
			ThrowErrorData(cs->views[i].error);
	ereport(ERROR,
			(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
			 changed ?
			 errmsg_plural("redefining %s would break %d managed view",
						   "redefining %s would break %d managed views",
						   broken, changed, broken) :
			 errmsg_plural("the staged update set would break %d managed view",
						   "the staged update set would break %d managed views",
						   broken, broken),
			 errdetail_internal("%s", detail.data),
			 blocked ?
			 errhint("Drop the objects named above that pipeline does not manage, apply the change, then create them again.") :
			 errhint("Stage the change together with fixes for the broken views with pipeline.stage() and apply them with pipeline.apply_staged(); pipeline.check_staged() judges them as a whole.")));
}
