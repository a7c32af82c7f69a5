/*-------------------------------------------------------------------------
 * access.c
 *	  Who may see what.
 *
 * pipeline.runs carries error texts, and those carry data values
 * (invalid input syntax for type integer: "s3cr3t-value"), so a role sees
 * only the runs of views it owns or may SELECT from: a row-level security
 * policy on pipeline.runs calls pipeline.can_see(matview), and
 * pipeline.status is a security_invoker view, so the policy applies to
 * whoever reads it.
 *
 * One thing the caller may not read is still needed for its own views:
 * whether an upstream it cannot see failed, since that is why its view
 * waits.  pipeline.blocking_upstreams() reads every run as the catalog
 * owner and returns such an upstream as NULL ("unknown"), so the caller
 * learns that something it cannot see holds its view back, but neither
 * which view nor why.  graph() shows the relations a caller cannot see
 * the same way, as nodes labelled "unknown".
 *
 * The rule is written once, in access_can_see(); the SQL function is C so
 * that the policy costs a syscache probe per row, not a SQL function call,
 * and cannot be redirected by anyone's search_path.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_relation.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "model/access.h"
#include "model/catalog.h"
#include "model/dpl.h"
#include "util/spi_rows.h"

/*
 * Whether relid is a managed view of type unload (a lake publication).  A
 * policy asks it row by row, mostly of one view after another: the last
 * answer is kept for the transaction.
 */
static bool
is_publication(Oid relid)
{
	static Oid	last_relid = InvalidOid;
	static LocalTransactionId last_lxid = InvalidLocalTransactionId;
	static bool last_answer = false;
	CatalogScan definitions;
	HeapTuple	tuple;

	if (relid == last_relid && MyProc->lxid == last_lxid)
		return last_answer;
	last_answer = false;
	catalog_scan_begin(&definitions, "matview_definitions", "matview_definitions_pkey", NULL, relid);
	if (HeapTupleIsValid(tuple = systable_getnext(definitions.scan)))
	{
		bool		isnull;
		Datum		type = heap_getattr(tuple,
										attnameAttNum(definitions.rel, "matview_type", false),
										RelationGetDescr(definitions.rel), &isnull);

		last_answer = !isnull &&
			matview_type_from_name(TextDatumGetCString(type)) == MATVIEW_UNLOAD;
	}
	catalog_scan_end(&definitions);
	last_relid = relid;
	last_lxid = MyProc->lxid;
	return last_answer;
}

bool
access_can_see(Oid relid, Oid role)
{
	Oid			owner = catalog_relation_owner_if_exists(relid);
	bool		is_missing = false;

	if (!OidIsValid(owner))
		return false;
	if (has_privs_of_role(role, owner))
		return true;
	if (pg_class_aclcheck_ext(relid, role, ACL_SELECT, &is_missing) != ACLCHECK_OK || is_missing)
		return false;

	/*
	 * A lake publication's table lists its partitions, not its query's rows,
	 * which its errors, audit examples and digests carry: only its owner sees
	 * them (what its query reads, through functions too, is not known here as
	 * a reader's right).
	 */
	return get_rel_relkind(relid) != RELKIND_RELATION || !is_publication(relid);
}

PG_FUNCTION_INFO_V1(pipeline_can_see);

/*
 * can_see(relation regclass) RETURNS boolean
 *
 * Whether the current user owns relation or may SELECT from it: the
 * row-level security policy of pipeline.runs, and graph()'s test for a node
 * it may name.
 */
Datum
pipeline_can_see(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(access_can_see(PG_GETARG_OID(0), GetUserId()));
}

/*
 * The managed views whose latest run failed, each with every view
 * downstream of it (transitively): (matview, upstream) rows.  Walked down
 * from the failures, so it costs their reach, not each view's ancestors
 * (1.19: pipeline.status walked those for every view, and a chain of 800
 * views took 30 s).
 */
#define BLOCKED_VIEWS \
	"WITH RECURSIVE failed(matview) AS (" \
	"    SELECT d.matview FROM pipeline.matview_definitions d" \
	"     WHERE (SELECT r.status FROM pipeline.runs r" \
	"             WHERE r.matview OPERATOR(pg_catalog.=) d.matview" \
	"             ORDER BY r.time_label DESC, r.run_id DESC LIMIT 1)" \
	"           OPERATOR(pg_catalog.=) 'failed'" \
	"), down(upstream, matview) AS (" \
	"    SELECT f.matview, e.downstream FROM failed f JOIN pipeline.edges e" \
	"        ON e.upstream OPERATOR(pg_catalog.=) f.matview" \
	"    UNION" \
	"    SELECT down.upstream, e.downstream FROM down JOIN pipeline.edges e" \
	"        ON e.upstream OPERATOR(pg_catalog.=) down.matview" \
	")" \
	"SELECT down.matview, down.upstream FROM down"

/*
 * Returns BLOCKED_VIEWS's rows: all (one false, matview ignored), or
 * matview's alone, without the view column, whatever the OID (0 is no
 * view).  Read as the catalog owner: the caller's row-level security would
 * hide exactly the failures they report.  An upstream the caller cannot
 * see is NULL, and left out with its view when the caller cannot see that
 * either.
 */
static Datum
return_blocked_views(FunctionCallInfo fcinfo, bool one, Oid matview)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			caller = GetUserId();
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1] = {ObjectIdGetDatum(matview)};
	SpiRows    *rows;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	rows = spi_rows(catalog_owner(),
					one ? BLOCKED_VIEWS " WHERE down.matview OPERATOR(pg_catalog.=) $1::pg_catalog.regclass" :
					BLOCKED_VIEWS,
					one ? 1 : 0, argtypes, args, NULL, false, -1);
	for (uint64 i = 0; i < rows->count; i++)
	{
		bool		isnull;
		Datum		blocked = spi_rows_value(rows, i, 0, &isnull);
		Datum		upstream = spi_rows_value(rows, i, 1, &isnull);
		Datum		values[2] = {blocked, upstream};
		bool		nulls[2] = {false, !access_can_see(DatumGetObjectId(upstream), caller)};

		/*
		 * that a view is held back tells that its upstream failed: news to a
		 * caller who may see neither (pipeline.edges is public)
		 */
		if (nulls[1] && !access_can_see(DatumGetObjectId(blocked), caller))
			continue;

		/* blocking_upstreams() returns the upstream alone */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, one ? values + 1 : values,
							 one ? nulls + 1 : nulls);
	}
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pipeline_blocked_views);

/*
 * blocked_views() RETURNS TABLE (matview regclass, upstream regclass)
 *
 * Each view blocked by a failed upstream view, with that upstream (NULL
 * when the caller cannot see it): pipeline.status's blocked_by (1.19).
 */
Datum
pipeline_blocked_views(PG_FUNCTION_ARGS)
{
	return return_blocked_views(fcinfo, false, InvalidOid);
}

PG_FUNCTION_INFO_V1(pipeline_blocking_upstreams);

/*
 * blocking_upstreams(matview regclass) RETURNS TABLE (upstream regclass)
 *
 * The managed views upstream of matview (transitively) whose latest run
 * failed, each one the caller cannot see as NULL (pipeline.status's
 * blocked_by before 1.19).
 */
Datum
pipeline_blocking_upstreams(PG_FUNCTION_ARGS)
{
	return return_blocked_views(fcinfo, true, PG_GETARG_OID(0));
}
