/*-------------------------------------------------------------------------
 * owner_session.c
 *	  The defaults a role gets in a fresh session of this database, read
 *	  from pg_db_role_setting and the server's configuration, and applied
 *	  where pipeline runs the role's code.  See owner_session.h.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_db_role_setting.h"
#include "commands/dbcommands.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/guc_tables.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "util/owner_session.h"

/*
 * Read in PostgreSQL 15's src/backend/utils/adt: the date and time types'
 * input and output and the functions over them (DateStyle, IntervalStyle,
 * TimeZone, timezone_abbreviations), float output (extra_float_digits),
 * bytea output (bytea_output), money and to_char()/to_number()
 * (lc_monetary, lc_numeric, lc_time), text search with no configuration
 * named (default_text_search_config), xml (xmlbinary, xmloption), array
 * input (array_nulls), quote_ident(), format('%I') and regclass output
 * (quote_all_identifiers).  The first eight in the order a differential
 * view's position has always listed them.  lc_collate and lc_ctype are
 * the database's, fixed; standard_conforming_strings only changes how
 * text is parsed, and pipeline parses the bound text it runs with it on.
 */
const char *const owner_session_settings[OWNER_SESSION_NSETTINGS] = {
	"TimeZone", "DateStyle", "IntervalStyle", "lc_monetary", "lc_numeric", "lc_time",
	"extra_float_digits", "bytea_output", "timezone_abbreviations",
	"default_text_search_config", "xmlbinary", "xmloption", "array_nulls",
	"quote_all_identifiers",
};

/* Each setting's variable, and search_path's (last), found once */
static struct config_generic *variables[OWNER_SESSION_NSETTINGS + 1];

#define SEARCH_PATH OWNER_SESSION_NSETTINGS

/*
 * The configuration files' values of the settings, read when a session's
 * own reset value is not the server's (a client's, a role's or a
 * database's): kept until the server reloads its configuration.
 */
static char *file_values[OWNER_SESSION_NSETTINGS + 1];
static bool file_values_read = false;
static TimestampTz file_values_reload_time = 0;

int
owner_session_setting_index(const char *name)
{
	for (int i = 0; i < OWNER_SESSION_NSETTINGS; i++)
		if (pg_strcasecmp(name, owner_session_settings[i]) == 0)
			return i;
	return -1;
}

/* Index of name (any case) among the settings and search_path, or -1 */
static int
variable_index(const char *name)
{
	return pg_strcasecmp(name, "search_path") == 0 ? SEARCH_PATH :
		owner_session_setting_index(name);
}

/* Finds the variables once: built-in ones never move */
static void
find_variables(void)
{
	struct config_generic **vars;
	int			count;

	if (variables[SEARCH_PATH] != NULL)
		return;
	vars = get_guc_variables();
	count = GetNumConfigOptions();
	for (int v = 0; v < count; v++)
	{
		int			i = variable_index(vars[v]->name);

		if (i >= 0)
			variables[i] = vars[v];
	}
	for (int i = 0; i <= SEARCH_PATH; i++)
		if (variables[i] == NULL)
			elog(ERROR, "setting %d of a fresh session not found", i);
}

/*
 * Reads the settings' values from the configuration files as the server
 * reads them (postgresql.conf with its includes, then postgresql.auto.conf,
 * the last value of a name winning).  A file that cannot be read or parsed
 * leaves the built-in defaults, as the server keeps the values it has.
 */
