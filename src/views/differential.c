/*-------------------------------------------------------------------------
 * differential.c
 *	  One differential refresh (differential.h): the window of changes
 *	  since the view's position, the fallbacks to a full recompute, running
 *	  the generated SQL (diff_sql.h) and saving the new position.
 *
 *	  Everything a refresh reads, the change logs and the sources, it reads
 *	  in one snapshot, taken after the view's lock and after the capture of
 *	  every source is in place; the position saved is that snapshot.  A log
 *	  row commits or aborts with the write it describes, so the sources in
 *	  this snapshot are exactly the sources in the position's snapshot plus
 *	  the window's rows: nothing is missed or counted twice, and a refresh
 *	  that fails leaves the position, the view and its state as they were.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/comment.h"
#include "commands/defrem.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "nodes/params.h"
#include "optimizer/cost.h"
#include "parser/parse_func.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"
#include "utils/xid8.h"

#include "model/catalog.h"
#include "model/dag.h"
#include "model/dpl.h"
#include "util/analyze.h"
#include "util/extension_member.h"
#include "util/freed_memory.h"
#include "util/lock_tries.h"
#include "util/relation_name.h"
#include "util/runas.h"
#include "util/settings.h"
#include "util/spi_rows.h"
#include "util/subxact.h"
#include "views/capture.h"
#include "views/diff_expand.h"
#include "views/diff_sql.h"
#include "views/differential.h"

/* The change log of a captured source, qualified. */
static char *
capture_log_name(Oid source)
{
	int			ncolumns;
	AttrNumber *attnums;
	Oid			log = capture_log(source, &ncolumns, &attnums);

	if (!OidIsValid(log))
		elog(ERROR, "relation %u is not captured", source);
	return relation_qualified_name(log);
}

/* Changes of fewer rows than this are applied whatever the fraction. */
#define DIFFERENTIAL_MIN_ROWS_FOR_FULL 10000

/*
 * The most changed occurrences one SELECT may join in a differential
 * refresh.  Each changed occurrence's changes are joined with the others
 * as they are now or as they were before (each a table and its changes,
 * UNION ALL), so a row changed in several joined occurrences (a self-join,
 * or tables written together by key) is counted both ways in each: 2^(n-1)
 * rows a changed key, which at 16 occurrences took 1.3 s where the whole
 * query took 80 ms, and at 40 filled the disk.  A join of more tables,
 * fewer of them changed (a star of dimensions), stays differential.
 */
#define DIFFERENTIAL_MAX_CHANGED_OCCURRENCES 8

/* One changed source's rows in the window. */
typedef struct SourceWindow
{
	Oid			relid;
	TupleDesc	desc;
	Tuplestorestate *rows;
	uint64		count;
	bool		truncated;
	bool		only_new;		/* every row came, once (pipeline_m 1) */
} SourceWindow;

typedef struct DiffRefresh
{
	char	   *detail;			/* how it ran, for pipeline.runs.detail */
	Oid			relid;
	Oid			owner;
	char	   *view;			/* qualified */
	char	   *bound_query;	/* the view's stored bound query */
	char	   *state;			/* qualified; NULL for a bag view */
	DiffShape  *shape;
	DiffSql    *sql;
	List	   *windows;		/* SourceWindow of sources with changes */
	List	   *read;			/* every SourceWindow read */
	int64		rows;			/* the view's rows: set by a full refresh */
	uint64		changes;		/* rows of the windows read */
	int64		inserted;		/* rows a differential refresh wrote */
	int64		deleted;
	bool		rows_as_logged; /* windows read without consolidating them */
	DiffWritten *written;		/* where to note the rows written, or NULL */
} DiffRefresh;

const char *
differential_reason(const char *bound_query, Oid owner)
{
	return diff_classify(bound_query, owner, NULL);
}

static char *
state_table_name(Oid relid)
{
	return psprintf("state_%u", relid);
}

static Oid
state_table(Oid relid)
{
	return get_relname_relid(state_table_name(relid), get_namespace_oid(PIPELINE_SCHEMA, false));
}

void
differential_state_follows_owner(Oid relid, Oid owner)
{
	Oid			state = state_table(relid);

	if (OidIsValid(state) && catalog_relation_owner(state) != owner)
		runas_ddl(catalog_owner(),
				  psprintf("ALTER TABLE %s OWNER TO %s",
						   quote_qualified_identifier(PIPELINE_SCHEMA, state_table_name(relid)),
						   quote_identifier(GetUserNameFromId(owner, false))));
}

/*
 * Whether a view's state table (InvalidOid: yet to be made) keeps its
 * groups' best values for min() and max() (diff_sql.h): one made before
 * 1.7 keeps the extreme alone until the view is redefined.
 */
static bool
state_keeps_extremes(Oid state, DiffSql *sql)
{
	int			first = diff_sql_first_extreme(sql);
	Oid			argtypes[7] = {ANYARRAYOID, INT8OID, ANYARRAYOID, INT8ARRAYOID, ANYELEMENTOID, INT8OID,
	BOOLOID};

	if (first == 0)
		return false;
	if (OidIsValid(state))
		return get_attnum(state, psprintf("top_%d", first)) != InvalidAttrNumber;
	return OidIsValid(LookupFuncName(list_make2(makeString(PIPELINE_SCHEMA), makeString("extremes_after")),
									 7, argtypes, true));
}

/*
 * Whether the installed SQL has pipeline.name(argtypes): the library also
 * serves older SQL until ALTER EXTENSION pipeline UPDATE.
 */
static bool
pipeline_function_installed(const char *name, int nargs, const Oid *argtypes)
{
	return OidIsValid(LookupFuncName(list_make2(makeString(PIPELINE_SCHEMA), makeString(pstrdup(name))),
									 nargs, argtypes, true));
}

/*
 * 1.9's functions for differential refresh (extremes_merged(),
 * kept_extremes(..., copies), max_scale())
 */
static bool
functions_1_9_installed(void)
{
	Oid			argtypes[7] = {ANYARRAYOID, INT8OID, ANYARRAYOID, INT8ARRAYOID, ANYARRAYOID, INT8OID,
	BOOLOID};

	return pipeline_function_installed("extremes_merged", 7, argtypes);
}

/* 1.21's pipeline.numeric_sum(numeric) */
static bool
numeric_sum_installed(void)
{
	Oid			argtypes[1] = {NUMERICOID};

	return pipeline_function_installed("numeric_sum", 1, argtypes);
}

/*
 * The owner may still read what the query reads, as a recompute would
 * check: a delta term may read only a change log (which carries no
 * permission check), so the refresh checks, as the owner, first.
 */
static void
check_owner_may_read(DiffRefresh *r)
{
	RunAs		ra;
	ListCell   *lc;

	runas_begin_internal(&ra, r->owner);
	foreach(lc, r->shape->blocks)
		(void) ExecCheckRTPerms(((Query *) lfirst(lc))->rtable, true);
	runas_end(&ra);
}

/* Classifies and prepares; *reason says why not when it returns false. */
static bool
prepare(DiffRefresh *r, Oid relid, const char **reason)
{
	ManagedView *view;
	Oid			state = InvalidOid; /* a grouped view's, when made */
	ListCell   *lc;

	/*
	 * What it reads first, as REFRESH would: a rename in progress commits its
	 * new bound query before we read it.
	 */
	foreach(lc, dag_upstreams(relid))
		LockRelationOid(lfirst_oid(lc), AccessShareLock);
	/* the definition as of now: it may have been written just before */
	view = catalog_get_now(relid);

	r->relid = relid;
	r->owner = catalog_relation_owner(relid);
	r->view = relation_qualified_name(relid);
	r->bound_query = view->bound_query;
	*reason = diff_classify(r->bound_query, r->owner, &r->shape);
	if (*reason != NULL)
		return false;
	check_owner_may_read(r);
	if (r->shape->grouped)
	{
		state = state_table(relid);
		r->state = quote_qualified_identifier(PIPELINE_SCHEMA, state_table_name(relid));
		/* the state belongs to whoever owns the view now */
		differential_state_follows_owner(relid, r->owner);
	}
	r->sql = diff_sql_prepare(r->shape, r->view, r->state);
	if (r->shape->grouped)
	{
		bool		installed_1_9 = functions_1_9_installed();
		int			shared = diff_sql_shared_nn(r->sql);

		/* a state made before 1.9 has a count per aggregate */
		if (shared > 0 && (OidIsValid(state) ?
						   get_attnum(state, psprintf("nn_%d", shared)) != InvalidAttrNumber : !installed_1_9))
			diff_sql_share_columns(r->sql, false);
		diff_sql_keep_extremes(r->sql, state_keeps_extremes(state, r->sql));
		diff_sql_use_1_9_functions(r->sql, installed_1_9);
	}
	return true;
}

