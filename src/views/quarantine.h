/*-------------------------------------------------------------------------
 * quarantine.h
 *	  @on-error quarantine: a stream view's or mirror's batch goes on past
 *	  rows that fail with a data error; they go to pipeline.rejected.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_QUARANTINE_H
#define PIPELINE_QUARANTINE_H

#include "postgres.h"

#include "model/catalog.h"
#include "model/dpl.h"
#include "nodes/parsenodes.h"

/*
 * The one table a stream reads and its column that is the incremental key
 * (key, an output column of query): true when the query reads exactly one
 * table and the key is a plain column of it.
 */
extern bool quarantine_stream_of(Query *query, const char *key, Oid *table, char **column);

/* Errors unless def, asking for quarantine, reads a stream it can bisect. */
extern void quarantine_check(const MatviewDefinition *def);

/* Stream keys above lo (NULL: no bound) up to hi, inclusive or not */
typedef struct StreamRange
{
	const char *lo;
	const char *hi;
	bool		hi_inclusive;
} StreamRange;

/* One batch of a stream: the rows whose stream key is in (mark, greatest]. */
typedef struct StreamBatch
{
	Oid			view;
	const char *view_name;
	Oid			owner;
	const char *bound_query;
	const char *key;			/* the incremental key (output column) */
	const char *keytype;		/* its type, qualified */
	Oid			keytypid;
	Oid			stream;			/* the table the stream reads */
	const char *stream_column;	/* its column that is the key */
	List	   *mirror_keys;	/* a mirror's key columns; NIL otherwise */
	List	   *mirror_key_types;	/* their types (OIDs) */
	const char *mark;			/* NULL: from the first row */
	const char *greatest;

	/*
	 * A replay from the first row (a rebuild): the stream keys, as a text[],
	 * of the rows set aside before (quarantine_replay_set_aside()), which
	 * every run leaves out; 0 for none.  quarantine_run() fills it in.
	 */
	Datum		set_aside;

	/*
	 * Runs the batch's rows in the ranges (at least one, ascending, apart) as
	 * one change, leaving out the rows whose mirror key, as ROW(keys)::text,
	 * is in excluded (a text[]; 0 for none).  One change: a mirror applies
	 * the ranges in one apply, so that the changes of a key on both sides of
	 * a failing row are ordered as in the whole batch.
	 */
	void		(*run) (struct StreamBatch *batch, const StreamRange *ranges, int nranges,
						Datum excluded);
	void	   *arg;
	/* what the runs that count did (inserted/appended, updated, deleted) */
	int64		applied[3];
	/* out: how many stream rows went to pipeline.rejected */
	int64		quarantined;
} StreamBatch;

/*
 * ROW(q.k1, ...)::text over a query aliased q: the text a mirror key is set
 * aside by (StreamBatch.run's excluded), equal values of a key column in
 * one spelling.
 */
extern char *quarantine_mirror_key_sql(const StreamBatch *batch);

/*
 * Fills in the batch's view, owner, key and stream (the one table query,
 * the view's bound query analyzed, reads); errors when the query no longer
 * reads one.  The caller sets the mark, run and arg.
 */
extern void quarantine_batch_begin(StreamBatch *batch, const ManagedView *view, Oid owner,
								   Query *query, Oid keytype);

/*
 * The stream keys, as a text[] of the key column's values (0 when none),
 * of the rows pipeline.rejected holds for view from the table whose column
 * the query's incremental key is (through joins too; 0 when it is no
 * table's column).  A replay from the first row (a rebuild) leaves them
 * out, quarantining or not: the runs that set them aside moved the mark
 * past them, so the rebuilt view holds what the runs applied, and none is
 * set aside twice.
 */
extern Datum quarantine_replay_set_aside(Oid view, Query *query, const char *key);

/*
 * " AND NOT key_sql = ANY ($param::type[])", with the type's own equality:
 * what leaves the keys of quarantine_replay_set_aside() out of a statement.
 */
extern char *quarantine_leave_out_sql(const char *key_sql, Oid keytype, int param);

/*
 * The greatest and the least key of the stream table above mark, as text
 * (NULL: none).  Run as the current user.
 */
extern char *quarantine_greatest(const StreamBatch *batch);
extern char *quarantine_least(const StreamBatch *batch);

/*
 * Runs the batch.  When it fails with a data error (SQLSTATE classes 22
 * and 23), finds the failing stream keys by bisecting the batch's keys in
 * subtransactions that are rolled back, runs the rest of the batch (for a
 * mirror, without any change of a failing change's key), and records the
 * stream table's rows that were left out in pipeline.rejected.  Any other
 * error, or a data error no single key explains, propagates.  Runs as the
 * current user (the view's owner, security-restricted); needs SPI
 * connected.
 */
extern void quarantine_run(StreamBatch *batch);

#endif
