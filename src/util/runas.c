/*-------------------------------------------------------------------------
 * runas.c
 *	  Running internal SQL, user code and pipeline's own DDL: who runs it,
 *	  in what security context, with what search_path.  See runas.h.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "util/analyze.h"
#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "common/hashfn.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "parser/parse_expr.h"
#include "parser/parse_relation.h"
#include "parser/parse_utilcmd.h"
#include "parser/parser.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ruleutils.h"
#include "utils/varlena.h"
#include "utils/xml.h"

#include "util/named_objects.h"
#include "util/plpgsql_paths.h"
#include "util/runas.h"

static bool ddl_in_progress = false;
static bool ddl_callback_registered = false;

/*
 * The owner's search_path, while a user-code block is in force and none of
 * its statements is being planned or run; else empty.  The block parses its
 * statements with the pinned path, the one their bound text was written for
 * (pg_catalog's names unqualified, every other one qualified), so they call
 * what the view's definition called; the hooks below plan and run each one
 * with this path, so the owner's code finds its names as in a session of
 * its own.  A setting (PGC_INTERNAL, set only here) so that GUC nest levels,
 * and a (sub)transaction abort, restore it with search_path.
 */
static char *owner_run_path = NULL;

/*
 * Whether pipeline is running SQL of its own or a view's (any runas block):
 * then every statement analyzed, and every function about to be called,
 * calls no cast function of a role other than the one it runs as, unless a
 * superuser's (check_cast_owners()).  A setting, as owner_run_path is, so
 * that an abort inside a block restores it.
 */
static bool checking_casts = false;

static post_parse_analyze_hook_type prev_post_parse_analyze_hook = NULL;
static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static fmgr_hook_type prev_fmgr_hook = NULL;
static planner_hook_type prev_planner_hook = NULL;
static ExecutorStart_hook_type prev_executor_start_hook = NULL;
static ExecutorRun_hook_type prev_executor_run_hook = NULL;
static ExecutorFinish_hook_type prev_executor_finish_hook = NULL;

