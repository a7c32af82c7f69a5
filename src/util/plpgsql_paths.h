/*-------------------------------------------------------------------------
 * plpgsql_paths.h
 *	  PL/pgSQL functions compiled under another role's search_path are not
 *	  run where pipeline is involved (plpgsql_paths.c says why and how).
 *	  runas.c calls both from PostgreSQL's function-manager hooks.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_PLPGSQL_PATHS_H
#define PIPELINE_PLPGSQL_PATHS_H

/* Whether fn's calls must be seen (it is a PL/pgSQL function) */
extern bool plpgsql_paths_watch(Oid fn);

/*
 * At the start of a call of fn, as the role it runs as and with its
 * settings in force; by_pipeline: inside one of pipeline's runas blocks;
 * from_sql: called by a statement (not by CREATE FUNCTION).  Errors when
 * an earlier call in this session, as another role under another
 * search_path, may have shaped the form this one runs, and pipeline ran
 * either.  cache, when not NULL, is a Datum kept with the caller's
 * FmgrInfo (zero at first) that spares later calls a lookup.
 */
extern void plpgsql_paths_check(Oid fn, bool by_pipeline, bool from_sql, Datum *cache);

/*
 * Inside pipeline's blocks, at the start of a call of a function entered
 * with its own settings: errors when its search_path searches this
 * session's temporary schema (which may hold another role's objects)
 * before others.
 */
extern void plpgsql_paths_check_temp(Oid fn);

/*
 * While this transaction's REFRESH ... CONCURRENTLY of matview runs (or
 * InvalidOid after it): the tables PostgreSQL makes for it in the session's
 * temporary schema ("pg_temp_<matview>", and "..._2") hold the view's new
 * rows, no caller's objects, and plpgsql_paths_check_temp() passes over
 * them.
 */
extern void plpgsql_paths_refreshing_concurrently(Oid matview);

#endif