/*
 * The plan of a generated statement of the refresh, prepared as it runs:
 * as the view's owner, inside runas_begin_user_code() (which must be in
 * force): parsed with the pinned search_path its bound parts were deparsed
 * for, planned and run with the owner's.
 *
 * Kept across refreshes (runas_kept_user_plan()): parsing and planning the
 * large generated statements was most of the cost of a refresh of a few
 * changes.  A kept plan is a generic one, made for the number of rows of
 * its first run and the join methods allowed then, so plans are kept apart
 * by those: the changes read, to a factor of eight, and run_by_key()'s
 * settings.  *kept says whether the caller must leave the plan alone.
 */
static SPIPlanPtr
plan_as_owner(DiffRefresh *r, const char *sql, bool *kept)
{
	int64		size_class = 0;

	for (uint64 n = r->changes; n >= 8; n /= 8)
		size_class++;
	return runas_kept_user_plan(r->owner, sql,
								size_class * 8 + (enable_nestloop ? 4 : 0) +
								(enable_hashjoin ? 2 : 0) + (enable_mergejoin ? 1 : 0),
								kept);
}

/* Notes the place of a row the refresh wrote (see DiffWritten). */
static void
note_place(DiffWritten *written, Datum place)
{
	if (written->nplaces == written->capacity)
	{
		written->capacity = Max(64, written->capacity * 2);
		written->places = written->places ?
			repalloc_huge(written->places, sizeof(ItemPointerData) * written->capacity) :
			MemoryContextAllocHuge(written->context, sizeof(ItemPointerData) * written->capacity);
	}
	ItemPointerCopy((ItemPointer) DatumGetPointer(place), &written->places[written->nplaces++]);
}

/* The places a write returned in SPI_tuptable (DIFF_SQL_PLACE_COLUMN), if any. */
static void
note_places_returned(DiffRefresh *r)
{
	int			column;

	if (r->written == NULL || SPI_tuptable == NULL ||
		(column = SPI_fnumber(SPI_tuptable->tupdesc, DIFF_SQL_PLACE_COLUMN)) <= 0)
		return;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		place = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										  column, &isnull);

		note_place(r->written, place);
	}
}

/*
 * Runs one generated statement as the view's owner, as user code; a write
 * returning the places of the rows it wrote has them noted.
 */
static uint64
run_as_owner(DiffRefresh *r, const char *sql, bool read_only)
{
	SPIPlanPtr	plan;
	bool		kept;
	RunAs		ra;
	int			ret;

	runas_begin_user_code(&ra, r->owner);
	plan = plan_as_owner(r, sql, &kept);
	ret = SPI_execute_snapshot(plan, NULL, NULL, GetActiveSnapshot(), InvalidSnapshot,
							   read_only, true, 0);
	runas_end(&ra);
	if (ret < 0)
		elog(ERROR, "differential refresh statement failed (%s): %s",
			 SPI_result_code_string(ret), sql);
	if (!kept)
		SPI_freeplan(plan);
	if (!read_only)
		note_places_returned(r);
	return SPI_processed;
}

/* rows (desc, count of them) as the ephemeral relation name for what follows */
static void
register_rows(const char *name, TupleDesc desc, Tuplestorestate *rows, uint64 count)
{
	EphemeralNamedRelation enr = palloc0(sizeof(EphemeralNamedRelationData));

	enr->md.name = pstrdup(name);
	enr->md.reliddesc = InvalidOid;
	enr->md.tupdesc = desc;
	enr->md.enrtype = ENR_NAMED_TUPLESTORE;
	enr->md.enrtuples = count;
	enr->reldata = rows;
	if (SPI_register_relation(enr) != SPI_OK_REL_REGISTER)
		elog(ERROR, "could not register ephemeral relation \"%s\"", name);
}

/* What the rows of a delta (pipeline_dv, pipeline_dg) held. */
typedef struct DeltaRows
{
	Tuplestorestate *rows;
	uint64		count;
	int			nkeys;
	bool		null_keys;		/* a NULL among the first nkeys columns */
	bool		negative;		/* column nkeys + 1 (the count) below 0 */
	DiffWritten *written;		/* where a write's returned places go, or NULL */
} DeltaRows;

/* Receives a delta's rows straight into a tuplestore, noting DeltaRows'. */
typedef struct DeltaReceiver
{
	DestReceiver pub;
	DeltaRows  *delta;
	TupleDesc	desc;			/* copied in context */
	MemoryContext context;
} DeltaReceiver;

static void
delta_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	DeltaReceiver *receiver = (DeltaReceiver *) self;
	MemoryContext old = MemoryContextSwitchTo(receiver->context);

	/* the executor's memory goes with the statement: the relation stays */
	receiver->desc = CreateTupleDescCopy(typeinfo);
	MemoryContextSwitchTo(old);
	/* a write returning places returns them after the keys and the count */
	if (typeinfo->natts < receiver->delta->nkeys + 2 ||
		strcmp(NameStr(TupleDescAttr(typeinfo, receiver->delta->nkeys + 1)->attname),
			   DIFF_SQL_PLACE_COLUMN) != 0)
		receiver->delta->written = NULL;
}

static bool
delta_receive(TupleTableSlot *slot, DestReceiver *self)
{
	DeltaRows  *delta = ((DeltaReceiver *) self)->delta;

	slot_getsomeattrs(slot, delta->nkeys + 1);
	for (int k = 0; k < delta->nkeys && !delta->null_keys; k++)
		delta->null_keys = slot->tts_isnull[k];
	if (DatumGetInt64(slot->tts_values[delta->nkeys]) < 0)
		delta->negative = true;
	if (delta->written != NULL)
	{
		bool		isnull;

		note_place(delta->written, slot_getattr(slot, delta->nkeys + 2, &isnull));
	}
	tuplestore_puttupleslot(delta->rows, slot);
	delta->count++;
	return true;
}

static void
delta_shutdown(DestReceiver *self)
{
}

/*
 * Runs a statement of the refresh as the view's owner, its rows (a query's,
 * or what a write returns: read_only false) kept in context as the
 * ephemeral relation name for the statements after it (end delta->rows
 * when done).
 */
static void
run_into_relation(DiffRefresh *r, const char *sql, const char *name, int nkeys,
				  MemoryContext context, DeltaRows *delta, bool read_only)
{
	SPIPlanPtr	plan;
	bool		kept;
	DeltaReceiver receiver = {{delta_receive, delta_startup, delta_shutdown, delta_shutdown,
	DestNone}, delta, NULL, context};
	SPIExecuteOptions options = {0};
	MemoryContext old = MemoryContextSwitchTo(context);
	RunAs		ra;
	int			ret;

	memset(delta, 0, sizeof(DeltaRows));
	delta->nkeys = nkeys;
	delta->written = r->written;
	delta->rows = tuplestore_begin_heap(false, false, work_mem);
	MemoryContextSwitchTo(old);
	options.read_only = read_only;
	options.dest = (DestReceiver *) &receiver;
	runas_begin_user_code(&ra, r->owner);
	plan = plan_as_owner(r, sql, &kept);
	ret = SPI_execute_plan_extended(plan, &options);
	runas_end(&ra);
	/* SPI_OK_UTILITY: SPI calls a receiver of its own DestNone */
	if (ret < 0)
		elog(ERROR, "differential refresh statement failed (%s): %s",
			 SPI_result_code_string(ret), sql);
	if (!kept)
		SPI_freeplan(plan);
	register_rows(name, receiver.desc, delta->rows, delta->count);
}

/*
 * Whether this backend is writing a differential view's table for its
 * refresh: the view guard trigger (pipeline.view_guard()) refuses every
 * other write.  Set only around the refresh's statements.
 */
static bool writing_view = false;

static void
while_writing_view(void (*write) (DiffRefresh *r), DiffRefresh *r)
{
	writing_view = true;
	PG_TRY();
	{
		write(r);
	}
	PG_FINALLY();
	{
		writing_view = false;
	}
	PG_END_TRY();
}

PG_FUNCTION_INFO_V1(pipeline_view_guard);

/*
 * view_guard() RETURNS trigger: BEFORE INSERT, UPDATE, DELETE or TRUNCATE
 * of a differential view's table, per statement.  Its rows are its query's
 * answer and its state's image: a write by anyone else would make the
 * next refresh apply changes to rows that are not there.
 */
