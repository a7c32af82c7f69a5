/*-------------------------------------------------------------------------
 * staging.c
 *	  Update sets: stage() keeps a user's definitions aside, check_staged()
 *	  judges them as one change set, apply_staged() applies them as one
 *	  (so a change and the fixes of the views it would break land
 *	  together), discard_staged() forgets them.  Each user sees only their
 *	  own rows of pipeline.staged_changes, which belongs to the catalog
 *	  owner.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"

#include "compile/apply.h"
#include "compile/changeset.h"
#include "compile/compile.h"
#include "compile/judge.h"
#include "compile/locks.h"
#include "model/catalog.h"
#include "model/definition.h"
#include "model/dpl.h"
#include "util/spi_rows.h"
#include "views/matview.h"

/*
 * The current user's staged definitions, parsed, in staging order.  With
 * places, the rows are locked and *places gets their ctids (a tid[]), so
 * that applying them deletes exactly what it applied: a document staged
 * meanwhile in another session waits for the apply, or stays staged.
 */
static List *
staged_definitions(Datum *places)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(GetUserId())};
	List	   *defs = NIL;
	SpiRows    *rows;

	/* the table is the catalog owner's; each user reads only their own rows */
	rows = spi_rows(catalog_owner(),
					places == NULL ?
					"SELECT dpl FROM pipeline.staged_changes WHERE staged_by = $1 "
					" ORDER BY staged_at, schema_name, name" :
					"SELECT dpl, ctid FROM pipeline.staged_changes WHERE staged_by = $1 "
					" ORDER BY staged_at, schema_name, name FOR UPDATE",
					1, argtypes, values, NULL, false, -1);
	for (uint64 i = 0; i < rows->count; i++)
		defs = lappend(defs, dpl_parse(spi_rows_text(rows, i, 0)));
	if (places != NULL)
	{
		Datum	   *ctids = palloc(sizeof(Datum) * Max(rows->count, 1));
		bool		isnull;

		for (uint64 i = 0; i < rows->count; i++)
			ctids[i] = spi_rows_value(rows, i, 1, &isnull);
		*places = PointerGetDatum(construct_array(ctids, rows->count, TIDOID,
												  sizeof(ItemPointerData), false,
												  TYPALIGN_SHORT));
	}
	return defs;
}

/* Deletes the user's staged rows: those at places (a tid[]), or all. */
static void
delete_staged(Datum places)
{
	Oid			argtypes[2] = {OIDOID, TIDARRAYOID};
	Datum		values[2] = {ObjectIdGetDatum(GetUserId()), places};

	(void) spi_rows(catalog_owner(),
					places == (Datum) 0 ?
					"DELETE FROM pipeline.staged_changes WHERE staged_by = $1" :
					"DELETE FROM pipeline.staged_changes WHERE staged_by = $1 "
					"   AND ctid OPERATOR(pg_catalog.=) ANY ($2)",
					places == (Datum) 0 ? 1 : 2, argtypes, values, NULL, false, -1);
}

PG_FUNCTION_INFO_V1(pipeline_stage);

/* stage(dpl text) RETURNS void */
Datum
pipeline_stage(PG_FUNCTION_ARGS)
{
	MatviewDefinition *def;
	Oid			argtypes[5] = {OIDOID, NAMEOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5];
	char	   *dpl;

	PreventCommandDuringRecovery("pipeline.stage()");

	PreventCommandIfReadOnly("pipeline.stage()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("DPL document must not be null")));
	dpl = text_to_cstring(PG_GETARG_TEXT_PP(0));
	def = dpl_parse(dpl);
	/* the schema may come later: it is looked up when the set is built */
	definition_validate_fields(def);

	values[0] = ObjectIdGetDatum(GetUserId());
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(def->schema_name));
	values[2] = CStringGetTextDatum(def->name);
	values[3] = CStringGetTextDatum(dpl);
	values[4] = CStringGetTextDatum(def->query);
	(void) spi_rows(catalog_owner(),
					"INSERT INTO pipeline.staged_changes "
					"       (staged_by, schema_name, name, dpl, query) "
					"VALUES ($1, $2, $3, $4, $5) "
					"ON CONFLICT (staged_by, schema_name, name) DO UPDATE "
					"   SET dpl = EXCLUDED.dpl, query = EXCLUDED.query, "
					"       staged_at = clock_timestamp()",
					5, argtypes, values, NULL, false, -1);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pipeline_check_staged);

/* check_staged() RETURNS TABLE(matview regclass, status text, detail text) */
Datum
pipeline_check_staged(PG_FUNCTION_ARGS)
{
	compile_check_definitions(fcinfo, staged_definitions(NULL), "pipeline.check_staged()");
	return (Datum) 0;
}

/* What apply_staged() reports it did to a view of the set. */
static const char *
action_name(PendingView *v)
{
	if (!v->def)
		return "rebuilt";
	return OidIsValid(v->relid) ? "redefined" : "created";
}

PG_FUNCTION_INFO_V1(pipeline_apply_staged);

/* apply_staged() RETURNS TABLE(matview regclass, action text) */
Datum
pipeline_apply_staged(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *defs;
	Datum		places;
	ChangeSet  *cs;
	int			i;

	PreventCommandDuringRecovery("pipeline.apply_staged()");

	PreventCommandIfReadOnly("pipeline.apply_staged()");
	InitMaterializedSRF(fcinfo, 0);
	defs = staged_definitions(&places);
	if (defs == NIL)
		return (Datum) 0;
	/* a new view another session is defining is redefined once it is made */
	compile_lock_view_names(defs);
	/* views whose relation went unseen would hold their names and edges */
	(void) matview_forget_gone();
	cs = changeset_build_and_lock(defs);
	changeset_judge(cs);
	changeset_refuse_breaks(cs, NULL);
	changeset_apply(cs);
	/* changeset_build_and_lock()'s snapshot */
	PopActiveSnapshot();
	delete_staged(places);
	for (i = 0; i < cs->count; i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = ObjectIdGetDatum(cs->views[i].newrelid);
		values[1] = CStringGetTextDatum(action_name(&cs->views[i]));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pipeline_discard_staged);

/* discard_staged() RETURNS void */
Datum
pipeline_discard_staged(PG_FUNCTION_ARGS)
{
	PreventCommandDuringRecovery("pipeline.discard_staged()");
	PreventCommandIfReadOnly("pipeline.discard_staged()");
	delete_staged((Datum) 0);
	PG_RETURN_VOID();
}
