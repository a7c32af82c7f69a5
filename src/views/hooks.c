/*-------------------------------------------------------------------------
 * hooks.c
 *	  set_after_refresh() and running the hook after a refresh.
 *
 * The hook of a view is stored in pipeline.after_refresh_hooks (which
 * references pipeline.matview_definitions, so dropping the view drops its
 * hook).  A hook takes (matview regclass, time_label timestamptz).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "views/hooks.h"
#include "util/runas.h"
#include "model/catalog.h"
#include "util/analyze.h"
#include "util/spi_rows.h"

/* Errors unless fn is a plain function taking (regclass, timestamptz). */
static void
check_hook_signature(Oid fn)
{
	static const Oid args[2] = {REGCLASSOID, TIMESTAMPTZOID};

	if (!function_takes(fn, 2, args))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("function %s cannot be an after-refresh hook", format_procedure(fn)),
				 errdetail("A hook must be a function (not a procedure or set-returning function) taking (matview regclass, time_label timestamptz).")));
}

PG_FUNCTION_INFO_V1(pipeline_set_after_refresh);

/*
 * set_after_refresh(matview regclass, fn text) RETURNS void
 * set_after_refresh(matview regclass, fn regprocedure) RETURNS void
 * (SQL older than 1.5, and 1.10 on)
 *
 * The caller must own the view (or be a superuser); a NULL fn clears the
 * hook.  The view's owner needs EXECUTE on fn when the hook runs.
 */
Datum
pipeline_set_after_refresh(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *relname;
	char	   *nspname;
	Oid			argtypes[2] = {OIDOID, OIDOID};
	Datum		values[2];

	PreventCommandDuringRecovery("pipeline.set_after_refresh()");

	PreventCommandIfReadOnly("pipeline.set_after_refresh()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("matview must not be null")));
	relid = PG_GETARG_OID(0);
	catalog_get_required(relid);
	relname = get_rel_name(relid);
	nspname = get_namespace_name(get_rel_namespace(relid));
	catalog_require_owner(relid, relname);

	/*
	 * The hook is kept by the view's OID: a drop or a redefinition (a new
	 * relation) meanwhile would leave it nothing to refer to, so wait for
	 * them as a refresh does, and look again
	 */
	LockRelationOid(relid, ShareUpdateExclusiveLock);
	if (!catalog_is_managed_now(relid))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("managed view %s was dropped or redefined while set_after_refresh() waited for it",
						quote_qualified_identifier(nspname, relname)),
				 errhint("Retry the call.")));

	values[0] = ObjectIdGetDatum(relid);
	if (PG_ARGISNULL(1))
		(void) spi_rows(catalog_owner(),
						"DELETE FROM pipeline.after_refresh_hooks WHERE matview = $1",
						1, argtypes, values, NULL, false, -1);
	else
	{
		Oid			fn;

		if (get_fn_expr_argtype(fcinfo->flinfo, 1) == REGPROCEDUREOID)
			fn = PG_GETARG_OID(1);
		else
			/* resolved once, as its caller means it: the hook is kept by OID */
			fn = lookup_function(text_to_cstring(PG_GETARG_TEXT_PP(1)),
								 "(matview regclass, time_label timestamptz)");
		check_hook_signature(fn);
		/* the session's end would drop it, and every refresh then fail */
		if (isAnyTempNamespace(get_func_namespace(fn)))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a hook may not be a function in a temporary schema"),
					 errhint("Create it in a permanent schema.")));
		/* it runs as the owner: refused now rather than at every refresh */
		if (pg_proc_aclcheck(fn, catalog_relation_owner(relid), ACL_EXECUTE) != ACLCHECK_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied for function %s", format_procedure(fn)),
					 errdetail("The hook runs as the owner of \"%s\", role \"%s\", which may not execute it.",
							   get_rel_name(relid),
							   GetUserNameFromId(catalog_relation_owner(relid), false))));
		values[1] = ObjectIdGetDatum(fn);
		(void) spi_rows(catalog_owner(),
						"INSERT INTO pipeline.after_refresh_hooks (matview, fn) "
						"VALUES ($1, $2) "
						"ON CONFLICT (matview) DO UPDATE SET fn = EXCLUDED.fn",
						2, argtypes, values, NULL, false, -1);
	}
	PG_RETURN_VOID();
}

/* The hook set for matview, or InvalidOid. */
static Oid
hook_of(Oid matview)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(matview)};
	SpiRows    *rows;
	bool		isnull;

	rows = spi_rows(InvalidOid,
					"SELECT fn FROM pipeline.after_refresh_hooks WHERE matview = $1",
					1, argtypes, values, NULL, true, SPI_OK_SELECT);
	if (rows->count == 0)
		return InvalidOid;
	return DatumGetObjectId(spi_rows_value(rows, 0, 0, &isnull));
}

void
after_refresh_run(Oid matview, TimestampTz time_label)
{
	Oid			fn = hook_of(matview);
	RunAs		ra;
	Oid			owner;
	FmgrInfo	flinfo;

	LOCAL_FCINFO(hook, 2);

	if (!OidIsValid(fn))
		return;
	if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(fn)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("after-refresh hook of \"%s\" no longer exists", get_rel_name(matview)),
				 errhint("Set another hook, or clear it with pipeline.set_after_refresh(view, NULL).")));
	check_hook_signature(fn);

	/*
	 * By OID, as it was bound when set, with the arguments it was checked
	 * for: nothing is looked up by name.
	 */
	owner = catalog_relation_owner(matview);
	if (pg_proc_aclcheck(fn, owner, ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", format_procedure(fn)),
				 errdetail("The after-refresh hook of \"%s\" runs as the view's owner, \"%s\".",
						   get_rel_name(matview), GetUserNameFromId(owner, false))));
	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*hook, &flinfo, 2, InvalidOid, NULL, NULL);
	hook->args[0].value = ObjectIdGetDatum(matview);
	hook->args[0].isnull = false;
	hook->args[1].value = TimestampTzGetDatum(time_label);
	hook->args[1].isnull = false;
	runas_begin_owner_session(&ra, owner);
	(void) FunctionCallInvoke(hook);	/* whatever it returns, NULL too */
	runas_end(&ra);
}