Datum
pipeline_view_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigger = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "pipeline.view_guard() is a trigger function");
	if (!writing_view)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("managed view %s is written only by its refresh",
						quote_qualified_identifier(get_namespace_name(RelationGetNamespace(trigger->tg_relation)),
												   RelationGetRelationName(trigger->tg_relation))),
				 errhint("Refresh it with pipeline.refresh(), or change its query with pipeline.define().")));
	return PointerGetDatum(NULL);
}

static void create_state_table(DiffRefresh *r);
static void record_source_dependencies(DiffRefresh *r);

/* Whether relid has extended statistics (CREATE STATISTICS) */
static bool
has_statistics_objects(Oid relid)
{
	Relation	view = table_open(relid, NoLock);
	bool		any = RelationGetStatExtList(view) != NIL;

	table_close(view, NoLock);
	return any;
}

/*
 * DELETE FROM relation (name), unless it never held a row: a new one, whose
 * DELETE a publication (of all tables, of its schema) would refuse for want
 * of a replica identity its owner cannot have set yet.
 */
static void
empty_unless_new(DiffRefresh *r, Oid relid, const char *name)
{
	Relation	rel = table_open(relid, NoLock);
	bool		never_written = RelationGetNumberOfBlocks(rel) == 0;

	table_close(rel, NoLock);
	if (!never_written)
		run_as_owner(r, psprintf("DELETE FROM %s", name), false);
}

/*
 * The view's table with the identity 1.26 gives new ones, when it has none
 * (the default without a primary key): one made before and restored from a
 * dump (whose CREATE EXTENSION skipped the update that gives it), whose
 * deletes a publication of all tables would refuse.
 */
static void
give_replica_identity(DiffRefresh *r)
{
	Relation	view = table_open(r->relid, NoLock);
	bool		none = view->rd_rel->relreplident == REPLICA_IDENTITY_DEFAULT &&
	!OidIsValid(RelationGetPrimaryKeyIndex(view));

	table_close(view, NoLock);
	if (none)
		runas_ddl(r->owner, psprintf("ALTER TABLE %s REPLICA IDENTITY FULL", r->view));
}

/* Recomputes the view: its rows replaced in this transaction. */
static void
apply_full(DiffRefresh *r)
{
	char	   *analyze;

	/* a restored view's state and dependencies were not dumped */
	if (r->state != NULL && !OidIsValid(state_table(r->relid)))
		create_state_table(r);
	record_source_dependencies(r);
	give_replica_identity(r);
	SPI_connect();
	if (r->state != NULL)
	{
		empty_unless_new(r, state_table(r->relid), r->state);
		empty_unless_new(r, r->relid, r->view);
		run_as_owner(r, diff_sql_state_populate(r->sql), false);
		r->rows = run_as_owner(r, diff_sql_view_populate(r->sql), false);
	}
	else
	{
		empty_unless_new(r, r->relid, r->view);
		r->rows = run_as_owner(r, diff_sql_bag_populate(r->sql, r->bound_query), false);

		/*
		 * the next refreshes' deletes find their rows by its index; a
		 * statistics object of the owner's needs every column it uses
		 */
		if ((analyze = diff_sql_bag_analyze(r->sql)) != NULL)
			runas_spi(r->owner, has_statistics_objects(r->relid)
					  ? psprintf("ANALYZE %s", r->view) : analyze,
					  0, NULL, NULL, NULL, false, 0, SPI_OK_UTILITY);
	}
	SPI_finish();
}

/* Groups whose extreme or scale may have gone: recomputed from the sources. */
static void
recompute_stale_groups(DiffRefresh *r)
{
	int			steps = diff_sql_state_recompute_steps(r->sql);
	int64		without_null;
	int64		with_null;
	bool		isnull;

	/* not read-only: it must see what the MERGE just wrote */
	run_as_owner(r, diff_sql_state_stale_count(r->sql), false);
	if (SPI_processed != 1)
		elog(ERROR, "could not count stale groups");
	without_null = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	with_null = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	for (int step = 1; step <= steps; step++)
		for (int with_nulls = 0; with_nulls <= 1; with_nulls++)
		{
			char	   *sql = diff_sql_state_recompute(r->sql, with_nulls, step);
			int64		groups = with_nulls ? with_null : without_null;

			if (sql != NULL && groups > 0)
				run_as_owner(r, sql, false);
		}
}

/* The sources with changes in the windows (Oids). */
static List *
changed_sources(DiffRefresh *r)
{
	List	   *changed = NIL;
	ListCell   *lc;

	foreach(lc, r->windows)
		changed = lappend_oid(changed, ((SourceWindow *) lfirst(lc))->relid);
	return changed;
}

/*
 * Each changed source's window as its ephemeral relation, in the caller's
 * SPI connection; returns the delta that reads them.
 */
static char *
register_windows(DiffRefresh *r)
{
	ListCell   *lc;

	foreach(lc, r->windows)
	{
		SourceWindow *window = lfirst(lc);

		register_rows(psprintf("pipeline_delta_%u", window->relid), window->desc,
					  window->rows, window->count);
	}
	return diff_sql_delta(r->sql, changed_sources(r));
}

/*
 * Whether the delta is of gains alone (diff_sql.h): every window's rows
 * came, and no branch of the query reads two changed sources.
 */
static bool
gains_only(DiffRefresh *r)
{
	ListCell   *lc;

	foreach(lc, r->windows)
		if (!((SourceWindow *) lfirst(lc))->only_new)
			return false;
	return diff_sql_gains_only(r->sql, changed_sources(r));
}

/*
 * Joins of the changed groups with the state and the view: by index, or
 * by hashing what is read whole (never sorting it for a merge join, nor
 * looking up one side per row because a state or view not analyzed since
 * it grew looks small).  A join left with no allowed method (the one row
 * of a view without GROUP BY, joined ON true, has only a nested loop) is
 * priced at the planner's disable_cost, which would pass jit_above_cost
 * and compile a one-row statement for 150 ms: applying_changes has no JIT.
 */
static const RunAsSetting find_groups_by_key[] = {
	{"enable_hashjoin", "off"},
	{"enable_mergejoin", "off"},
};
static const RunAsSetting find_groups_by_hash[] = {
	{"enable_mergejoin", "off"},
	{"enable_nestloop", "off"},
};

/*
 * The delta per group of changes with rows that went is sorted by group,
 * not hashed: the planner counts 8 kB for each of its array_agg()s of the
 * values gone (an aggregate of internal state that declares no size), so a
 * HashAggregate holds a few hundred groups in memory and spills the rest
 * in batches, read and hashed again; their real state is a few bytes.
 */
static const RunAsSetting delta_of_losses[] = {
	{"enable_hashagg", "off"},
};

/*
 * Every statement applying the changes: the planner prices a join with a
 * changed table as it was (the table and its changes, UNION ALL) far above
 * what a small change reads, past jit_above_cost, and compiling took 90%
 * of such a refresh (a self-join of 6 to 16 occurrences, one row changed).
 */
static const RunAsSetting applying_changes[] = {
	{"jit", "off"},
};

/* Pins the join methods find_groups_by_key or _by_hash allow; unpin with its level. */
static int
pin_group_joins(bool by_key)
{
	return by_key ?
		runas_pin_settings(find_groups_by_key, lengthof(find_groups_by_key)) :
		runas_pin_settings(find_groups_by_hash, lengthof(find_groups_by_hash));
}

/* Whether so many changed groups are few enough to be found by key. */
static bool
few_groups(DiffRefresh *r, uint64 groups)
{
	return r->rows > 0 && groups * 5 <= (uint64) r->rows;
}

/*
 * Runs a statement joining the changed groups (pipeline_dg) with the state
 * or the view, as run_as_owner() does.  by_key: when up to one in five
 * groups changed, it finds them by key in the state's and the view's
 * indexes, which the planner would price as uncached and pass over for
 * reading both whole.  Above that, reading both whole into a hash table
 * costs less than an index lookup per group (counted at 10,000 groups:
 * even at 20% changed, 17% fewer instructions by key at 10%, 6% fewer
 * hashed at 31%, 10% fewer at 63%, what an append of 0.1% to 10M rows
 * changes).  The rows with a NULL key are matched as records, which only
 * the index of several keys' record hash serves.
 */
static uint64
run_by_key(DiffRefresh *r, const char *sql, bool by_key)
{
	int			nestlevel = pin_group_joins(by_key);
	uint64		rows = run_as_owner(r, sql, false);

	runas_unpin_settings(nestlevel);
	return rows;
}

/*
 * run_by_key() for a statement whose rows (a write's: read_only false) are
 * kept as the ephemeral relation name (run_into_relation()): the view's
 * UPDATE returning the keys it rewrote (pipeline_du), the keys it did not
 * reach (pipeline_dl).  Returns how many rows.
 */
