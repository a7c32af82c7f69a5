/*-------------------------------------------------------------------------
 * runas.h
 *	  The one way pipeline runs SQL as another role, the one way it runs
 *	  user code, and the one way it runs its own DDL.
 *
 * Internal SQL (catalog reads and writes, DDL that pipeline issues) runs
 * with search_path pinned to "pg_catalog, pg_temp" and names every other
 * object schema-qualified, so nothing the caller put on its search_path can
 * be picked up, whoever the statement runs as.
 *
 * User code (a view's query while it is populated or refreshed, an
 * after-refresh hook) runs as the view's owner in a security-restricted
 * operation, with the search_path the owner gets in a fresh session: the
 * role's and database's settings (ALTER ROLE / ALTER DATABASE ... SET),
 * else the server's default, with pg_catalog first and pg_temp last.
 * Never the caller's.  The statements pipeline hands it, made of a view's
 * bound text, are parsed with the pinned path that text was written for,
 * and planned and run with the owner's: a function of the owner's that
 * matches better than the built-in the definition bound (a look-alike of a
 * polymorphic or variadic one) is never called in its place.
 *
 * Each begin is paired with a runas_end() on success.  On error the
 * (sub)transaction abort restores the user, security context and settings,
 * as it does for PostgreSQL's own REFRESH and SECURITY DEFINER functions;
 * callers that catch errors do so only through subtransactions
 * (subxact_try).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_RUNAS_H
#define PIPELINE_RUNAS_H

#include "executor/spi.h"
#include "nodes/parsenodes.h"

#define PINNED_SEARCH_PATH "pg_catalog, pg_temp"

/* At load: the setting and the planner and executor hooks user code needs */
extern void runas_init(void);

typedef struct RunAs
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	bool		user_code;		/* discard settings the code made */
} RunAs;

/*
 * Internal SQL as role (InvalidOid: the current user), search_path pinned.
 * Needs a transaction.
 */
extern void runas_begin_internal(RunAs *ra, Oid role);

/*
 * User code as owner: security-restricted; statements parsed with the
 * pinned search_path, planned and run with the owner's own (see above).
 * Settings the code changes are discarded at runas_end(), as REFRESH
 * discards them.  Needs a transaction.
 */
extern void runas_begin_user_code(RunAs *ra, Oid owner);

/*
 * The same with the owner's search_path for everything, parsing too: for a
 * function called by OID (a hook), or the owner's own text not bound yet.
 */
extern void runas_begin_owner_session(RunAs *ra, Oid owner);

/*
 * The statement_timeout (ms, 0 for none) owner gets in a fresh session of
 * this database: ALTER ROLE ... IN DATABASE, ALTER ROLE, ALTER DATABASE,
 * then the server's configuration, as for its search_path.
 */
extern int	runas_owner_statement_timeout(Oid owner);

/*
 * For PostgreSQL's REFRESH of owner's materialized view: the owner (whose
 * right to refresh REFRESH checks) with the owner's search_path for
 * everything (REFRESH runs the rule's bound query, and qualifies its own
 * SQL), not yet restricted.  REFRESH restricts the operation itself once
 * it has created its temporary table, before any user code runs, but would
 * keep the caller's search_path.
 */
extern void runas_begin_refresh(RunAs *ra, Oid owner);

/*
 * A statement of user code, prepared as it runs: in the caller's
 * runas_begin_user_code() for owner, which must be in force, and kept for
 * the backend's life like runas_spi()'s statements (the plan cache plans it
 * again when what it uses changes).  variant
 * (>= 0) tells apart plans of one text that must not be shared, e.g. made
 * for very different numbers of rows.  *kept: the plan is kept, never free
 * it; else it was prepared for this call alone (it could not be kept), and
 * the caller frees it.
 */
extern SPIPlanPtr runas_kept_user_plan(Oid owner, const char *sql, int64 variant, bool *kept);

/*
 * The plan of an internal statement, prepared as role with search_path
 * pinned and kept as runas_spi()'s are, for a caller that runs it itself
 * (under runas_begin_internal() for role): to send its rows to a receiver
 * of its own.  *kept as for runas_kept_user_plan().
 */
extern SPIPlanPtr runas_kept_internal_plan(Oid role, const char *sql, int nargs, Oid *argtypes,
										   bool *kept);

extern void runas_end(RunAs *ra);

/* A setting and the value it is pinned to (runas_pin_settings()). */
typedef struct RunAsSetting
{
	const char *name;
	const char *value;
} RunAsSetting;

