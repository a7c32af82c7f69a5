/*-------------------------------------------------------------------------
 * diff_sql.h
 *	  The SQL of a differential refresh, generated from a view's shape
 *	  (diff_shape.h).  differential.c runs it.
 *
 *	  Names the statements share:
 *	  - pipeline_delta_<relid>: ephemeral relation of one changed source's
 *	    captured rows in the refresh window, with the source's column names
 *	    and pipeline_m (+1 a row that came, -1 a row that went);
 *	  - the delta (diff_sql_delta): the view's inner rows that came and
 *	    went, as c1..cN and pipeline_m;
 *	  - pipeline_dv (bag views): the delta with duplicates counted;
 *	  - pipeline_dg (grouped views): the delta per group;
 *	  - the state table (grouped views), alias s: keys k1..kN,
 *	    pipeline_count, per aggregate what it needs, pipeline_stale.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_DIFF_SQL_H
#define PIPELINE_DIFF_SQL_H

#include "views/diff_shape.h"

typedef struct DiffSql DiffSql;

/*
 * The generator for a view (qualified name of its table) and, for a
 * grouped view, its state table (qualified).  Deparses as needed: call in
 * a transaction, as anyone (no user code runs).
 */
extern DiffSql *diff_sql_prepare(DiffShape *shape, const char *view, const char *state);

/* The delta when the sources changed_relids (Oids) changed. */
extern char *diff_sql_delta(DiffSql *sql, List *changed_relids);

/*
 * The most occurrences of the sources changed_relids one branch of the
 * query joins (each occurrence of a self-join counts).
 */
extern int	diff_sql_changed_occurrences(DiffSql *sql, List *changed_relids);

/*
 * Whether, when each changed source's rows all came (each once), the delta
 * is of gains alone, every row of it with multiplicity 1: no branch of the
 * query reads two changed sources (or one twice), whose terms would take
 * rows back.  A grouped view's statements for such a delta (gains true)
 * leave out what rows that went need, which makes an append cheaper.
 * False also where those statements do not apply (a state made before 1.7
 * or 1.9's functions missing).
 */
extern bool diff_sql_gains_only(DiffSql *sql, List *changed_relids);

/* The columns of the ephemeral relation of a source's changes, in order. */
extern List *diff_sql_captured_columns(DiffSql *sql, Oid relid);

/*
 * The name of the multiplicity column after them: pipeline_m, unless the
 * query reads a column of that name there.
 */
extern const char *diff_sql_multiplicity_column(DiffSql *sql, Oid relid);

/*
 * Statements that match rows by key (a bag view's by every column) come in
 * two: with null_keys false for the rows of pipeline_dv/pipeline_dg whose
 * keys are all non-NULL (matched by equality, which indexes serve), true
 * for the others (matched as records, NULLs equal): run that one only when
 * there are such rows.
 */

/*
 * The column in which a write of view rows also returns where it wrote
 * each (its ctid), when asked to (places): the rows a refresh wrote are
 * what its audit checks.
 */
#define DIFF_SQL_PLACE_COLUMN "pipeline_place"

/* Bag views: pipeline_dv from a delta, then deleting and inserting rows. */
extern char *diff_sql_bag_counts(DiffSql *sql, const char *delta);
extern char *diff_sql_bag_delete(DiffSql *sql, bool null_columns);
extern char *diff_sql_bag_insert(DiffSql *sql, bool places);
extern char *diff_sql_bag_populate(DiffSql *sql, const char *bound_query);

/*
 * Statistics of a bag view's lookup column (its first), for the delete's
 * join with the changes: without them the planner takes every value for
 * one in 200 and reads the whole view to sort it.  NULL for a view
 * without columns.
 */
extern char *diff_sql_bag_analyze(DiffSql *sql);

/* Grouped views. */
extern char *diff_sql_state_columns(DiffSql *sql);

/*
 * Each min() and max() keeps its group's best DIFF_EXTREMES_KEPT values
 * in the state (top_<n>, see diff_extremes.c) rather than the extreme
 * alone (ext_<n>, state tables made before 1.7).  keep: the state table
 * has top_ columns, or is yet to be made and pipeline.extremes_after()
 * exists.  The first aggregate kept either way is
 * diff_sql_first_extreme(): 0 when the view has no min() or max().
 */
#define DIFF_EXTREMES_KEPT 8
extern void diff_sql_keep_extremes(DiffSql *sql, bool keep);