static uint64
run_keeping_keys(DiffRefresh *r, const char *sql, const char *name, bool by_key,
				 MemoryContext context, DeltaRows *keys, bool read_only)
{
	int			nestlevel = pin_group_joins(by_key);

	run_into_relation(r, sql, name, diff_sql_key_count(r->sql), context, keys, read_only);
	runas_unpin_settings(nestlevel);
	return keys->count;
}

/* Applies the windows' changes. */
static void
apply_changes(DiffRefresh *r)
{
	MemoryContext context = CurrentMemoryContext;
	char	   *delta;
	bool		gains;
	int			nkeys;
	DeltaRows	counted;
	int			no_jit;

	SPI_connect();
	no_jit = runas_pin_settings(applying_changes, lengthof(applying_changes));
	delta = register_windows(r);
	gains = gains_only(r);
	nkeys = diff_sql_key_count(r->sql);
	if (r->state == NULL)
	{
		run_into_relation(r, diff_sql_bag_counts(r->sql, delta), "pipeline_dv", nkeys, context,
						  &counted, true);
		/* an append deletes nothing: no statement that looks for rows */
		if (counted.negative)
		{
			r->deleted = run_as_owner(r, diff_sql_bag_delete(r->sql, false), false);
			if (counted.null_keys)
				r->deleted += run_as_owner(r, diff_sql_bag_delete(r->sql, true), false);
		}
		r->inserted = run_as_owner(r, diff_sql_bag_insert(r->sql, r->written != NULL), false);
	}
	else
	{
		int			passes;
		bool		few;
		bool		keys_returned;
		DeltaRows	rewritten = {0};
		DeltaRows	left = {0};
		int			nestlevel = 0;

		if (!gains)
			nestlevel = runas_pin_settings(delta_of_losses, lengthof(delta_of_losses));
		/* up to 32 rows a group, adding costs less than sum()'s state */
		diff_sql_sum_by_adding(r->sql, r->changes <= 32 * (uint64) Max(r->rows, 1) &&
							   numeric_sum_installed());
		run_into_relation(r, diff_sql_group_delta(r->sql, delta, gains), "pipeline_dg", nkeys,
						  context, &counted, true);
		if (!gains)
			runas_unpin_settings(nestlevel);
		few = nkeys > 0 && few_groups(r, counted.count);

		/*
		 * Which groups the view's UPDATE did not rewrite is asked of the keys
		 * it returns, but after gains alone without HAVING they are the new
		 * groups, found in the view when there are any: storing 6,300 keys of
		 * an append cost more than the rest of its UPDATE's returning.
		 */
		keys_returned = r->written != NULL || !gains || diff_sql_has_having(r->sql);
		run_by_key(r, diff_sql_state_merge(r->sql, false, gains, few), few);
		if (counted.null_keys && diff_sql_null_keys_indexed(r->sql))
			run_by_key(r, diff_sql_state_merge(r->sql, true, gains, few), few);
		else if (counted.null_keys)
			run_as_owner(r, diff_sql_state_merge(r->sql, true, gains, false), false);
		recompute_stale_groups(r);
		/* a second pass for groups with a NULL key, matched as records */
		passes = counted.null_keys && nkeys > 0 ? 2 : 1;
		for (int with_nulls = 0; with_nulls < passes; with_nulls++)
		{
			bool		by_key = few && (!with_nulls || diff_sql_null_keys_indexed(r->sql));
			char	   *update = diff_sql_view_update_groups(r->sql, with_nulls, r->written != NULL,
															 keys_returned, by_key);
			bool		left_only = update != NULL && !with_nulls;
			uint64		updated;

			if (left_only && keys_returned)
				updated = run_keeping_keys(r, update, "pipeline_du", by_key, context, &rewritten,
										   false);
			else
				updated = update != NULL ? run_by_key(r, update, by_key) : 0;

			/*
			 * Every changed group kept its state and its row, which passed
			 * HAVING and was rewritten (the usual case): none left the answer
			 * or came into it.
			 */
			if (!counted.null_keys && updated == counted.count)
				continue;

			/*
			 * The groups that were not rewritten (pipeline_du holds those
			 * that were): gone, new or failing HAVING, usually few.  Found by
			 * hashing, kept with their exact number, then by key when few.
			 */
			if (left_only)
				by_key = few_groups(r, run_keeping_keys(r, keys_returned ?
														diff_sql_group_keys_left(r->sql) :
														diff_sql_group_keys_new(r->sql),
														"pipeline_dl", false, context, &left,
														true));
			/* a group leaves the answer by losing rows or failing HAVING */
			if (nkeys == 0 || counted.negative || diff_sql_has_having(r->sql))
				r->deleted += run_by_key(r, diff_sql_view_delete_groups(r->sql, with_nulls, left_only,
																		by_key),
										 by_key);
			r->inserted += run_by_key(r, diff_sql_view_insert_groups(r->sql, with_nulls, left_only,
																	 r->written != NULL, by_key),
									  by_key);
		}
		if (rewritten.rows != NULL)
			tuplestore_end(rewritten.rows);
		if (left.rows != NULL)
			tuplestore_end(left.rows);
	}
	runas_unpin_settings(no_jit);
	SPI_finish();
	/* its file, when it spilled, goes now rather than at commit */
	tuplestore_end(counted.rows);
}

/* The settings, when the view calls stable built-ins: see depends_on(). */
static char *
settings_read(DiffRefresh *r)
{
	return r->shape->reads_settings ? runas_answer_settings() : pstrdup("");
}

/*
 * What a view's answer depends on besides its sources' rows, saved with its
 * position: the settings when it calls stable built-ins (timestamptz::date
 * depends on TimeZone, to_char on lc_time, ...), then the definitions of
 * the plain views it reads and of the user functions it calls.  Rows applied under other settings or other
 * views would not be the recompute's.  Empty for a view of tables and
 * immutable expressions only.
 */
#define VIEWS_PREFIX "; plain views "
#define FUNCTIONS_PREFIX "; functions "

static char *
depends_on(DiffRefresh *r)
{
	char	   *settings = settings_read(r);

	return psprintf("%s%s%s%s%s", settings,
					r->shape->views[0] ? VIEWS_PREFIX : "", r->shape->views,
					r->shape->functions[0] ? FUNCTIONS_PREFIX : "", r->shape->functions);
}

/* The part of depends_on() text s after prefix, up to end (if any), or "" */
static char *
depends_on_part(const char *s, const char *prefix, const char *end)
{
	const char *from = strstr(s, prefix);
	const char *to;

	if (from == NULL)
		return "";
	from += strlen(prefix);
	to = end ? strstr(from, end) : NULL;
	return to ? pnstrdup(from, to - from) : pstrdup(from);
}

/* Why what the view depends on differs from saved's, or NULL. */
static char *
depends_on_differs(DiffRefresh *r, const char *saved)
{
	char	   *now = depends_on(r);

	if (strcmp(saved, now) == 0)
		return NULL;
	if (strcmp(depends_on_part(saved, VIEWS_PREFIX, FUNCTIONS_PREFIX),
			   depends_on_part(now, VIEWS_PREFIX, FUNCTIONS_PREFIX)) != 0)
		return "a plain view it reads was replaced since its last refresh";
	if (strcmp(depends_on_part(saved, FUNCTIONS_PREFIX, NULL),
			   depends_on_part(now, FUNCTIONS_PREFIX, NULL)) != 0)
		return "a function it calls was replaced since its last refresh";
	return psprintf("the settings its expressions depend on differ from its last refresh's (%s)",
					settings_read(r));
}