static void
read_file_values(void)
{
	MemoryContext parse = AllocSetContextCreate(CurrentMemoryContext, "pipeline configuration files",
												ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(parse);
	ConfigVariable *head = NULL;
	ConfigVariable *tail = NULL;
	bool		parsed;

	parsed = ConfigFileName != NULL &&
		ParseConfigFile(ConfigFileName, true, NULL, 0, 0, DEBUG1, &head, &tail);
	if (parsed && DataDir != NULL)
		parsed = ParseConfigFile(PG_AUTOCONF_FILENAME, false, NULL, 0, 0, DEBUG1, &head, &tail);
	MemoryContextSwitchTo(old);

	for (int i = 0; i <= SEARCH_PATH; i++)
	{
		if (file_values[i] != NULL)
			pfree(file_values[i]);
		file_values[i] = NULL;
	}
	for (ConfigVariable *item = parsed ? head : NULL; item != NULL; item = item->next)
	{
		int			i = item->name != NULL && !item->ignore ? variable_index(item->name) : -1;

		if (i < 0 || item->value == NULL)
			continue;
		if (file_values[i] != NULL)
			pfree(file_values[i]);
		file_values[i] = MemoryContextStrdup(TopMemoryContext, item->value);
	}
	MemoryContextDelete(parse);
	file_values_read = true;
	file_values_reload_time = PgReloadTime;
}

/*
 * The server's value of variable i: this session's reset value when it
 * came from the configuration (file, command line or built in), else the
 * configuration files' value; NULL when neither gives one (the built-in
 * default applies).  A copy: GetConfigOptionResetString() writes a number
 * into a buffer of its own, and a reload replaces the files' values.
 */
static const char *
server_value(int i)
{
	const char *value;

	if (variables[i]->reset_source <= PGC_S_ARGV)
		value = GetConfigOptionResetString(variables[i]->name);
	else
	{
		if (!file_values_read || file_values_reload_time != PgReloadTime)
			read_file_values();
		value = file_values[i];
	}
	return value != NULL ? pstrdup(value) : NULL;
}

/* The built-in default of variable i, as text */
static const char *
built_in_value(int i)
{
	struct config_generic *var = variables[i];

	switch (var->vartype)
	{
		case PGC_BOOL:
			return ((struct config_bool *) var)->boot_val ? "on" : "off";
		case PGC_INT:
			return psprintf("%d", ((struct config_int *) var)->boot_val);
		case PGC_REAL:
			return psprintf("%g", ((struct config_real *) var)->boot_val);
		case PGC_STRING:
			/* timezone_abbreviations has none: the server sets "Default" */
			return ((struct config_string *) var)->boot_val != NULL ?
				((struct config_string *) var)->boot_val : "Default";
		case PGC_ENUM:
			return config_enum_lookup_by_value((struct config_enum *) var,
											   ((struct config_enum *) var)->boot_val);
	}
	return NULL;
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
 * Notes a pg_db_role_setting row's values (name=value items, the last SET
 * of a name winning, as ProcessGUCArray applies them in order) as source's.
 */
static void
note_row(Datum config, OwnerSettingSource source, const char *found[][OWNER_NSOURCES])
{
	ArrayType  *array = DatumGetArrayTypeP(config);
	Datum	   *items;
	int			count;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &items, NULL, &count);
	for (int n = 0; n < count; n++)
	{
		char	   *item = TextDatumGetCString(items[n]);
		char	   *equals = strchr(item, '=');
		int			i;

		if (equals == NULL)
			continue;
		*equals = '\0';
		i = variable_index(item);
		if (i >= 0)
			found[i][source] = equals + 1;
	}
}

OwnerSession *
owner_session_read(Oid owner)
{
	OwnerSession *session = palloc0(sizeof(OwnerSession));
	const char *found[OWNER_SESSION_NSETTINGS + 1][OWNER_NSOURCES] = {{0}};
	Relation	settings = table_open(DbRoleSettingRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(settings, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tuple;

	find_variables();
	/* one pass over the (small) catalog finds every level */
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_db_role_setting row = (Form_pg_db_role_setting) GETSTRUCT(tuple);
		bool		isnull;
		Datum		config;

		if (row->setrole != owner && OidIsValid(row->setrole))
			continue;
		if (row->setdatabase != MyDatabaseId && OidIsValid(row->setdatabase))
			continue;
		config = heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
							  RelationGetDescr(settings), &isnull);
		if (!isnull)
			note_row(config, OidIsValid(row->setrole) ?
					 (OidIsValid(row->setdatabase) ? OWNER_ROLE_IN_DATABASE : OWNER_ROLE) :
					 (OidIsValid(row->setdatabase) ? OWNER_DATABASE : OWNER_ALL_ROLES),
					 found);
	}
	systable_endscan(scan);
	table_close(settings, AccessShareLock);

	for (int i = 0; i <= SEARCH_PATH; i++)
	{
		found[i][OWNER_SERVER] = server_value(i);
		found[i][OWNER_BUILT_IN] = built_in_value(i);
	}
	session->owner = owner;
	memcpy(session->values, found, sizeof(session->values));
	/* the first there is; one that does not apply fails as in a session */
	for (int source = 0; source < OWNER_NSOURCES; source++)
	{
		if (found[SEARCH_PATH][source] != NULL)
		{
			session->search_path = owner_path(found[SEARCH_PATH][source]);
			break;
		}
	}
	return session;
}

