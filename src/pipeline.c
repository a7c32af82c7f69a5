/*-------------------------------------------------------------------------
 * pipeline.c
 *	  Module entry point: defines the settings, hooks utility statements
 *	  and, when preloaded, registers the scheduler's launcher.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_database.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "rewrite/rewriteSupport.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "bgw/launcher.h"
#include "compile/guard.h"
#include "compile/marks.h"
#include "compile/rebind.h"
#include "io/external_function.h"
#include "model/catalog.h"
#include "model/dag.h"
#include "schedule/alerts.h"
#include "schedule/schedule.h"
#include "util/runas.h"
#include "util/settings.h"

PG_MODULE_MAGIC;

bool		pipeline_enabled = true;
char	   *pipeline_databases = NULL;
int			pipeline_max_workers = 2;
int			pipeline_tick_ms = 1000;
int			pipeline_worker_idle_timeout_ms = 10000;
int			pipeline_max_attempts = 3;
int			pipeline_retry_backoff_s = 30;
int			pipeline_run_retention_days = 30;
int			pipeline_run_history_per_view = 1000;
int			pipeline_deleted_keys_retention_min = 7 * 24 * 60;
int			pipeline_ingested_retention_min = 7 * 24 * 60;
int			pipeline_rejected_retention_min = 30 * 24 * 60;
double		pipeline_differential_max_fraction = 0.25;
int			pipeline_change_log_retention_min = 24 * 60;

void		_PG_init(void);

static ProcessUtility_hook_type prev_process_utility_hook = NULL;

static void
define_settings(void)
{
	DefineCustomBoolVariable("pipeline.enabled",
							 "Lets the background worker refresh views on schedule.",
							 NULL, &pipeline_enabled, true,
							 PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pipeline.databases",
							   "Comma-separated databases the worker serves (empty: every database with the extension).",
							   NULL, &pipeline_databases, "",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.max_workers",
							"Refreshes the worker runs at once, per database.",
							NULL, &pipeline_max_workers, 2, 1, 64,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.tick",
							"How often the scheduler looks for due views.",
							NULL, &pipeline_tick_ms, 1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.worker_idle_timeout",
							"How long an idle refresh worker waits for another run before it exits.",
							"0 makes every refresh worker exit after one run.",
							&pipeline_worker_idle_timeout_ms, 10000, 0, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.max_attempts",
							"Attempts per view and time label before a run stays failed.",
							NULL, &pipeline_max_attempts, 3, 1, 100,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.retry_backoff",
							"Wait before the first retry of a failed run; doubles with each attempt.",
							NULL, &pipeline_retry_backoff_s, 30, 0, 86400,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.run_retention",
							"Days of run history kept in pipeline.runs.",
							NULL, &pipeline_run_retention_days, 30, 1, 36500,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.run_history_per_view",
							"Rows of run history kept in pipeline.runs per view.",
							"The latest success of a view is kept beyond it.",
							&pipeline_run_history_per_view, 1000, 1, PG_INT32_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.deleted_keys_retention",
							"How long apply_changes remembers a deleted key's sequence in pipeline.deleted_keys.",
							NULL, &pipeline_deleted_keys_retention_min, 7 * 24 * 60, 1, 36500 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.ingested_retention",
							"How long ingest remembers a dedup id in pipeline.ingested.",
							"A message resent later than this after its first delivery is inserted again.",
							&pipeline_ingested_retention_min, 7 * 24 * 60, 1, 36500 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.rejected_retention",
							"How long pipeline.rejected keeps a message ingest rejected.",
							"Rows a quarantining view set aside stay: they decide what a rebuild replays.",
							&pipeline_rejected_retention_min, 30 * 24 * 60, 1, 36500 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);
	DefineCustomRealVariable("pipeline.differential_max_fraction",
							 "Above this fraction of a source's rows changed, a differential view refreshes fully.",
							 "Changes of fewer than 10,000 rows are always applied differentially.",
							 &pipeline_differential_max_fraction, 0.25, 0.0, 1000.0,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pipeline.change_log_retention",
							"How long change-log rows are kept for a differential view that does not refresh.",
							"Past it, the view's next refresh is full and the logs are pruned without it.",
							&pipeline_change_log_retention_min, 24 * 60, 1, 36500 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN, NULL, NULL, NULL);
}

/* Whether a database is marked a template (datistemplate) */
static bool
database_is_template(Oid dboid)
{
	HeapTuple	tuple = SearchSysCache1(DATABASEOID, ObjectIdGetDatum(dboid));
	bool		is_template = false;

	if (HeapTupleIsValid(tuple))
	{
		is_template = ((Form_pg_database) GETSTRUCT(tuple))->datistemplate;
		ReleaseSysCache(tuple);
	}
	return is_template;
}

/*
 * The database a statement needs no other session connected to, or
 * InvalidOid: its scheduler and refresh workers are stopped first (and not
 * started again until the statement's transaction ends).  DROP DATABASE,
 * CREATE DATABASE ... TEMPLATE, ALTER DATABASE ... RENAME and
 * ALTER DATABASE ... SET TABLESPACE.
 */