/* The view's saved position: snapshot, xid, command id; NULL when none. */
static SpiRows *
read_position(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	SpiRows    *rows;

	rows = spi_rows(catalog_owner(),
					"SELECT snapshot, xid, command_id, row_count, settings FROM pipeline.differential_positions "
					"WHERE matview = $1",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	return rows->count == 1 ? rows : NULL;
}

static void
save_position(Oid relid, int64 rows, const char *settings)
{
	Oid			argtypes[5] = {OIDOID, PG_SNAPSHOTOID, INT8OID, INT8OID, TEXTOID};
	Datum		values[5];
	SpiRows    *snapshot;
	bool		isnull;

	/* a read-only statement sees the active snapshot itself */
	snapshot = spi_rows(catalog_owner(), "SELECT pg_catalog.pg_current_snapshot()",
						0, NULL, NULL, NULL, true, SPI_OK_SELECT);
	values[0] = ObjectIdGetDatum(relid);
	values[1] = spi_rows_value(snapshot, 0, 0, &isnull);
	values[2] = Int64GetDatum((int64) GetActiveSnapshot()->curcid);
	values[3] = Int64GetDatum(rows);
	values[4] = CStringGetTextDatum(settings);
	(void) spi_rows(catalog_owner(),
					"INSERT INTO pipeline.differential_positions "
					"       (matview, snapshot, xid, command_id, row_count, settings, saved_at) "
					"VALUES ($1, $2, pg_catalog.pg_current_xact_id(), $3, $4, $5, pg_catalog.now()) "
					"ON CONFLICT (matview) DO UPDATE SET snapshot = excluded.snapshot, "
					"xid = excluded.xid, command_id = excluded.command_id, row_count = excluded.row_count, "
					"settings = excluded.settings, saved_at = excluded.saved_at",
					5, argtypes, values, NULL, false, -1);
}

void
differential_position_current(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	if (!catalog_has_column("differential_positions", "saved_at"))
		return;
	(void) spi_rows(catalog_owner(),
					"UPDATE pipeline.differential_positions SET saved_at = pg_catalog.now() "
					" WHERE matview = $1",
					1, argtypes, values, NULL, false, -1);
}

static void
forget_position(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};

	(void) spi_rows(catalog_owner(),
					"DELETE FROM pipeline.differential_positions WHERE matview = $1",
					1, argtypes, values, NULL, false, -1);
}

/*
 * Receives a window's rows (its columns, pipeline_m, and a flag) straight
 * into its tuplestore, without the flag, which it reads.  Read plainly, the
 * flag says a row is not a new row image (a delete's, an update's old one,
 * a truncate marker): the receiver then stops the scan, since the window
 * must be consolidated.  Read consolidated or as logged, it says the
 * source was truncated.
 */
typedef struct WindowReceiver
{
	DestReceiver pub;
	SourceWindow *window;
	MemoryContext context;		/* the window's */
	bool		plain;
} WindowReceiver;

static void
window_startup(DestReceiver *self, int operation, TupleDesc typeinfo)
{
	WindowReceiver *receiver = (WindowReceiver *) self;
	MemoryContext old = MemoryContextSwitchTo(receiver->context);

	/* the ephemeral relation has the columns and pipeline_m */
	receiver->window->desc = CreateTupleDescCopy(typeinfo);
	receiver->window->desc->natts = typeinfo->natts - 1;
	MemoryContextSwitchTo(old);
}

static bool
window_receive(TupleTableSlot *slot, DestReceiver *self)
{
	WindowReceiver *receiver = (WindowReceiver *) self;
	SourceWindow *window = receiver->window;
	int			natts = slot->tts_tupleDescriptor->natts;

	slot_getallattrs(slot);
	if (DatumGetBool(slot->tts_values[natts - 1]))
	{
		if (receiver->plain)
		{
			receiver->plain = false;
			return false;
		}
		window->truncated = true;
		window->only_new = false;
	}
	if (DatumGetInt64(slot->tts_values[natts - 2]) != 1)
		window->only_new = false;
	if (DatumGetInt64(slot->tts_values[natts - 2]) != 0)
	{
		tuplestore_putvalues(window->rows, window->desc, slot->tts_values, slot->tts_isnull);
		window->count++;
	}
	return true;
}

static void
window_shutdown(DestReceiver *self)
{
}

static void
window_destroy(DestReceiver *self)
{
}

/* a window's parameters: the position's snapshot, xid and command id */
static const Oid window_argtypes[3] = {PG_SNAPSHOTOID, XID8OID, INT8OID};

/*
 * Runs one statement reading a window (read_window()) into receiver, as the
 * catalog owner.  Prepared once per text and kept, as internal statements
 * are, and without CURSOR_OPT_PARALLEL_OK: a log holding dead rows until
 * vacuum looks big enough for parallel workers, whose start and tuple queue
 * cost more than reading a window alone (50 against 7 ms for 10,000 rows
 * behind 120,000 dead ones).
 */
static void
run_window_query(const char *sql, ParamListInfo params, WindowReceiver *receiver)
{
	/*
	 * a value's text, by which a window groups, as exact whatever the
	 * session's
	 */
	static const RunAsSetting window_settings[] = {
		{"extra_float_digits", "3"},
		{"datestyle", "ISO, YMD"},
		{"intervalstyle", "postgres"},
		{"bytea_output", "hex"},
	};
	SPIExecuteOptions options = {0};
	SPIPlanPtr	plan;
	bool		kept;
	RunAs		ra;
	int			nestlevel;
	int			ret;

	options.params = params;
	options.read_only = true;
	options.dest = (DestReceiver *) receiver;
	plan = runas_kept_internal_plan(catalog_owner(), sql, 3, (Oid *) window_argtypes, &kept);
	runas_begin_internal(&ra, catalog_owner());
	nestlevel = runas_pin_settings(window_settings, lengthof(window_settings));
	ret = SPI_execute_plan_extended(plan, &options);
	runas_unpin_settings(nestlevel);
	runas_end(&ra);
	if (!kept)
		SPI_freeplan(plan);
	/* SPI_OK_UTILITY: SPI calls a receiver of its own DestNone */
	if (ret < 0)
		elog(ERROR, "could not read the change log of %u", receiver->window->relid);
}

/*
 * read_window()'s end: a domain's column, logged as its base type, is the
 * domain's again, so the view's query reads the change as it reads the
 * source.  The values were checked when they were written.
 */
static SourceWindow *
window_read(SourceWindow *window, DiffSource *source)
{
	int			attnum = -1;
	int			i = 0;

	while ((attnum = bms_next_member(source->attnums, attnum)) >= 0)
	{
		Form_pg_attribute attr = TupleDescAttr(window->desc, i++);
		Oid			collation;

		get_atttypetypmodcoll(source->relid, attnum, &attr->atttypid, &attr->atttypmod,
							  &collation);
	}
	SPI_finish();
	return window;
}

/*
 * Whether a view may read its windows as logged, every row image with its
 * sign, instead of consolidated: when no expression is evaluated on a
 * source row, a row that came and went inside the window is only counted
 * twice, once each way, by aggregates that are sums of what rows bring
 * (count, sum, avg, the scales kept, bool_and and bool_or as counts) or
 * keep values (min, max: a value that went and was not kept is taken from
 * the best that came, diff_extremes.c).  So: one
 * table read once, no WHERE, plain columns as group keys and aggregate
 * arguments, no FILTER or DISTINCT.  Consolidating costs a sort of the
 * window by every column it reads.
 */
static bool
reads_rows_as_logged(DiffShape *shape)
{
	Query	   *query = linitial(shape->blocks);
	ListCell   *lc;

	if (list_length(shape->blocks) != 1 || list_length(shape->sources) != 1 ||
		shape->aggs == NIL || query->distinctClause != NIL || query->hasTargetSRFs ||
		list_length(query->rtable) != 1 || query->jointree->quals != NULL)
		return false;
	foreach(lc, shape->keys)
		if (!IsA(lfirst_node(TargetEntry, lc)->expr, Var))
			return false;
	foreach(lc, shape->aggs)
	{
		DiffAgg    *agg = lfirst(lc);

		if ((agg->arg != NULL && !IsA(agg->arg, Var)) || agg->aggref->aggfilter != NULL ||
			agg->aggref->aggdistinct != NIL)
			return false;
	}
	return true;
}

/*
 * The rows of source's log the snapshot sees and the position did not: of
 * another transaction, those not visible to the position's snapshot; of the
 * position's own transaction, those written at or after its command id.
 */
