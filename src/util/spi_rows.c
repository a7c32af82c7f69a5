/*-------------------------------------------------------------------------
 * spi_rows.c
 *	  One statement of internal SQL, its rows copied out.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"

#include "util/runas.h"
#include "util/spi_rows.h"

/* Copies SPI's last result into rows, in memory context caller. */
static void
copy_result(SpiRows *rows, MemoryContext caller)
{
	if (SPI_tuptable != NULL)
	{
		TupleDesc	desc = SPI_tuptable->tupdesc;
		uint64		cells;

		rows->ncols = desc->natts;
		cells = rows->count * rows->ncols;
		rows->values = MemoryContextAlloc(caller, sizeof(Datum) * Max(cells, 1));
		rows->nulls = MemoryContextAlloc(caller, sizeof(bool) * Max(cells, 1));
		for (uint64 r = 0; r < rows->count; r++)
		{
			HeapTuple	tup = SPI_tuptable->vals[r];

			for (int c = 0; c < rows->ncols; c++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, c);
				uint64		cell = r * rows->ncols + c;
				Datum		value = SPI_getbinval(tup, desc, c + 1, &rows->nulls[cell]);
				MemoryContext spi = MemoryContextSwitchTo(caller);

				rows->values[cell] = rows->nulls[cell] ? (Datum) 0 :
					datumCopy(value, att->attbyval, att->attlen);
				MemoryContextSwitchTo(spi);
			}
		}
	}
}

SpiRows *
spi_rows(Oid role, const char *sql, int nargs, Oid *argtypes, Datum *values,
		 const char *nulls, bool read_only, int expected_ret)
{
	MemoryContext caller = CurrentMemoryContext;
	SpiRows    *rows = palloc0(sizeof(SpiRows));

	SPI_connect();
	rows->count = runas_spi(role, sql, nargs, argtypes, values, nulls,
							read_only, 0, expected_ret);
	copy_result(rows, caller);
	SPI_finish();
	return rows;
}

SpiRows *
spi_rows_user_code(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	return spi_rows_user_code_scan(sql, nargs, argtypes, values, false);
}

SpiRows *
spi_rows_user_code_scan(const char *sql, int nargs, Oid *argtypes, Datum *values,
						bool parallel)
{
	MemoryContext caller = CurrentMemoryContext;
	SpiRows    *rows = palloc0(sizeof(SpiRows));

	SPI_connect();
	if (SPI_execute_plan(runas_spi_prepare_cursor(InvalidOid, sql, nargs, argtypes,
												  parallel ? CURSOR_OPT_PARALLEL_OK : 0),
						 values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", sql);
	rows->count = SPI_processed;
	copy_result(rows, caller);
	SPI_finish();
	return rows;
}

char *
spi_rows_text(const SpiRows *rows, uint64 row, int col)
{
	bool		isnull;
	Datum		value = spi_rows_value(rows, row, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(value);
}

List *
spi_rows_oids(const SpiRows *rows, int col)
{
	List	   *oids = NIL;

	for (uint64 r = 0; r < rows->count; r++)
	{
		bool		isnull;
		Datum		value = spi_rows_value(rows, r, col, &isnull);

		if (!isnull)
			oids = lappend_oid(oids, DatumGetObjectId(value));
	}
	return oids;
}

Datum
spi_oid_array(List *oids)
{
	Datum	   *elements = palloc(sizeof(Datum) * Max(list_length(oids), 1));
	ListCell   *lc;

	foreach(lc, oids)
		elements[foreach_current_index(lc)] = ObjectIdGetDatum(lfirst_oid(lc));
	return PointerGetDatum(construct_array(elements, list_length(oids), OIDOID,
										   sizeof(Oid), true, TYPALIGN_INT));
}

Datum
spi_text_array(List *texts)
{
	int			n = list_length(texts);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	ListCell   *lc;

	foreach(lc, texts)
	{
		int			i = foreach_current_index(lc);

		nulls[i] = lfirst(lc) == NULL;
		d[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum((char *) lfirst(lc));
	}
	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	return PointerGetDatum(construct_md_array(d, nulls, 1, dims, lbs, TEXTOID, -1, false,
											  TYPALIGN_INT));
}

List *
spi_array_texts(Datum array)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *out = NIL;

	deconstruct_array(DatumGetArrayTypeP(array), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		out = lappend(out, nulls[i] ? NULL : TextDatumGetCString(elems[i]));
	return out;
}