/*
 * Sets count settings to fixed values in a GUC nest level of their own,
 * whatever the session, role or database says: the search_path of
 * internal SQL, or the output formats (DateStyle and the like) in which a
 * value is written as text and read back.  Returns the nest level to pass
 * to runas_unpin_settings(), which restores the caller's values.  On error
 * the (sub)transaction abort restores them.  Needs a transaction.
 */
extern int	runas_pin_settings(const RunAsSetting *settings, int count);
extern void runas_unpin_settings(int nestlevel);

/*
 * Pins what bound text is deparsed with (an empty search_path, ISO dates,
 * postgres intervals, round-trip floats, standard strings); returns the
 * nest level for runas_unpin_settings().
 */
extern int	runas_pin_bound_text_settings(void);

/*
 * Pins what pipeline's own SQL, and the bound text it reads back, is parsed
 * with (the pinned search_path, standard strings); returns the nest level
 * for runas_unpin_settings().
 */
extern int	runas_pin_internal_settings(void);

/*
 * The settings a query's answer can depend on through stable built-ins
 * (TimeZone for timestamptz::date, lc_time for to_char, extra_float_digits
 * for float8::text, ...), as "name=value, ...": what a differential view
 * and skip-unchanged compare with those of the last refresh.
 */
extern char *runas_answer_settings(void);

/*
 * Runs SQL through SPI with parameters (nulls as SPI wants them, or NULL),
 * as role (InvalidOid: the current user), search_path pinned.  The caller
 * must be connected to SPI.  Errors unless SPI returns expected_ret (a
 * negative value accepts any success).  Returns SPI_processed.
 */
extern uint64 runas_spi(Oid role, const char *sql, int nargs, Oid *argtypes,
						Datum *values, const char *nulls, bool read_only,
						long count, int expected_ret);

/*
 * analyze_one() of a stored, bound query as role, with search_path pinned:
 * how a view's query is read back.
 */
extern Query *analyze_bound(const char *bound_query, Oid role);

/*
 * Prepares SQL through SPI as role (InvalidOid: the current user) with
 * search_path pinned.  Code the statement fires (the caller's own triggers)
 * runs with the search_path in force at execution.  The pinned path does not
 * stay with the plan: PostgreSQL's plan cache analyzes it again when it runs
 * under another search_path, so its text must qualify every name, operators
 * and functions included.  The caller must be connected to SPI; the plan
 * lives until SPI_finish() unless kept.
 */
extern SPIPlanPtr runas_spi_prepare(Oid role, const char *sql, int nargs, Oid *argtypes);

/* The same with SPI_prepare_cursor()'s options (CURSOR_OPT_PARALLEL_OK). */
extern SPIPlanPtr runas_spi_prepare_cursor(Oid role, const char *sql, int nargs,
										   Oid *argtypes, int cursor_options);

/*
 * Runs one utility statement pipeline issues on managed views (every name
 * in it qualified), as role, search_path pinned, flagged as pipeline's own
 * DDL so the guard lets it through, then makes its effects visible.  The
 * flag cannot outlive the statement: it is reset on the way out, error or
 * not, and at every transaction abort.  Needs a transaction.
 */
extern void runas_ddl(Oid role, const char *sql);

/*
 * The same for a CREATE INDEX (as pg_get_indexdef() writes it) on owner's
 * relation: the statement read with the pinned search_path, as the owner,
 * the index built as the owner's code runs (runas_begin_owner_session()):
 * its expressions call the owner's functions, whose bodies find their
 * names with the owner's path, never in the caller's temporary schema.
 */
extern void runas_create_index(Oid owner, const char *indexdef);

/* True while runas_ddl() runs a statement (read by the DDL guard). */
extern bool runas_ddl_in_progress(void);

/*
 * The bound form of a query: parse-analyzed as the current user with the
 * current search_path (what the user meant when defining it), then deparsed
 * as PostgreSQL deparses a view, with every object outside pg_catalog
 * schema-qualified, so that re-analysis under the pinned search_path
 * resolves the same objects whoever does it.  Errors are the analyzer's,
 * with a position in the text.  Needs a transaction.
 */
extern char *runas_bind_query(const char *query_text);

/* The same for a query analyzed already. */
extern char *runas_deparse_bound(Query *query);

/*
 * Refuses output columns no table can have, in the view's words rather than
 * with the CREATE TABLE pipeline would run: a name twice (two unnamed
 * expressions are both "?column?"), a pseudo-type (void, record).  For the
 * query of a view kept in a relation of its shape (not a lake publication's).
 */
extern void runas_check_output_columns(Query *query);

/* runas_bind_query() of such a query, with that check. */
extern char *runas_bind_table_query(const char *query_text);

#endif							/* PIPELINE_RUNAS_H */