static SourceWindow *
read_window(DiffRefresh *r, DiffSource *source, SpiRows *position)
{
	SourceWindow *window = palloc0(sizeof(SourceWindow));
	WindowReceiver receiver = {{window_receive, window_startup, window_shutdown, window_destroy,
	DestNone}, window, CurrentMemoryContext, true};
	ParamListInfo params = makeParamList(3);
	StringInfoData columns;
	StringInfoData groups;
	StringInfoData sql;
	const char *log = capture_log_name(source->relid);
	const char *multiplicity = diff_sql_multiplicity_column(r->sql, source->relid);
	const char *in_window = "l.xid OPERATOR(pg_catalog.>=) pg_catalog.pg_snapshot_xmin($1) "
	"AND NOT CASE WHEN l.xid OPERATOR(pg_catalog.=) $2 THEN l.cid < $3 "
	"ELSE pg_catalog.pg_visible_in_snapshot(l.xid, $1) END";
	int			attnum = -1;

	for (int i = 0; i < 3; i++)
	{
		params->params[i].value = spi_rows_value(position, 0, i, &params->params[i].isnull);
		params->params[i].ptype = window_argtypes[i];
		params->params[i].pflags = PARAM_FLAG_CONST;
	}
	initStringInfo(&columns);
	while ((attnum = bms_next_member(source->attnums, attnum)) >= 0)
		appendStringInfo(&columns, "l.a%d AS %s, ", attnum,
						 quote_identifier(get_attname(source->relid, attnum, false)));
	window->relid = source->relid;
	window->rows = tuplestore_begin_heap(false, false, work_mem);
	window->only_new = true;
	SPI_connect();

	/* the rows as logged, each image with its sign (reads_rows_as_logged()) */
	initStringInfo(&sql);
	if (r->rows_as_logged)
	{
		receiver.plain = false;
		appendStringInfo(&sql, "SELECT %sl.sign::pg_catalog.int8 AS %s, "
						 "l.sign OPERATOR(pg_catalog.=) 0 AS pipeline_truncated FROM %s l WHERE %s",
						 columns.data, multiplicity, log, in_window);
		run_window_query(sql.data, params, &receiver);
		return window_read(window, source);
	}

	/*
	 * A window of new row images alone (inserts, COPY) is the change as it
	 * stands: every row is in the snapshot, and a row twice counts as two.
	 */
	appendStringInfo(&sql, "SELECT %s1::pg_catalog.int8 AS %s, "
					 "l.sign OPERATOR(pg_catalog.<>) 1 AS pipeline_other FROM %s l WHERE %s",
					 columns.data, multiplicity, log, in_window);
	run_window_query(sql.data, params, &receiver);
	if (receiver.plain)
		return window_read(window, source);

	/*
	 * Else consolidated: a row that came and went inside the window cancels
	 * out, so no expression is evaluated on a row neither snapshot holds.
	 */
	tuplestore_clear(window->rows);
	window->count = 0;
	window->only_new = true;
	resetStringInfo(&columns);
	initStringInfo(&groups);
	attnum = -1;
	while ((attnum = bms_next_member(source->attnums, attnum)) >= 0)
	{
		char	   *value = psprintf("l.a%d", attnum);
		Oid			type;
		int32		typmod;
		Oid			collation;

		get_atttypetypmodcoll(source->relid, attnum, &type, &typmod, &collation);
		appendStringInfoString(&groups, groups.len > 0 ? ", " : " GROUP BY ");

		/*
		 * Grouped by how a value reads where equal ones may read differently
		 * (2.5, 2.50): a row updated from one to the other changes the view,
		 * as a recompute would show.  A type without equality (json, point,
		 * xml) is grouped by how it reads alone, its text being the value.
		 */
		if (!type_has_equality(type))
		{
			appendStringInfo(&columns, "(pg_catalog.array_agg(%s))[1] AS %s, ", value,
							 quote_identifier(get_attname(source->relid, attnum, false)));
			appendStringInfoString(&groups, reading_sql(value, type));
			continue;
		}
		appendStringInfo(&columns, "%s AS %s, ", value,
						 quote_identifier(get_attname(source->relid, attnum, false)));
		appendStringInfoString(&groups, value);
		if (!equality_is_image(type, collation))
			appendStringInfo(&groups, ", %s", reading_sql(value, type));
	}
	resetStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %spg_catalog.sum(l.sign)::pg_catalog.int8 AS %s, "
					 "pg_catalog.bool_or(l.sign = 0) AS pipeline_truncated FROM %s l WHERE %s%s"
					 " HAVING pg_catalog.sum(l.sign) <> 0 OR pg_catalog.bool_or(l.sign = 0)",
					 columns.data, multiplicity, log, in_window, groups.data);
	run_window_query(sql.data, params, &receiver);
	return window_read(window, source);
}

/*
 * Makes sure every source is captured with the columns the view reads.
 * True when something had to be registered: the refresh is then full.
 */
static bool
ensure_capture(DiffRefresh *r)
{
	bool		registered = false;
	ListCell   *lc;

	foreach(lc, r->shape->sources)
	{
		DiffSource *source = lfirst(lc);

		if (!capture_serves(r->relid, source->relid, source->attnums))
		{
			capture_register(r->relid, source->relid, source->attnums);
			registered = true;
		}
	}
	return registered;
}

static List *delta_columns(DiffRefresh *r, List *columns, char **reason);

void
differential_lock_sources_to_capture(const ManagedView *view)
{
	DiffShape  *shape;
	ListCell   *lc;

	if (view->type != MATVIEW_REGULAR && view->type != MATVIEW_UNLOAD)
		return;
	if (diff_classify(view->bound_query, catalog_relation_owner(view->relid), &shape) != NULL)
		return;
	if (view->type == MATVIEW_UNLOAD)
	{
		/* a publication follows changes only by what delta_columns() takes */
		DiffRefresh r = {0};
		char	   *reason = NULL;

		r.shape = shape;
		(void) delta_columns(&r, dpl_stored_options(MATVIEW_UNLOAD, view->options_json)->unload_partition_by,
							 &reason);
		if (reason != NULL)
			return;
	}
	foreach(lc, shape->sources)
	{
		DiffSource *source = lfirst(lc);

		/*
		 * in a refresh worker, not queued for without limit: a writer's long
		 * transaction would hold the worker, and the writers queued behind it
		 * (lock_tries.h)
		 */
		if (!capture_serves(view->relid, source->relid, source->attnums))
			lock_unless_held_long(source->relid, ShareRowExclusiveLock);
	}
}

/* The planner's estimate of relid's rows (0 when never analyzed). */
static double
relation_tuples(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	double		tuples = 0;

	if (HeapTupleIsValid(tuple))
	{
		tuples = Max(0, ((Form_pg_class) GETSTRUCT(tuple))->reltuples);
		ReleaseSysCache(tuple);
	}
	return tuples;
}

/* NULL when the windows can be applied, else why the refresh is full. */
static char *
read_windows(DiffRefresh *r)
{
	SpiRows    *position = read_position(r->relid);
	ListCell   *lc;

	/*
	 * The view's columns are captured since its registration, which its
	 * position has seen (ensure_capture() made the refresh full otherwise);
	 * widening for another view (capture_xid) does not matter to it.
	 */
	if (position == NULL)
		return "no saved position (first refresh, after a restore or an upgrade, or pipeline.change_log_retention passed)";
	{
		bool		isnull;
		char	   *differs = depends_on_differs(r, spi_rows_text(position, 0, 4));

		r->rows = DatumGetInt64(spi_rows_value(position, 0, 3, &isnull));
		if (differs != NULL)
			return differs;
	}
	if (r->state != NULL && !OidIsValid(state_table(r->relid)))
		return "the view's state is missing";
	foreach(lc, r->shape->sources)
	{
		DiffSource *source = lfirst(lc);
		SourceWindow *window;
		char	   *name = relation_qualified_name(source->relid);
		double		reltuples;

		window = read_window(r, source, position);
		r->read = lappend(r->read, window);
		if (window->truncated)
			return psprintf("source %s was truncated", name);
		reltuples = relation_tuples(source->relid);
		if (window->count > DIFFERENTIAL_MIN_ROWS_FOR_FULL &&
			window->count > pipeline_differential_max_fraction * reltuples)
			return psprintf("%llu changes in %s, more than pipeline.differential_max_fraction of its rows",
							(unsigned long long) window->count, name);
		if (window->count > 0)
			r->windows = lappend(r->windows, window);
		r->changes += window->count;
	}
	if (r->sql != NULL)
	{
		int			changed = diff_sql_changed_occurrences(r->sql, changed_sources(r));

		if (changed > DIFFERENTIAL_MAX_CHANGED_OCCURRENCES)
			return psprintf("changes in %d tables of one join (each of a self-join counts), more than %d",
							changed, DIFFERENTIAL_MAX_CHANGED_OCCURRENCES);
	}
	return NULL;
}

static char *
describe_windows(DiffRefresh *r)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "differential: ");
	if (r->windows == NIL)
		appendStringInfoString(&buf, "no changes");
	foreach(lc, r->windows)
	{
		SourceWindow *window = lfirst(lc);

		appendStringInfo(&buf, "%s%llu %s in %s", foreach_current_index(lc) > 0 ? ", " : "",
						 (unsigned long long) window->count,
						 window->count == 1 ? "change" : "changes",
						 relation_qualified_name(window->relid));
	}
	return buf.data;
}