/* What owner_session_apply() is applying, for its error context */
typedef struct Applying
{
	Oid			owner;
	const char *name;
	const char *value;
	OwnerSettingSource source;
} Applying;

static void
applying_context(void *arg)
{
	Applying   *a = arg;
	char	   *role = GetUserNameFromId(a->owner, true);
	char	   *database = get_database_name(MyDatabaseId);
	const char *where;

	role = role != NULL ? role : "?";
	database = database != NULL ? database : "?";
	switch (a->source)
	{
		case OWNER_ROLE_IN_DATABASE:
			where = psprintf("ALTER ROLE %s IN DATABASE %s SET", quote_identifier(role),
							 quote_identifier(database));
			break;
		case OWNER_ROLE:
			where = psprintf("ALTER ROLE %s SET", quote_identifier(role));
			break;
		case OWNER_DATABASE:
			where = psprintf("ALTER DATABASE %s SET", quote_identifier(database));
			break;
		case OWNER_ALL_ROLES:
			where = "ALTER ROLE ALL SET";
			break;
		case OWNER_SERVER:
			where = "the server's configuration";
			break;
		default:
			where = "the built-in default";
			break;
	}
	errcontext("%s = '%s' from %s, a default of role \"%s\" that pipeline runs its code with "
			   "(skipped, as a new session of the role skips it)",
			   a->name, a->value, where, role);
}

/*
 * The defaults found not to apply in this transaction, "owner name=value":
 * each is reported once per transaction, not at every block.
 */
static List *skipped = NIL;
static LocalTransactionId skipped_lxid = InvalidLocalTransactionId;

/* The level to report a default that does not apply at: WARNING once */
static int
skip_report_level(const Applying *applying)
{
	char	   *key;
	ListCell   *lc;

	if (skipped_lxid != MyProc->lxid)
	{
		/* the list went with the last transaction's memory */
		skipped = NIL;
		skipped_lxid = MyProc->lxid;
	}
	key = psprintf("%u %s=%s", applying->owner, applying->name, applying->value);
	foreach(lc, skipped)
	{
		if (strcmp(lfirst(lc), key) == 0)
			return DEBUG1;
	}
	return WARNING;
}

/* Notes that applying's default did not apply, for skip_report_level() */
static void
note_skipped(const Applying *applying)
{
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

	skipped = lappend(skipped, psprintf("%u %s=%s", applying->owner, applying->name,
										applying->value));
	MemoryContextSwitchTo(old);
}

/*
 * Sets setting i to the first of its defaults that applies.  One equal to
 * the value in force already is left: the caller's nest level restores
 * what the code changes all the same.
 */
static void
apply_setting(const OwnerSession *session, int i, Applying *applying)
{
	const char *current = GetConfigOption(owner_session_settings[i], false, false);
	int			level;

	applying->name = owner_session_settings[i];
	for (int source = 0; source < OWNER_NSOURCES; source++)
	{
		applying->value = session->values[i][source];
		applying->source = source;
		if (applying->value == NULL)
			continue;
		if (current != NULL && strcmp(current, applying->value) == 0)
			return;

		/*
		 * PGC_SUSET, as a new session applies ALTER ROLE and ALTER DATABASE
		 * settings in PostgreSQL 15 (only a superuser can have set a
		 * superuser-only one there); a WARNING, not an ERROR, when the value
		 * does not apply, and the next default, as there (once a transaction:
		 * a refresh runs many blocks).
		 */
		level = skip_report_level(applying);
		if (set_config_option(applying->name, applying->value, PGC_SUSET, PGC_S_SESSION,
							  GUC_ACTION_SAVE, true, level, false) > 0)
			return;
		if (level == WARNING)
			note_skipped(applying);
	}
}

void
owner_session_apply(const OwnerSession *session, const char *pinned)
{
	Applying	applying = {session->owner};
	ErrorContextCallback context = {error_context_stack, applying_context, &applying};

	error_context_stack = &context;
	for (int i = 0; i < OWNER_SESSION_NSETTINGS; i++)
		if (pinned == NULL || pinned[0] == '\0' || pinned[i] != 'p')
			apply_setting(session, i, &applying);
	error_context_stack = context.previous;
}
