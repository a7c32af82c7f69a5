/*-------------------------------------------------------------------------
 * spi_rows.h
 *	  One statement of internal SQL, its rows copied out: the "connect,
 *	  execute, copy rows into the caller's context, finish" loop, once.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_SPI_ROWS_H
#define PIPELINE_SPI_ROWS_H

#include "access/tupdesc.h"
#include "nodes/pg_list.h"

/*
 * A result, in the memory context of the call: every value of every row,
 * by-reference values copied, row-major.
 */
typedef struct SpiRows
{
	uint64		count;			/* rows returned or affected */
	int			ncols;			/* 0 for a statement without rows */
	Datum	   *values;			/* count * ncols */
	bool	   *nulls;
} SpiRows;

/*
 * Runs sql with parameters (nulls as SPI wants them, or NULL) as role
 * (InvalidOid: the current user) with search_path pinned (runas_spi()),
 * in an SPI connection of its own, so the caller may or may not be
 * connected.  Errors unless SPI returns expected_ret (negative: any
 * success).  Needs a transaction.
 */
extern SpiRows *spi_rows(Oid role, const char *sql, int nargs, Oid *argtypes,
						 Datum *values, const char *nulls, bool read_only,
						 int expected_ret);

/*
 * The same for a SELECT that reads a view's query (user code) as the
 * current user: analyzed with search_path pinned, so the bound query and
 * the wrapper resolve what they were bound to, and run with the
 * search_path in force (the owner's, inside runas_begin_user_code()), as
 * code the query calls expects.  It sees what this transaction wrote so
 * far.
 */
extern SpiRows *spi_rows_user_code(const char *sql, int nargs, Oid *argtypes, Datum *values);

/*
 * The same, planned for parallel query when parallel is true (a scan of a
 * whole relation, whose functions the planner finds parallel safe).
 */
extern SpiRows *spi_rows_user_code_scan(const char *sql, int nargs, Oid *argtypes,
										Datum *values, bool parallel);

/*
 * Value of column col (0-based) of row; *isnull says whether it is null.  A
 * row or column beyond the result is an internal error, not a wild read.
 */
static inline Datum
spi_rows_value(const SpiRows *rows, uint64 row, int col, bool *isnull)
{
	if (row >= rows->count || col < 0 || col >= rows->ncols)
		elog(ERROR, "row " UINT64_FORMAT " column %d is beyond a result of " UINT64_FORMAT " rows of %d columns",
			 row, col, rows->count, rows->ncols);
	*isnull = rows->nulls[row * rows->ncols + col];
	return rows->values[row * rows->ncols + col];
}

/* An oid column's non-null values, in row order. */
extern List *spi_rows_oids(const SpiRows *rows, int col);

/* A text column's value at row as a C string, or NULL (palloc'd). */
extern char *spi_rows_text(const SpiRows *rows, uint64 row, int col);

/*
 * A text[] of a list of C strings (a NULL item a null element), for a
 * statement's parameter.
 */
extern Datum spi_text_array(List *texts);

/* An oid[] of a list of OIDs, for a statement's parameter. */
extern Datum spi_oid_array(List *oids);

/* spi_text_array()'s inverse: a text[]'s elements, NULL for a null. */
extern List *spi_array_texts(Datum array);

#endif