/* After a refresh: positions saved, logs pruned. */
static void
finish(DiffRefresh *r, bool position_usable)
{
	ListCell   *lc;

	/* the windows' files, when they spilled, go now rather than at commit */
	foreach(lc, r->read)
		tuplestore_end(((SourceWindow *) lfirst(lc))->rows);
	if (position_usable)
	{
		foreach(lc, r->shape->sources)
			capture_hold_log(((DiffSource *) lfirst(lc))->relid);
		save_position(r->relid, r->rows, depends_on(r));
	}
	else
		forget_position(r->relid);
	foreach(lc, r->shape->sources)
		capture_prune(((DiffSource *) lfirst(lc))->relid);
}

/*
 * A view whose query the classifier no longer accepts (a source now has
 * row-level security, say): its rows replaced by a recompute, its position
 * forgotten so that a later differential refresh starts over.
 */
static void
recompute_rows(DiffRefresh *r)
{
	SPI_connect();
	run_as_owner(r, psprintf("DELETE FROM %s", r->view), false);
	r->rows = run_as_owner(r, psprintf("INSERT INTO %s %s", r->view, r->bound_query), false);
	SPI_finish();
}

static uint64
refresh_unsupported(DiffRefresh *r, const char *reason)
{
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	while_writing_view(recompute_rows, r);
	forget_position(r->relid);
	PopActiveSnapshot();
	r->detail = psprintf("full: %s", reason);
	return (uint64) r->rows;
}

/*
 * Refuses a refresh while a source has trigger events pending: a write whose
 * statement has not ended (a data-modifying WITH around the refresh, a
 * statement trigger that refreshes) is in the source but not yet in its
 * change log, which the statement's end writes after the position this
 * refresh saves, so the next refresh would apply it again.  PostgreSQL
 * refuses ALTER TABLE there the same way (CheckTableNotInUse()).
 */
static void
refuse_pending_writes(DiffRefresh *r)
{
	ListCell   *lc;

	foreach(lc, r->shape->sources)
	{
		Oid			source = ((DiffSource *) lfirst(lc))->relid;

		if (AfterTriggerPendingOnRel(source))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_IN_USE),
					 errmsg("cannot refresh \"%s\" while writes to its source \"%s\" have pending trigger events",
							get_rel_name(r->relid), get_rel_name(source)),
					 errdetail("Its change log gets those writes when their statement ends."),
					 errhint("Refresh in a statement of its own after the write, and after SET CONSTRAINTS ALL IMMEDIATE if the source has deferred constraints.")));
	}
}

static void
apply_changes_writing(void *arg)
{
	while_writing_view(apply_changes, (DiffRefresh *) arg);
}

/*
 * Whether an error is one an expression raises on the values it is given:
 * a data exception, a constraint of a domain, a value the result type
 * cannot hold (infinity as an integer), a limit (repeat() too long), a
 * function's own RAISE.  Not a cancel, a lack of resources, a
 * serialization failure or a missing privilege.
 */
static bool
error_of_values(int sqlerrcode)
{
	static const int categories[] = {
		ERRCODE_DATA_EXCEPTION, ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION,
		ERRCODE_FEATURE_NOT_SUPPORTED, ERRCODE_PROGRAM_LIMIT_EXCEEDED,
		ERRCODE_CARDINALITY_VIOLATION, ERRCODE_SQL_ROUTINE_EXCEPTION,
		ERRCODE_EXTERNAL_ROUTINE_EXCEPTION, ERRCODE_EXTERNAL_ROUTINE_INVOCATION_EXCEPTION,
		ERRCODE_PLPGSQL_ERROR,
	};

	for (size_t i = 0; i < lengthof(categories); i++)
		if (ERRCODE_TO_CATEGORY(sqlerrcode) == categories[i])
			return true;
	return false;
}

/*
 * Applies the windows' changes, in a subtransaction; true when it had to
 * recompute the view instead.  A join's delta pairs one source's changed
 * rows with another's rows of the other snapshot, and an expression can
 * fail on such a pair, which neither snapshot holds (10 / (a.v - b.v), or
 * a cast to a domain, when both rows changed): on such an error the view
 * is recomputed, whose own error, if any, is the data's.
 */
static bool
apply_changes_or_recompute(DiffRefresh *r, DiffWritten *written)
{
	ErrorData  *error;

	r->written = written;
	if (r->windows == NIL)
		return false;
	error = subxact_try(apply_changes_writing, r, false);
	if (error == NULL)
		return false;
	if (!error_of_values(error->sqlerrcode))
		ReThrowError(error);
	r->inserted = r->deleted = 0;
	r->written = NULL;
	if (written != NULL)
		written->nplaces = 0;
	while_writing_view(apply_full, r);
	r->detail = psprintf("full: applying the changes failed (%s), which can come of pairing rows of two snapshots",
						 error->message);
	return true;
}

uint64
differential_refresh(Oid relid, char **detail, DiffWritten *written)
{
	DiffRefresh r = {0};
	const char *reason;
	char	   *full_reason;
	bool		registered;

	if (written != NULL)
	{
		memset(written, 0, sizeof(DiffWritten));
		written->context = CurrentMemoryContext;
	}
	if (!prepare(&r, relid, &reason))
	{
		uint64		rows = refresh_unsupported(&r, reason);

		*detail = r.detail;
		return rows;
	}
	refuse_pending_writes(&r);

	/*
	 * A definition makes the guard with the table; a restore makes the table,
	 * loads its rows and only then the guard (pg_dump's triggers come after
	 * the data).  Refreshed in between, the view would start capturing what
	 * the restore loads into its sources and count those rows on top of the
	 * rows the restore loads into it.
	 */
	if (!OidIsValid(get_trigger_oid(relid, VIEW_GUARD_TRIGGER, true)))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the table of managed view %s has no trigger %s yet", r.view, VIEW_GUARD_TRIGGER),
				 errdetail("A restore that has not finished makes it after loading the view's rows."),
				 errhint("The view is refreshed once the restore has made it.")));
	/* a refresh every minute would fault its largest blocks in every time */
	freed_memory_keep();
	registered = ensure_capture(&r);
	r.rows_as_logged = reads_rows_as_logged(r.shape);
	/* after the lock and the capture: see refresh_matview() */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	full_reason = registered ? "capture of a source started in this refresh" : read_windows(&r);
	if (full_reason != NULL)
	{
		while_writing_view(apply_full, &r);
		r.detail = psprintf("full: %s", full_reason);
	}
	else if (!apply_changes_or_recompute(&r, written))
	{
		r.rows += r.inserted - r.deleted;
		r.detail = describe_windows(&r);
		if (written != NULL)
		{
			written->applied = true;
			written->rows = r.rows;
		}
	}
	/* a snapshot older than the capture could have missed a write */
	finish(&r, !(registered && IsolationUsesXactSnapshot()));
	PopActiveSnapshot();
	*detail = r.detail;
	return (uint64) r.rows;
}

/*
 * The text of the delta's column (c<n>) of each output column named in columns, or
 * NULL with *reason set: a grouped query's changes are known by its keys.
 */
static List *
delta_columns(DiffRefresh *r, List *columns, char **reason)
{
	List	   *found = NIL;
	ListCell   *lc;

	foreach(lc, columns)
	{
		const char *name = lfirst(lc);
		List	   *candidates = r->shape->grouped ? r->shape->keys : r->shape->query->targetList;
		int			position = 0;
		ListCell   *t;
		Node	   *key;

		foreach(t, candidates)
		{
			TargetEntry *tle = lfirst_node(TargetEntry, t);

			if (tle->resjunk)
				continue;
			if (tle->resname && strcmp(tle->resname, name) == 0)
				break;
			position++;
		}
		if (t == NULL)
		{
			*reason = psprintf("partition column %s is not a group key",
							   quote_identifier(name));
			return NIL;
		}

		/*
		 * A group shows one member's key; a change to another, equal but
		 * printed otherwise (1.0 and 1.00), would name another partition.
		 */
		key = (Node *) lfirst_node(TargetEntry, t)->expr;
		if (r->shape->grouped && !equality_is_image(exprType(key), exprCollation(key)))
		{
			*reason = psprintf("partition column %s is a group key whose equal values may print differently",
							   quote_identifier(name));
			return NIL;
		}
		found = lappend(found, output_text_sql(psprintf("d.c%d", position + 1),
											   exprType((Node *) lfirst_node(TargetEntry, t)->expr)));
	}
	return found;
}