int
runas_pin_settings(const RunAsSetting *settings, int count)
{
	int			nestlevel = NewGUCNestLevel();

	for (int i = 0; i < count; i++)
		(void) set_config_option(settings[i].name, settings[i].value,
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

void
runas_unpin_settings(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/* Sets one of pipeline's PGC_INTERNAL settings at the current nest level */
static void
pin_internal_setting(const char *name, const char *value)
{
	(void) set_config_option(name, value, PGC_INTERNAL, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Sets owner_run_path at the current nest level, restored with it; an
 * empty one only over another (internal statements run at every refresh).
 */
static void
pin_owner_run_path(const char *path)
{
	if (path[0] != '\0' || (owner_run_path != NULL && owner_run_path[0] != '\0'))
		pin_internal_setting("pipeline.owner_run_path", path);
}

/*
 * A nest level with search_path set to path and owner_run_path to
 * run_path; see runas_pin_settings().
 */
static int
pin_search_path(const char *path, const char *run_path)
{
	RunAsSetting setting = {"search_path", path};
	int			nestlevel = runas_pin_settings(&setting, 1);

	pin_owner_run_path(run_path);
	return nestlevel;
}

/*
 * For the top statement of a user-code block: a nest level with the
 * owner's search_path, and none to switch to for the statements its code
 * runs in turn (a function's own SET search_path stays in force for its
 * statements).  -1 outside a block.
 */
static int
begin_owner_run(void)
{
	if (owner_run_path == NULL || owner_run_path[0] == '\0')
		return -1;
	/* search_path copies the value before owner_run_path lets go of it */
	return pin_search_path(owner_run_path, "");
}

/* Ends begin_owner_run(): what the statement set goes, as REFRESH drops it */
static void
end_owner_run(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(false, nestlevel);
}

/* Arms checking_casts at the current nest level, restored with it. */
static void
pin_checking_casts(void)
{
	if (!checking_casts)
		pin_internal_setting("pipeline.checking_casts", "on");
}

/* A statement analyzed in a block calls no cast of a third role */
static void
check_statement_casts(ParseState *pstate, Query *query, JumbleState *jumble)
{
	if (prev_post_parse_analyze_hook)
		prev_post_parse_analyze_hook(pstate, query, jumble);
	if (checking_casts)
		check_cast_owners((Node *) query, GetUserId());
}

/*
 * Nor any function called in a block: what no parse shows, a cast looked
 * up as code runs (to_jsonb() of a row, a PL/pgSQL assignment) or inlined.
 * PostgreSQL asks this of every function not built in, before the first
 * call.  A PL/pgSQL function is answered true, so that each of its calls
 * reaches check_entered_function() (plpgsql_paths.h).
 */
static bool
check_called_function(Oid fn)
{
	if (checking_casts)
		check_cast_function(fn, GetUserId(), false);
	if (plpgsql_paths_watch(fn))
		return true;
	return prev_needs_fmgr_hook ? prev_needs_fmgr_hook(fn) : false;
}

/*
 * A function with SECURITY DEFINER or SET clauses, or one answered true
 * above, is entered through PostgreSQL's fmgr_security_definer(), which
 * calls this at each entry, as its definer and with its settings.
 */
static void
check_entered_function(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	if (event == FHET_START)
	{
		if (checking_casts)
		{
			check_cast_function(flinfo->fn_oid, GetUserId(), false);
			plpgsql_paths_check_temp(flinfo->fn_oid);
		}
		/* the call's own Datum, unless another hook may use it too */
		plpgsql_paths_check(flinfo->fn_oid, checking_casts, flinfo->fn_expr != NULL,
							prev_fmgr_hook == NULL && fmgr_hook == check_entered_function ?
							private : NULL);
	}
	if (prev_fmgr_hook)
		prev_fmgr_hook(event, flinfo, private);
}

static PlannedStmt *
plan_with_owner_path(Query *parse, const char *query_string, int cursor_options,
					 ParamListInfo bound_params)
{
	int			nestlevel = begin_owner_run();
	PlannedStmt *plan;

	plan = prev_planner_hook ?
		prev_planner_hook(parse, query_string, cursor_options, bound_params) :
		standard_planner(parse, query_string, cursor_options, bound_params);
	end_owner_run(nestlevel);
	return plan;
}

/* ExecutorStart() prunes partitions, calling stable functions */
static void
start_with_owner_path(QueryDesc *query, int eflags)
{
	int			nestlevel = begin_owner_run();

	if (prev_executor_start_hook)
		prev_executor_start_hook(query, eflags);
	else
		standard_ExecutorStart(query, eflags);
	end_owner_run(nestlevel);
}

static void
run_with_owner_path(QueryDesc *query, ScanDirection direction, uint64 count, bool execute_once)
{
	int			nestlevel = begin_owner_run();

	if (prev_executor_run_hook)
		prev_executor_run_hook(query, direction, count, execute_once);
	else
		standard_ExecutorRun(query, direction, count, execute_once);
	end_owner_run(nestlevel);
}

/* ExecutorFinish() fires AFTER triggers, which are code too */
static void
finish_with_owner_path(QueryDesc *query)
{
	/* a plain SELECT fires none (REFRESH's is one) */
	bool		fires = query->operation != CMD_SELECT || query->plannedstmt->hasModifyingCTE;
	int			nestlevel = fires ? begin_owner_run() : -1;

	if (prev_executor_finish_hook)
		prev_executor_finish_hook(query);
	else
		standard_ExecutorFinish(query);
	end_owner_run(nestlevel);
}

void
runas_init(void)
{
	DefineCustomStringVariable("pipeline.owner_run_path",
							   "The search_path the statements of pipeline's user-code blocks plan and run with.",
							   "Set by pipeline only.",
							   &owner_run_path, "", PGC_INTERNAL,
							   GUC_NO_SHOW_ALL | GUC_NO_RESET_ALL | GUC_NOT_IN_SAMPLE |
							   GUC_DISALLOW_IN_FILE | GUC_DISALLOW_IN_AUTO_FILE,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("pipeline.checking_casts",
							 "Whether pipeline is running a statement, and checks the casts it calls.",
							 "Set by pipeline only.",
							 &checking_casts, false, PGC_INTERNAL,
							 GUC_NO_SHOW_ALL | GUC_NO_RESET_ALL | GUC_NOT_IN_SAMPLE |
							 GUC_DISALLOW_IN_FILE | GUC_DISALLOW_IN_AUTO_FILE,
							 NULL, NULL, NULL);
	prev_post_parse_analyze_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = check_statement_casts;
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = check_called_function;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = check_entered_function;
	prev_planner_hook = planner_hook;
	planner_hook = plan_with_owner_path;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = start_with_owner_path;
	prev_executor_run_hook = ExecutorRun_hook;
	ExecutorRun_hook = run_with_owner_path;
	prev_executor_finish_hook = ExecutorFinish_hook;
	ExecutorFinish_hook = finish_with_owner_path;
}

/*
 * How text is read whoever's session reads it: bound text is deparsed for
 * PostgreSQL's defaults, and a caller's own would change what it says
 * (standard_conforming_strings = off reads 'a\b' as 'ab', array_nulls =
 * off the NULL of '{a,NULL}' as a string, transform_null_equals = on x =
 * NULL as x IS NULL, xmloption = document refuses XML content), for good
 * once in a rule or in a table-backed view's rows.  A view rebuilt by a
 * redefinition upstream is read in that other role's session.  So are
 * its rows computed: a view's answer does not depend on who refreshes it.
 */
static const RunAsSetting session_neutral_settings[] = {
	{"standard_conforming_strings", "on"},
	{"array_nulls", "on"},
	{"transform_null_equals", "off"},
	{"xmloption", "content"},
	/* and where pipeline's DDL puts a view and its indexes: its database's */
	{"default_tablespace", ""},
};

/*
 * Whether the session has every one of session_neutral_settings (keep the
 * two in step), as most sessions do: then pinning them sets nothing, which
 * each block of a refresh would otherwise pay for.
 */
static bool
session_is_neutral(void)
{
	const char *tablespace = GetConfigOption("default_tablespace", false, false);

	return standard_conforming_strings && Array_nulls && !Transform_null_equals &&
		xmloption == XMLOPTION_CONTENT && (tablespace == NULL || tablespace[0] == '\0');
}

/* Sets session_neutral_settings at the current nest level */
static void
pin_session_neutral(void)
{
	if (session_is_neutral())
		return;
	for (size_t i = 0; i < lengthof(session_neutral_settings); i++)
		(void) set_config_option(session_neutral_settings[i].name, session_neutral_settings[i].value,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * What bound text is written with, as pg_dump does: every name outside
 * pg_catalog qualified, and constants in forms any session reads back the
 * same (ISO dates, postgres intervals, floats that round-trip).  The path
 * it is read back with: an empty one would search the session's temporary
 * schema first, and a temporary table named "text" would have the same
 * tree spelled pg_catalog.text in that session only (so a rename there
 * found every view with a text literal changed, and held it: h127).
 */
static const RunAsSetting bound_text_settings[] = {
	{"search_path", PINNED_SEARCH_PATH},
	{"DateStyle", "ISO"},
	{"IntervalStyle", "postgres"},
	{"extra_float_digits", "3"},
	{"standard_conforming_strings", "on"},
	{"quote_all_identifiers", "off"},
};

int
runas_pin_bound_text_settings(void)
{
	return runas_pin_settings(bound_text_settings, lengthof(bound_text_settings));
}

/* pipeline's own SQL, and the bound text it reads: the pinned path */
int
runas_pin_internal_settings(void)
{
	RunAsSetting path = {"search_path", PINNED_SEARCH_PATH};
	int			nestlevel = runas_pin_settings(&path, 1);

	pin_session_neutral();
	return nestlevel;
}

void
runas_begin_internal(RunAs *ra, Oid role)
{
	GetUserIdAndSecContext(&ra->save_userid, &ra->save_sec_context);
	ra->user_code = false;
	ra->save_nestlevel = runas_pin_internal_settings();
	pin_owner_run_path("");
	pin_checking_casts();
	if (OidIsValid(role) && role != ra->save_userid)
		SetUserIdAndSecContext(role, ra->save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* the most settings owner_settings() reads in one pass */
#define OWNER_SETTINGS_MAX 2

/* Which of a new session's settings owner_settings() reads */
typedef enum SettingScope
{
	SETTING_ANY,				/* the one a new session of the role gets */
	SETTING_ROLE,				/* ALTER ROLE ... [IN DATABASE ...] SET */
	SETTING_NOT_ROLE			/* ALTER DATABASE SET, ALTER ROLE ALL SET */
} SettingScope;

static void owner_code_settings(Oid owner, char **search_path, char **allowed_endpoints);
static void pin_allowed_endpoints(const char *list);

/*
 * As owner, flags added to the context; statements parsed with the pinned
 * path and planned and run with the owner's (bound), or everything with the
 * owner's.
 */
static void
begin_as_owner(RunAs *ra, Oid owner, int flags, bool bound)
{
	char	   *path;
	char	   *allowed_endpoints;

	owner_code_settings(owner, &path, &allowed_endpoints);
	GetUserIdAndSecContext(&ra->save_userid, &ra->save_sec_context);
	ra->user_code = true;
	SetUserIdAndSecContext(owner, ra->save_sec_context | SECURITY_LOCAL_USERID_CHANGE | flags);
	ra->save_nestlevel = bound ? pin_search_path(PINNED_SEARCH_PATH, path) :
		pin_search_path(path, "");

	/* text is read, and rows computed, as internal SQL reads it */
	pin_session_neutral();
	pin_checking_casts();
	pin_allowed_endpoints(allowed_endpoints);
}

void
runas_begin_user_code(RunAs *ra, Oid owner)
{
	begin_as_owner(ra, owner, SECURITY_RESTRICTED_OPERATION, true);
}

void
runas_begin_refresh(RunAs *ra, Oid owner)
{
	/* REFRESH parses no text of ours: its query is the rule's, bound */
	begin_as_owner(ra, owner, 0, false);
}

void
runas_begin_owner_session(RunAs *ra, Oid owner)
{
	begin_as_owner(ra, owner, SECURITY_RESTRICTED_OPERATION, false);
}

void
runas_end(RunAs *ra)
{
	/* user code's own SETs go, as REFRESH drops them; ours are kept no longer */
	AtEOXact_GUC(!ra->user_code, ra->save_nestlevel);
	SetUserIdAndSecContext(ra->save_userid, ra->save_sec_context);
}

/* The entry for name of a pg_db_role_setting row's settings, or NULL. */
static char *
named_setting(Datum config, const char *name)
{
	ArrayType  *array = DatumGetArrayTypeP(config);
	Datum	   *items;
	int			count;
	char	   *found = NULL;
	size_t		length = strlen(name);

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &items, NULL, &count);
	/* the last SET wins, as ProcessGUCArray applies them in order */
	for (int i = 0; i < count; i++)
	{
		char	   *item = TextDatumGetCString(items[i]);

		if (pg_strncasecmp(item, name, length) == 0 && item[length] == '=')
			found = pstrdup(item + length + 1);
	}
	return found;
}

/*
 * The setting name as the server defines it, or NULL.  Its own default is
 * the configuration file's value when that is where the session's reset
 * value came from (reset_source at most PGC_S_ARGV), else the built-in
 * one: a value from the client, a role or a database is the caller's, not
 * an owner's.
 */
static struct config_generic *
server_setting(const char *name)
{
	struct config_generic **vars = get_guc_variables();
	int			count = GetNumConfigOptions();

	for (int i = 0; i < count; i++)
		if (strcmp(vars[i]->name, name) == 0)
			return vars[i];
	return NULL;
}

/* The server's own default search_path (server_setting()). */
static const char *
server_search_path(void)
{
	struct config_string *var = (struct config_string *) server_setting("search_path");

	if (var == NULL)
		return "\"$user\", public";
	if (var->gen.reset_source <= PGC_S_ARGV && var->reset_val != NULL)
		return var->reset_val;
	return var->boot_val;
}

/*
 * The path as the owner's code gets it: pg_catalog first and pg_temp last,
 * wherever (and whether) the setting lists them.  A schema before
 * pg_catalog would shadow its operators and functions in all that pipeline
 * has parsed again as the owner: a differential view's stored query, whose
 * deparsed text leaves pg_catalog's names unqualified, and the SQL around
 * it.  pg_temp early would let the caller's temporary objects run as the
 * owner.  A setting that is no list of names goes on as it is, to fail as
 * it would in a session.
 */
static char *
owner_path(const char *setting)
{
	char	   *raw = pstrdup(setting);
	List	   *names;
	ListCell   *lc;
	StringInfoData path;

	if (!SplitIdentifierString(raw, ',', &names))
		return psprintf("%s, pg_temp", setting);
	initStringInfo(&path);
	appendStringInfoString(&path, "pg_catalog");
	foreach(lc, names)
	{
		const char *name = lfirst(lc);

		if (strcmp(name, "pg_catalog") != 0 && strcmp(name, "pg_temp") != 0)
			appendStringInfo(&path, ", %s", quote_identifier(name));
	}
	appendStringInfoString(&path, ", pg_temp");
	return path.data;
}

/*
 * The values of settings names[0..count-1] that owner gets in a fresh
 * session of this database from ALTER ROLE or ALTER DATABASE, each from
 * the sources scopes[i] names, NULL for the server's, in values; one pass
 * over the (small) catalog finds them all.
 */
static void
owner_settings(Oid owner, int count, const char *const *names, const SettingScope *scopes,
			   char **values)
{
	/*
	 * A new session applies, most specific first: role in this database,
	 * role, this database, everyone
	 */
	char	   *found[OWNER_SETTINGS_MAX][4] = {{NULL}};
	Relation	settings = table_open(DbRoleSettingRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(settings, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tuple;

	Assert(count <= OWNER_SETTINGS_MAX);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_db_role_setting row = (Form_pg_db_role_setting) GETSTRUCT(tuple);
		int			rank;
		bool		isnull;
		Datum		config;

		if (row->setrole != owner && OidIsValid(row->setrole))
			continue;
		if (row->setdatabase != MyDatabaseId && OidIsValid(row->setdatabase))
			continue;
		rank = (OidIsValid(row->setrole) ? 0 : 2) + (OidIsValid(row->setdatabase) ? 0 : 1);
		config = heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
							  RelationGetDescr(settings), &isnull);
		for (int i = 0; i < count && !isnull; i++)
			found[i][rank] = named_setting(config, names[i]);
	}
	systable_endscan(scan);
	table_close(settings, AccessShareLock);

	for (int i = 0; i < count; i++)
	{
		/* ranks 0 and 1 are the role's */
		int			first = scopes[i] == SETTING_NOT_ROLE ? 2 : 0;
		int			last = scopes[i] == SETTING_ROLE ? 1 : 3;

		values[i] = NULL;
		for (int rank = first; rank <= last && values[i] == NULL; rank++)
			values[i] = found[i][rank];
	}
}

/*
 * For owner's code, its search_path (owner_path()) and the endpoints it may
 * call: those its role is given (ALTER ROLE ... SET
 * pipeline.allowed_endpoints) hold in a scheduler's worker and a
 * superuser's session too, whose settings are not the owner's; without
 * them, the session's list stays (*allowed_endpoints NULL).
 */
static void
owner_code_settings(Oid owner, char **search_path, char **allowed_endpoints)
{
	const char *const names[2] = {"search_path", "pipeline.allowed_endpoints"};
	const SettingScope scopes[2] = {SETTING_ANY, SETTING_ROLE};
	char	   *values[2];

	owner_settings(owner, 2, names, scopes, values);
	*search_path = owner_path(values[0] != NULL ? values[0] : server_search_path());
	*allowed_endpoints = values[1];
}

/* Sets pipeline.allowed_endpoints to list at the current nest level. */
static void
pin_allowed_endpoints(const char *list)
{
	const char *name = "pipeline.allowed_endpoints";
	const char *current;

	if (list == NULL)
		return;
	current = GetConfigOption(name, true, false);
	if (current != NULL && strcmp(list, current) != 0)
		(void) set_config_option(name, list, PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
}

/* A statement_timeout setting in milliseconds, 0 for none */
static int
timeout_ms(const char *setting)
{
	int			timeout = 0;

	return setting != NULL && parse_int(setting, &timeout, GUC_UNIT_MS, NULL) && timeout > 0 ?
		timeout : 0;
}

/*
 * The role's own value bounds its runs within the database's or the
 * server's, never beyond: any role may ALTER ROLE itself ... SET
 * statement_timeout = 0, and its runs then held workers that other roles'
 * views wait for.
 */
int
runas_owner_statement_timeout(Oid owner)
{
	const char *const names[2] = {"statement_timeout", "statement_timeout"};
	const SettingScope scopes[2] = {SETTING_ROLE, SETTING_NOT_ROLE};
	char	   *values[2];
	int			own;
	int			bound;

	owner_settings(owner, 2, names, scopes, values);
	own = timeout_ms(values[0]);
	if (values[1] != NULL)
		bound = timeout_ms(values[1]);
	else
	{
		/* the server's own default, as for search_path */
		struct config_int *var = (struct config_int *) server_setting("statement_timeout");

		bound = var == NULL ? 0 :
			var->gen.reset_source <= PGC_S_ARGV ? var->reset_val : var->boot_val;
	}
	if (own > 0 && (bound == 0 || own < bound))
		return own;
	return bound;
}

/*
 * Plans of internal statements, kept for the life of the backend: the same
 * few statements run at every refresh and every skip, and planning them
 * each time was most of their cost.  PostgreSQL's plan cache re-plans a
 * kept plan when what it uses changes, and analyzes it again when it runs
 * under another search_path than it was made with: all are made and run
 * with the pinned one (user code's plan and run with the owner's, inside
 * the planner and executor hooks, where the plan cache does not look).
 * Bounded: texts that name a view's own
 * tables differ per view, so past KEPT_PLANS_MAX statements the one used
 * least recently goes.  Not all of them: a refresh worker serving more
 * views than that would then plan the statements every run repeats again
 * and again (a new plan is planned for its parameters five times before
 * the plan cache settles on a generic one).
 */
#define KEPT_PLANS_MAX 256

/*
 * Of which user code's (runas_kept_user_plan()): a differential refresh's
 * statements are large (its plans take about a megabyte a view), so a
 * worker keeps those of the last few views it refreshed.
 */
#define KEPT_USER_PLANS_MAX 64

typedef struct KeptPlan
{
	uint64		key;			/* hash of the text, the role, the types, the
								 * variant */
	char	   *sql;
	Oid			role;
	int			nargs;
	Oid		   *argtypes;
	int64		variant;		/* -1: internal; else a user-code plan's */
	SPIPlanPtr	plan;
	dlist_node	recency;		/* in kept_recency, the most recent first */
} KeptPlan;

static HTAB *kept_plans = NULL;
static dlist_head kept_recency = DLIST_STATIC_INIT(kept_recency);
static int	kept_user_plans = 0;

/* Forgets the least recent kept plan (only_user: of user code) */
static void
forget_least_recent_plan(bool only_user)
{
	KeptPlan   *entry = dlist_container(KeptPlan, recency, dlist_tail_node(&kept_recency));

	while (only_user && entry->variant < 0)
		entry = dlist_container(KeptPlan, recency, dlist_prev_node(&kept_recency, &entry->recency));
	if (entry->variant >= 0)
		kept_user_plans--;

	dlist_delete(&entry->recency);
	SPI_freeplan(entry->plan);
	pfree(entry->sql);
	if (entry->argtypes != NULL)
		pfree(entry->argtypes);
	(void) hash_search(kept_plans, &entry->key, HASH_REMOVE, NULL);
}

/* SPI_prepare_cursor(), erroring when the statement cannot be prepared */
static SPIPlanPtr
prepare_or_error(const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

	if (plan == NULL)
		elog(ERROR, "could not prepare pipeline statement (%s): %s",
			 SPI_result_code_string(SPI_result), sql);
	return plan;
}

/*
 * A new plan of the statement (variant -1: internal SQL, prepared as role
 * with search_path pinned; else user code, prepared in the caller's
 * runas_begin_user_code()).
 */
static SPIPlanPtr
prepare_plan(Oid role, const char *sql, int nargs, Oid *argtypes, int64 variant)
{
	return variant >= 0 ? prepare_or_error(sql, nargs, argtypes, 0) :
		runas_spi_prepare(role, sql, nargs, argtypes);
}

/*
 * The kept plan of the statement (variant -1: internal SQL, prepared as
 * role with search_path pinned; else user code, prepared in the caller's
 * runas_begin_user_code()), made now if need be; NULL if it cannot be kept.
 */
static SPIPlanPtr
kept_plan(Oid role, const char *sql, int nargs, Oid *argtypes, int64 variant)
{
	uint64		key = hash_bytes_extended((const unsigned char *) sql, strlen(sql), role);
	KeptPlan   *entry;
	SPIPlanPtr	plan;

	if (nargs > 0)
		key = hash_bytes_extended((const unsigned char *) argtypes, nargs * sizeof(Oid), key);
	key = hash_bytes_extended((const unsigned char *) &variant, sizeof(variant), key);
	if (kept_plans != NULL)
	{
		entry = hash_search(kept_plans, &key, HASH_FIND, NULL);
		if (entry != NULL)
		{
			/* another statement of the same hash is simply not kept */
			if (entry->role != role || entry->nargs != nargs || entry->variant != variant ||
				strcmp(entry->sql, sql) != 0 ||
				(nargs > 0 && memcmp(entry->argtypes, argtypes, nargs * sizeof(Oid)) != 0))
				return NULL;
			dlist_move_head(&kept_recency, &entry->recency);
			return entry->plan;
		}
		if (hash_get_num_entries(kept_plans) >= KEPT_PLANS_MAX)
			forget_least_recent_plan(false);
		if (variant >= 0 && kept_user_plans >= KEPT_USER_PLANS_MAX)
			forget_least_recent_plan(true);
	}
	else
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(uint64);
		ctl.entrysize = sizeof(KeptPlan);
		kept_plans = hash_create("pipeline kept plans", 64, &ctl, HASH_ELEM | HASH_BLOBS);
	}
	plan = prepare_plan(role, sql, nargs, argtypes, variant);
	if (SPI_keepplan(plan) != 0)
	{
		SPI_freeplan(plan);
		return NULL;
	}
	entry = hash_search(kept_plans, &key, HASH_ENTER, NULL);
	entry->sql = MemoryContextStrdup(TopMemoryContext, sql);
	entry->role = role;
	entry->nargs = nargs;
	entry->argtypes = NULL;
	entry->variant = variant;
	if (variant >= 0)
		kept_user_plans++;
	if (nargs > 0)
	{
		entry->argtypes = MemoryContextAlloc(TopMemoryContext, nargs * sizeof(Oid));
		memcpy(entry->argtypes, argtypes, nargs * sizeof(Oid));
	}
	entry->plan = plan;
	dlist_push_head(&kept_recency, &entry->recency);
	return plan;
}

/* The kept plan, else one for this call alone (*kept says which) */
static SPIPlanPtr
kept_or_new_plan(Oid role, const char *sql, int nargs, Oid *argtypes, int64 variant, bool *kept)
{
	SPIPlanPtr	plan = kept_plan(role, sql, nargs, argtypes, variant);

	*kept = plan != NULL;
	return *kept ? plan : prepare_plan(role, sql, nargs, argtypes, variant);
}

SPIPlanPtr
runas_kept_user_plan(Oid owner, const char *sql, int64 variant, bool *kept)
{
	Assert(variant >= 0);
	return kept_or_new_plan(owner, sql, 0, NULL, variant, kept);
}

SPIPlanPtr
runas_kept_internal_plan(Oid role, const char *sql, int nargs, Oid *argtypes, bool *kept)
{
	return kept_or_new_plan(role, sql, nargs, argtypes, -1, kept);
}

uint64
runas_spi(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
		  const char *nulls, bool read_only, long count, int expected_ret)
{
	SPIPlanPtr	plan = kept_plan(role, sql, nargs, argtypes, -1);
	RunAs		ra;
	int			ret;

	runas_begin_internal(&ra, role);
	ret = plan != NULL ?
		SPI_execute_plan(plan, values, nulls, read_only, count) :
		SPI_execute_with_args(sql, nargs, argtypes, values, nulls, read_only, count);
	runas_end(&ra);
	if (ret < 0 || (expected_ret >= 0 && ret != expected_ret))
		elog(ERROR, "pipeline statement failed (%s): %s", SPI_result_code_string(ret), sql);
	return SPI_processed;
}

Query *
analyze_bound(const char *bound_query, Oid role)
{
	RunAs		ra;
	Query	   *query;

	runas_begin_internal(&ra, role);
	query = analyze_one(bound_query);
	runas_end(&ra);
	return query;
}

SPIPlanPtr
runas_spi_prepare(Oid role, const char *sql, int nargs, Oid *argtypes)
{
	return runas_spi_prepare_cursor(role, sql, nargs, argtypes, 0);
}

SPIPlanPtr
runas_spi_prepare_cursor(Oid role, const char *sql, int nargs, Oid *argtypes,
						 int cursor_options)
{
	RunAs		ra;
	SPIPlanPtr	plan;

	runas_begin_internal(&ra, role);
	plan = prepare_or_error(sql, nargs, argtypes, cursor_options);
	runas_end(&ra);
	return plan;
}

static void
reset_ddl_flag(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		ddl_in_progress = false;
}

/*
 * Before pipeline's own DDL as role: a new GUC nest level with
 * session_replication_role = replica when role is not the caller, or -1.
 * Event triggers enabled as by default (on origin) then do not fire: a
 * DBA's would run as role in the caller's session, where the caller's
 * temporary tables answer the names it leaves unqualified (pg_temp is last
 * in the pinned path, but searched for relations).  pipeline's own event
 * triggers are ENABLE ALWAYS; one a DBA enables ALWAYS or REPLICA still
 * fires, and must qualify its names.  Nothing but triggers reads the
 * setting, and the DDL fires no table trigger.
 */
static int
quiet_event_triggers(Oid role)
{
	int			nestlevel;

	if (!OidIsValid(role) || role == GetUserId())
		return -1;
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("session_replication_role", "replica", PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* After it (not after an error: the (sub)transaction's abort restores it) */
static void
end_quiet_event_triggers(int nestlevel)
{
	if (nestlevel >= 0)
		AtEOXact_GUC(true, nestlevel);
}

void
runas_ddl(Oid role, const char *sql)
{
	bool		save = ddl_in_progress;
	int			quiet;

	if (!ddl_callback_registered)
	{
		RegisterXactCallback(reset_ddl_flag, NULL);
		ddl_callback_registered = true;
	}
	/* the guard lets pipeline's own statement through */
	ddl_in_progress = true;
	PG_TRY();
	{
		quiet = quiet_event_triggers(role);
		SPI_connect();
		runas_spi(role, sql, 0, NULL, NULL, NULL, false, 0, -1);
		SPI_finish();
		end_quiet_event_triggers(quiet);
	}
	PG_FINALLY();
	{
		ddl_in_progress = save;
	}
	PG_END_TRY();
	CommandCounterIncrement();
}

void
runas_create_index(Oid owner, const char *indexdef)
{
	RawStmt    *raw = linitial_node(RawStmt, raw_parser(indexdef, RAW_PARSE_DEFAULT));
	IndexStmt  *stmt = castNode(IndexStmt, raw->stmt);
	RunAs		ra;
	Oid			relid;
	ListCell   *lc;

	/* read as written, with the pinned path, as ProcessUtility() would */
	runas_begin_internal(&ra, owner);
	relid = RangeVarGetRelidExtended(stmt->relation, stmt->concurrent ?
									 ShareUpdateExclusiveLock : ShareLock,
									 0, RangeVarCallbackOwnsRelation, NULL);
	stmt = transformIndexStmt(relid, stmt, indexdef);
	foreach(lc, stmt->indexParams)
		check_cast_owners(lfirst_node(IndexElem, lc)->expr, owner);
	check_cast_owners(stmt->whereClause, owner);
	runas_end(&ra);

	/*
	 * built as the owner's code runs (its expressions are), ready as it is;
	 * and without the DDL flag: an index expression's function runs here
	 * (PostgreSQL folds one of constants as it loads the expressions, even on
	 * the empty new relation), and the guard must see what it does.  No guard
	 * stops CREATE INDEX on a view's table.  DefineIndex() as
	 * ProcessUtility() calls it, but without event triggers: a DBA's would
	 * run as the owner in the caller's session (quiet_event_triggers()), and
	 * session_replication_role would let the owner's code here write past
	 * foreign keys.
	 */
	runas_begin_owner_session(&ra, owner);
	(void) DefineIndex(relid, stmt, InvalidOid, InvalidOid, InvalidOid,
					   false, true, true, false, false);
	runas_end(&ra);
	CommandCounterIncrement();
}

bool
runas_ddl_in_progress(void)
{
	return ddl_in_progress;
}

char *
runas_bind_query(const char *query_text)
{
	Query	   *query = analyze_one(query_text);

	check_cast_owners((Node *) query, GetUserId());
	return runas_deparse_bound(query);
}

char *
runas_bind_table_query(const char *query_text)
{
	Query	   *query = analyze_one(query_text);

	check_cast_owners((Node *) query, GetUserId());
	runas_check_output_columns(query);
	return runas_deparse_bound(query);
}

void
runas_check_output_columns(Query *query)
{
	List	   *names = NIL;
	ListCell   *lc;
	ListCell   *nc;

	foreach(lc, query->targetList)
	{
		TargetEntry *entry = lfirst_node(TargetEntry, lc);
		Oid			type = exprType((Node *) entry->expr);

		if (entry->resjunk)
			continue;
		foreach(nc, names)
			if (strcmp(lfirst(nc), entry->resname) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("column \"%s\" appears more than once in a managed view's query",
								entry->resname),
						 errhint("Give each column a name of its own with AS.")));
		names = lappend(names, entry->resname);
		if (get_typtype(type) == TYPTYPE_PSEUDO)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("column \"%s\" of a managed view's query has pseudo-type %s",
							entry->resname, format_type_be(type))));
	}
	list_free(names);
}

char *
runas_deparse_bound(Query *query)
{
	int			nestlevel;
	char	   *bound;

	/* a rename in progress ends first, and none passes until we commit */
	lock_named_objects((Node *) query);

	if (query->commandType != CMD_SELECT || query->utilityStmt != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("a managed view's query must be a SELECT")));
	/* as CREATE MATERIALIZED VIEW: the view would outlive them */
	if (isQueryUsingTempRelation(query))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a managed view's query must not use temporary tables or views")));

	/*
	 * ruleutils names a column's relation only when the query has more than
	 * one range table entry; a view's rule has two more (old and new), so a
	 * view of one table keeps "l.x" and an error re-analysing it says "column
	 * l.x does not exist", as the user wrote it.  An entry outside the join
	 * tree does the same here and prints nothing.
	 */
	if (list_length(query->rtable) == 1)
	{
		RangeTblEntry *unused = makeNode(RangeTblEntry);

		unused->rtekind = RTE_RESULT;
		unused->eref = makeAlias("pipeline_unused", NIL);
		query = copyObject(query);
		query->rtable = lappend(query->rtable, unused);
	}

	refuse_unnamed_operators(query);
	/* every name outside pg_catalog qualified (bound_text_settings) */
	nestlevel = runas_pin_bound_text_settings();
	bound = pg_get_querydef(query, false);
	runas_unpin_settings(nestlevel);
	return bound;
}

char *
runas_answer_settings(void)
{
	static const char *const names[] = {
		"TimeZone", "DateStyle", "IntervalStyle", "lc_monetary", "lc_numeric", "lc_time",
		"extra_float_digits", "bytea_output", "default_text_search_config",
		"array_nulls", "xmloption", "xmlbinary", "timezone_abbreviations",
		"quote_all_identifiers",
	};
	StringInfoData buf;

	initStringInfo(&buf);
	for (size_t i = 0; i < lengthof(names); i++)
		appendStringInfo(&buf, "%s%s=%s", i > 0 ? ", " : "", names[i],
						 GetConfigOption(names[i], false, false));
	return buf.data;
}