static Oid
database_to_be_alone(Node *parsetree)
{
	const char *name = NULL;
	ListCell   *lc;
	Oid			dboid;

	if (IsA(parsetree, DropdbStmt))
		name = ((DropdbStmt *) parsetree)->dbname;
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		name = ((RenameStmt *) parsetree)->subname;
	else if (IsA(parsetree, CreatedbStmt))
	{
		/* TEMPLATE DEFAULT (no value) is template1, which has no scheduler */
		foreach(lc, ((CreatedbStmt *) parsetree)->options)
			if (strcmp(lfirst_node(DefElem, lc)->defname, "template") == 0 &&
				lfirst_node(DefElem, lc)->arg != NULL)
				name = defGetString(lfirst_node(DefElem, lc));
	}
	else if (IsA(parsetree, AlterDatabaseStmt))
	{
		foreach(lc, ((AlterDatabaseStmt *) parsetree)->options)
			if (strcmp(lfirst_node(DefElem, lc)->defname, "tablespace") == 0)
				name = ((AlterDatabaseStmt *) parsetree)->dbname;
	}
	if (name == NULL)
		return InvalidOid;
	dboid = get_database_oid(name, true);

	/*
	 * Only for a statement PostgreSQL will let through: stopping the workers
	 * is the database owner's call (but any role with CREATEDB may copy a
	 * database marked a template), and all but RENAME refuse a transaction
	 * block, where the stop would outlast a failed subtransaction.
	 */
	if (!OidIsValid(dboid))
		return InvalidOid;
	if (!pg_database_ownercheck(dboid, GetUserId()) &&
		!(IsA(parsetree, CreatedbStmt) && database_is_template(dboid)))
		return InvalidOid;
	if (!IsA(parsetree, RenameStmt) && IsTransactionBlock())
		return InvalidOid;
	if ((IsA(parsetree, CreatedbStmt) || IsA(parsetree, RenameStmt)) && !have_createdb_privilege())
		return InvalidOid;
	return dboid;
}

/*
 * The plain view whose query a statement replaced, or InvalidOid:
 * CREATE OR REPLACE VIEW, or CREATE [OR REPLACE] RULE "_RETURN" (which
 * also turns a table into a view).  Looked up as the statement did: a view
 * in its creation namespace (not a temporary table of the same name), a
 * rule's relation through the search path.
 */
static Oid
replaced_view(Node *parsetree)
{
	if (IsA(parsetree, ViewStmt) && ((ViewStmt *) parsetree)->replace)
	{
		RangeVar   *rv = ((ViewStmt *) parsetree)->view;

		return get_relname_relid(rv->relname, RangeVarGetCreationNamespace(rv));
	}
	if (IsA(parsetree, RuleStmt) &&
		strcmp(((RuleStmt *) parsetree)->rulename, ViewSelectRuleName) == 0)
		return RangeVarGetRelid(((RuleStmt *) parsetree)->relation, NoLock, true);
	return InvalidOid;
}

/* After a plain view's query changed: the edges of the views reading it */
static void
follow_replaced_view(Node *parsetree)
{
	Oid			view;

	if (!IsA(parsetree, ViewStmt) && !IsA(parsetree, RuleStmt))
		return;
	if (!OidIsValid(get_extension_oid("pipeline", true)) || !catalog_binds_queries())
		return;
	CommandCounterIncrement();
	view = replaced_view(parsetree);
	if (OidIsValid(view))
		dag_follow_replaced_view(view);
}

/*
 * The one ProcessUtility hook: before a statement that needs a database to
 * itself (DROP DATABASE, ...) the database's pipeline processes are asked
 * to leave; the guard sees the commands its event trigger's tags miss;
 * around a RENAME or SET SCHEMA the bound queries that name what it renames
 * are taken again, and around a change of how a key type's values are
 * written the marks of the streams keyed on it; after a plain view's query
 * is replaced the edges of the managed views that read the view follow
 * what it reads now; once
 * CREATE EXTENSION pipeline commits, the launcher starts the database's
 * scheduler.
 */
static void
pipeline_process_utility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Rebinding  *rebinding;
	NotedMarks *marks;
	int			made;

	launcher_stop_database_workers(database_to_be_alone(parsetree));
	guard_untagged_statement(parsetree);
	rebinding = rebind_before(parsetree);
	marks = marks_before(parsetree);
	made = guard_before_statement();
	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
	rebind_after(rebinding);
	marks_after(marks);
	follow_replaced_view(parsetree);
	guard_after_statement(made);
	/* a database without the extension has no scheduler: one starts now */
	if (IsA(parsetree, CreateExtensionStmt) &&
		strcmp(((CreateExtensionStmt *) parsetree)->extname, "pipeline") == 0)
		launcher_extension_created(true);
	else if (IsA(parsetree, TransactionStmt) &&
			 ((TransactionStmt *) parsetree)->kind == TRANS_STMT_COMMIT_PREPARED)
		launcher_extension_created(false);	/* it may have created it */
	else if (IsA(parsetree, CreatedbStmt))
		launcher_database_created();	/* a copy of one with the extension? */
}

void
_PG_init(void)
{
	define_settings();
	external_define_settings();
	alerts_define_settings();
	external_function_init();
	runas_init();
	guard_init();
	MarkGUCPrefixReserved("pipeline");
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = pipeline_process_utility;

	/* a scheduler sleeping past its tick wakes for such commits */
	schedule_set_changed_wake(launcher_wake_scheduler);
	if (process_shared_preload_libraries_in_progress)
		launcher_register();
}