/* The distinct values of the delta's columns, each row a text[]'s elements. */
static List *
changed_values(DiffRefresh *r, List *delta_cols)
{
	MemoryContext context = CurrentMemoryContext;
	List	   *values = NIL;
	StringInfoData sql;
	ListCell   *lc;

	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT DISTINCT ARRAY[");
	foreach(lc, delta_cols)
		appendStringInfo(&sql, "%s%s", foreach_current_index(lc) > 0 ? ", " : "",
						 (char *) lfirst(lc));
	SPI_connect();
	appendStringInfo(&sql, "]::pg_catalog.text[] FROM (%s) d", register_windows(r));
	run_as_owner(r, sql.data, true);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		array = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		MemoryContext old = MemoryContextSwitchTo(context);

		values = lappend(values, spi_array_texts(array));
		MemoryContextSwitchTo(old);
	}
	SPI_finish();
	return values;
}

DiffChanges *
differential_changes(Oid relid, List *columns)
{
	DiffRefresh r = {0};
	DiffChanges *changes = palloc0(sizeof(DiffChanges));
	const char *reason;
	bool		registered;
	List	   *delta_cols;

	if (!prepare(&r, relid, &reason))
	{
		/* nothing to follow: what it followed before stops */
		capture_unregister(relid);
		forget_position(relid);
		changes->reason = pstrdup(reason);
		return changes;
	}
	/* a grouped query's consumer keeps no state: it reads the keys */
	r.state = NULL;
	/* its partitions are text, which settings (TimeZone, ...) change */
	r.shape->reads_settings = true;
	delta_cols = delta_columns(&r, columns, &changes->reason);
	if (changes->reason != NULL)
		return changes;
	registered = ensure_capture(&r);
	/* after the locks and the capture, as differential_refresh() */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	changes->reason = registered ? "capture of a source started in this run" : read_windows(&r);
	if (changes->reason == NULL)
	{
		changes->known = true;
		if (r.windows != NIL)
			changes->values = changed_values(&r, delta_cols);
		changes->detail = describe_windows(&r);
	}
	finish(&r, !(registered && IsolationUsesXactSnapshot()));
	PopActiveSnapshot();
	return changes;
}

static void
create_state_table(DiffRefresh *r)
{
	char	   *owner = GetUserNameFromId(r->owner, false);

	runas_ddl(catalog_owner(), psprintf("CREATE TABLE %s (%s) WITH (fillfactor = 70)",
										r->state, diff_sql_state_columns(r->sql)));
	/* a publication of all tables publishes it too: updates need an identity */
	runas_ddl(catalog_owner(), psprintf("ALTER TABLE %s REPLICA IDENTITY FULL", r->state));
	runas_ddl(catalog_owner(), psprintf("CREATE INDEX ON %s (pipeline_stale) WHERE pipeline_stale",
										r->state));
	if (diff_sql_state_index(r->sql) != NULL)
		runas_ddl(catalog_owner(), diff_sql_state_index(r->sql));
	runas_ddl(catalog_owner(), psprintf("ALTER TABLE %s OWNER TO %s", r->state,
										quote_identifier(owner)));
	extension_member_add("pipeline", state_table(r->relid));
}

/* The plain views a query reads, directly or through one another. */
static List *
expanded_views(DiffShape *shape)
{
	List	   *views = NIL;
	ListCell   *block;
	ListCell   *lc;

	foreach(block, shape->blocks)
		foreach(lc, ((Query *) lfirst(block))->rtable)
		{
			RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

			if (diff_view_entry(rte))
				views = list_append_unique_oid(views, rte->relid);
		}
	return views;
}

/*
 * The view's table depends on what it reads, as a materialized view's rule
 * does: a source (or a column of it) cannot be dropped from under it, and a
 * DROP ... CASCADE reaches the view, which the guard refuses.
 */
static void
record_source_dependencies(DiffRefresh *r)
{
	ObjectAddress view;
	ListCell   *lc;

	ObjectAddressSet(view, RelationRelationId, r->relid);

	/*
	 * made anew, from what the query names but its sources (functions,
	 * operators, types): the sources may differ since the last full refresh
	 */
	dag_record_query_dependencies(r->relid, r->bound_query, r->owner);
	foreach(lc, r->shape->sources)
	{
		DiffSource *source = lfirst(lc);
		ObjectAddress read;
		int			attnum = -1;

		ObjectAddressSet(read, RelationRelationId, source->relid);
		recordDependencyOn(&view, &read, DEPENDENCY_NORMAL);
		while ((attnum = bms_next_member(source->attnums, attnum)) >= 0)
		{
			ObjectAddressSubSet(read, RelationRelationId, source->relid, attnum);
			recordDependencyOn(&view, &read, DEPENDENCY_NORMAL);
		}
	}
	/* and on the plain views expanded into it (their entries stay) */
	foreach(lc, expanded_views(r->shape))
	{
		ObjectAddress read;

		ObjectAddressSet(read, RelationRelationId, lfirst_oid(lc));
		recordDependencyOn(&view, &read, DEPENDENCY_NORMAL);
	}
}

/* The trigger that refuses writes outside the refresh, unless it is there. */
static void
add_view_guard(DiffRefresh *r)
{
	if (OidIsValid(get_trigger_oid(r->relid, VIEW_GUARD_TRIGGER, true)))
		return;
	runas_ddl(catalog_owner(),
			  psprintf("CREATE TRIGGER %s BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s "
					   "FOR EACH STATEMENT EXECUTE FUNCTION %s.view_guard()",
					   VIEW_GUARD_TRIGGER, r->view, PIPELINE_SCHEMA));
	runas_ddl(catalog_owner(), psprintf("ALTER TABLE %s ENABLE ALWAYS TRIGGER %s",
										r->view, VIEW_GUARD_TRIGGER));
}

/* the view's name cut to 40 bytes of whole characters */
static char *
key_index_prefix(Oid relid)
{
	const char *view = get_rel_name(relid);

	return pnstrdup(view, pg_mbcliplen(view, strlen(view), 40));
}

char *
differential_key_index_name(Oid relid)
{
	return psprintf("%s_pipeline_key", key_index_prefix(relid));
}

/*
 * Whether relid has its key index: commented so (the name may have had to
 * differ), or named so by an earlier version.
 */
static bool
has_key_index(Oid relid)
{
	Relation	view = table_open(relid, AccessShareLock);
	List	   *indexes = RelationGetIndexList(view);
	char	   *name = differential_key_index_name(relid);
	ListCell   *lc;
	bool		found = false;

	foreach(lc, indexes)
	{
		char	   *index = get_rel_name(lfirst_oid(lc));
		char	   *comment = GetComment(lfirst_oid(lc), RelationRelationId, 0);

		if ((index != NULL && strcmp(index, name) == 0) ||
			(comment != NULL && strcmp(comment, DIFFERENTIAL_KEY_INDEX_COMMENT) == 0))
			found = true;
	}
	table_close(view, AccessShareLock);
	return found;
}

uint64
differential_create(Oid relid)
{
	DiffRefresh r = {0};
	const char *reason;
	char	   *index_name = NULL;
	char	   *index = NULL;

	if (!prepare(&r, relid, &reason))
		elog(ERROR, "view %u cannot be refreshed differentially: %s", relid, reason);
	ensure_capture(&r);

	/*
	 * what finds a changed group's (or row's) rows in the view; a
	 * redefinition may have restored it with the view's other indexes
	 */
	if (!has_key_index(relid))
	{
		index_name = ChooseRelationName(key_index_prefix(relid), NULL, "pipeline_key",
										get_rel_namespace(relid), false);
		index = diff_sql_view_index(r.sql, index_name);
	}
	add_view_guard(&r);

	/*
	 * room on each page keeps a changed group's new row there: no new index
	 * entry
	 */
	if (r.shape->grouped)
		runas_ddl(r.owner, psprintf("ALTER TABLE %s SET (fillfactor = 70)", r.view));
	if (index != NULL)
	{
		runas_ddl(r.owner, index);
		runas_ddl(r.owner, psprintf("COMMENT ON INDEX %s IS %s",
									quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															   index_name),
									quote_literal_cstr(DIFFERENTIAL_KEY_INDEX_COMMENT)));
	}
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	while_writing_view(apply_full, &r);
	finish(&r, !IsolationUsesXactSnapshot());
	PopActiveSnapshot();
	return (uint64) r.rows;
}

void
differential_forget(Oid relid)
{
	if (!catalog_has_refresh_modes())
		return;
	capture_unregister(relid);
	differential_forget_state(relid);
}

void
differential_forget_state(Oid relid)
{
	Oid			state;

	if (!catalog_has_refresh_modes())
		return;
	state = state_table(relid);
	forget_position(relid);
	if (OidIsValid(state))
	{
		char	   *name = quote_qualified_identifier(PIPELINE_SCHEMA, state_table_name(relid));

		extension_member_drop("pipeline", state);
		runas_ddl(catalog_owner(), psprintf("DROP TABLE %s", name));
	}
}
