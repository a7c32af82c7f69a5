/*-------------------------------------------------------------------------
 * owner_session.h
 *	  What a role gets in a fresh session of this database: the search_path
 *	  its code runs with, and the settings a query's result depends on.
 *
 * A new session applies, for each setting, the most specific default there
 * is: the role's in this database (ALTER ROLE ... IN DATABASE ... SET), the
 * role's (ALTER ROLE ... SET), the database's (ALTER DATABASE ... SET),
 * everyone's (ALTER ROLE ALL SET), then the server's (its configuration
 * file or command line, else the built-in default).  pipeline runs a view's
 * code with these, never the calling session's, so a refresh gives the same
 * rows whoever runs it (runas.h).
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_OWNER_SESSION_H
#define PIPELINE_OWNER_SESSION_H

/*
 * The settings besides search_path: those a stable built-in function or a
 * type's input or output function reads, so that a query's rows depend on
 * them (timestamptz::date on TimeZone, to_char() on lc_time and lc_numeric,
 * a float's text on extra_float_digits, to_tsvector(text) on
 * default_text_search_config, ...).
 */
#define OWNER_SESSION_NSETTINGS 14
extern const char *const owner_session_settings[OWNER_SESSION_NSETTINGS];

/* Where a default comes from, the most specific first */
typedef enum OwnerSettingSource
{
	OWNER_ROLE_IN_DATABASE,
	OWNER_ROLE,
	OWNER_DATABASE,
	OWNER_ALL_ROLES,
	OWNER_SERVER,				/* configuration file or command line */
	OWNER_BUILT_IN,
	OWNER_NSOURCES
} OwnerSettingSource;

typedef struct OwnerSession
{
	Oid			owner;
	char	   *search_path;	/* as the owner's code gets it: pg_catalog
								 * first, pg_temp last */
	/* each setting's defaults, NULL where a source has none */
	const char *values[OWNER_SESSION_NSETTINGS][OWNER_NSOURCES];
} OwnerSession;

/* The defaults owner gets in a fresh session here.  Needs a transaction. */
extern OwnerSession *owner_session_read(Oid owner);

/*
 * Sets the settings to session's defaults at the current GUC nest level,
 * but for those pinned: NULL, "" (none), or a character per setting, 'p'
 * where pinned.  The caller restores them with that level.  A default that
 * does not apply (a locale removed since it was set) is skipped with
 * PostgreSQL's WARNING, in the context of whose default it is, and the
 * next one applies, as in a new session.  Needs a transaction.
 */
extern void owner_session_apply(const OwnerSession *session, const char *pinned);

/* The index of name in owner_session_settings (any case), or -1 */
extern int	owner_session_setting_index(const char *name);

#endif							/* PIPELINE_OWNER_SESSION_H */