/*
 * With installed (1.9's functions are: pipeline.extremes_merged() exists),
 * the kept values are merged with the best eight of the rows that came
 * rather than their best alone, and a numeric sum's scale in the delta is
 * counted by pipeline.max_scale() rather than in a window.
 */
extern void diff_sql_use_1_9_functions(DiffSql *sql, bool installed);

/*
 * by_adding: the delta's sums are pipeline.numeric_sum() (1.21), which adds
 * each value to the last, rather than sum(), whose state costs more to make
 * than a few additions: for deltas of a few rows per group.
 */
extern void diff_sql_sum_by_adding(DiffSql *sql, bool by_adding);

/*
 * Whether aggregates of one argument share their state columns (1.9 on;
 * see diff_sql.c).  share: the state table was made that way, or is yet
 * to be made; diff_sql_prepare() assumes it.  diff_sql_shared_nn(): the
 * first aggregate that reads another's count of non-NULL values, 0 if none.
 */
extern void diff_sql_share_columns(DiffSql *sql, bool share);
extern int	diff_sql_shared_nn(DiffSql *sql);
extern int	diff_sql_first_extreme(DiffSql *sql);
extern char *diff_sql_group_delta(DiffSql *sql, const char *delta, bool gains);
extern char *diff_sql_state_merge(DiffSql *sql, bool null_keys, bool gains, bool by_key);
extern char *diff_sql_state_stale_count(DiffSql *sql);

/*
 * The stale groups' state from the sources, in steps 1 to
 * diff_sql_state_recompute_steps() (NULL when a step has nothing to do),
 * each for the stale groups with (null_keys) or without a NULL key: each
 * numeric aggregate's scale and sum, then the extremes, which also marks
 * the groups no longer stale (when extremes are kept: the kept values that
 * are unknown read again, then the extremes from them).
 */
extern char *diff_sql_state_recompute(DiffSql *sql, bool null_keys, int step);
extern int	diff_sql_state_recompute_steps(DiffSql *sql);
extern char *diff_sql_state_populate(DiffSql *sql);

/*
 * The view's rows of the changed groups, from the state, in this order:
 * rows kept updated (NULL without group keys; with keys and without
 * null_keys it returns the keys it rewrote, c1.. and a count of 1), rows
 * gone deleted, new rows inserted.  by_key (here and in the state's MERGE):
 * the statement will find its groups by index, not by hashing
 * (differential.c, run_by_key()).
 */
extern char *diff_sql_view_update_groups(DiffSql *sql, bool null_keys, bool places,
										 bool keys, bool by_key);

/* Whether the view has a HAVING (a group may leave it without losing rows). */
extern bool diff_sql_has_having(DiffSql *sql);

/*
 * Whether groups with a NULL key are found by an index too: several keys
 * are indexed by their record's hash, which NULLs have (a single key's
 * index holds no NULL).
 */
extern bool diff_sql_null_keys_indexed(DiffSql *sql);

/*
 * Whether a view's lookup index can hold any values of these key types (a
 * grouped view's keys, a bag view's first column): it is a hash index, or
 * a hash of their record, when every one's equality hashes, else a btree,
 * whose entries hold 2.7 kB, which a variable-length value may outgrow.
 */
extern bool diff_sql_key_types_indexable(const Oid *types, int count);

/*
 * The changed groups' keys (without a NULL key) that the UPDATE did not
 * rewrite: the caller keeps the keys it returned as pipeline_du, and these
 * as pipeline_dl for the statements below (left_only).
 */
extern char *diff_sql_group_keys_left(DiffSql *sql);

/*
 * The same for a delta of gains alone in a view without HAVING, whose
 * UPDATE returned no keys: every changed group has its state, and the
 * UPDATE rewrote each that had a row, so those left are the new ones.
 */
extern char *diff_sql_group_keys_new(DiffSql *sql);

/* left_only: only for the groups in pipeline_dl. */
extern char *diff_sql_view_delete_groups(DiffSql *sql, bool null_keys, bool left_only,
										 bool by_key);
extern char *diff_sql_view_insert_groups(DiffSql *sql, bool null_keys, bool left_only,
										 bool places, bool by_key);

/* Indexes: the state table's keys, the view's key columns (first column of a bag view). */
extern char *diff_sql_state_index(DiffSql *sql);
extern char *diff_sql_view_index(DiffSql *sql, const char *index_name);

/* How many key columns the statements above match on (all of a bag's). */
extern int	diff_sql_key_count(DiffSql *sql);
extern char *diff_sql_view_populate(DiffSql *sql);

#endif
