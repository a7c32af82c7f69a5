/*-------------------------------------------------------------------------
 * compile.c
 *	  The compile step's entry points: redefining one view (define(),
 *	  create_matview()) and judging definitions without applying them
 *	  (check()).  Update sets are in staging.c; README.md has the design.
 *
 * The steps, each in its own file: changeset.c builds the set (the changed
 * views and every view downstream of them, in one order), locks.c locks it
 * all or nothing, judge.c judges it in a subtransaction that is rolled
 * back, apply.c applies it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"

#include "compile/apply.h"
#include "compile/changeset.h"
#include "compile/compile.h"
#include "util/arguments.h"
#include "compile/judge.h"
#include "compile/locks.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "model/dpl.h"
#include "util/runas.h"
#include "views/matview.h"

Oid
compile_redefine(MatviewDefinition *def)
{
	ChangeSet  *cs = changeset_build_and_lock(list_make1(def));
	PendingView *changed = NULL;
	int			i;

	for (i = 0; i < cs->count; i++)
		if (cs->views[i].def == def)
			changed = &cs->views[i];
	if (changed == NULL)
		elog(ERROR, "redefined view is missing from its change set");

	/* the view's own errors, as the analyzer words them, with a position */
	dag_query_dependencies(def->query);
	matview_check_kind(def, changed->relid);

	/*
	 * and a refresh mode it cannot have, said as itself rather than as a
	 * break: bound as changeset_apply() will bind it, since only this view
	 * and what reads it change
	 */
	def->bound_query = matview_makes_query_shape(def) ? runas_bind_table_query(def->query) :
		runas_bind_query(def->query);
	matview_resolve_refresh_mode(def, changed->owner);
	changeset_judge(cs);
	changeset_refuse_breaks(cs, pending_display_name(&cs->views[0]));
	changeset_apply(cs);
	/* changeset_build_and_lock()'s snapshot */
	PopActiveSnapshot();
	return changed->newrelid;
}

/* One row per view of the set: its OID, "ok" or "breaks", and why. */
static void
return_verdicts(FunctionCallInfo fcinfo, ChangeSet *cs)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	for (i = 0; i < cs->count; i++)
	{
		PendingView *v = &cs->views[i];
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		char	   *detail = pending_verdict_detail(v);

		values[0] = ObjectIdGetDatum(v->relid);
		nulls[0] = !OidIsValid(v->relid);
		values[1] = CStringGetTextDatum(pending_is_broken(v) ? "breaks" : "ok");
		if (detail)
			values[2] = CStringGetTextDatum(detail);
		else
			nulls[2] = true;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/*
 * How many times check() judges a set again after a redefinition committed
 * while it judged, before it answers with what it has.
 */
#define MAX_CHECK_ROUNDS 10

/* The set of defs as committed now, read with a new snapshot. */
static ChangeSet *
build_as_committed(List *defs)
{
	ChangeSet  *cs;

	AcceptInvalidationMessages();
	PushActiveSnapshot(GetTransactionSnapshot());
	cs = changeset_build(defs, NULL);
	PopActiveSnapshot();
	return cs;
}

static bool
same_text(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether two builds of a set hold the same views, defined the same way. */
static bool
same_set(ChangeSet *a, ChangeSet *b)
{
	if (a->count != b->count)
		return false;
	for (int i = 0; i < a->count; i++)
		if (a->views[i].relid != b->views[i].relid ||
			!same_text(a->views[i].old_query, b->views[i].old_query) ||
			!same_text(a->views[i].old_options, b->views[i].old_options))
			return false;
	return true;
}

/*
 * check() takes no lock, but judging reads the set's views, so it waits
 * behind a redefinition that replaces them.  When one committed meanwhile
 * the set judged is stale (a downstream view missing, views gone): in READ
 * COMMITTED the set is built and judged again as it is now.
 */
void
compile_check_definitions(FunctionCallInfo fcinfo, List *defs, const char *caller)
{
	ChangeSet  *cs;

	/* judging builds the views in a subtransaction it rolls back */
	PreventCommandDuringRecovery(caller);
	PreventCommandIfReadOnly(caller);
	cs = build_as_committed(defs);
	InitMaterializedSRF(fcinfo, 0);
	for (int round = 1;; round++)
	{
		ChangeSet  *now;

		changeset_judge(cs);
		now = build_as_committed(defs);
		if (same_set(cs, now) || round == MAX_CHECK_ROUNDS)
			break;
		cs = now;
	}
	return_verdicts(fcinfo, cs);
}

PG_FUNCTION_INFO_V1(pipeline_check_dpl);

/* check(dpl text) RETURNS TABLE(matview regclass, status text, detail text) */
Datum
pipeline_check_dpl(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("DPL document must not be null")));
	compile_check_definitions(fcinfo, list_make1(dpl_parse(text_to_cstring(PG_GETARG_TEXT_PP(0)))),
							  "pipeline.check()");
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pipeline_check_query);

/*
 * check(matview regclass, new_query text)
 *	 RETURNS TABLE(matview regclass, status text, detail text)
 */
Datum
pipeline_check_query(PG_FUNCTION_ARGS)
{
	ManagedView *mv;
	MatviewDefinition *def;

	arguments_require_not_null(fcinfo, 2);
	mv = catalog_get_required(PG_GETARG_OID(0));
	/* the view's type and its other DPL keys, as stored */
	def = dpl_stored_options(mv->type, mv->options_json);
	def->options_json = mv->options_json;
	/* a publication's delete function is the one it keeps, by OID */
	def->unload_delete_fn = mv->delete_function;
	def->schema_name = mv->schema_name;
	def->name = mv->name;
	def->incremental_key = mv->incremental_key;
	def->requested_mode = mv->requested_mode;
	def->interval_us = mv->interval_us;
	def->interval.time = mv->interval_us;
	def->query = dpl_normalize_query(text_to_cstring(PG_GETARG_TEXT_PP(1)), "new_query");
	compile_check_definitions(fcinfo, list_make1(def), "pipeline.check()");
	return (Datum) 0;
}
