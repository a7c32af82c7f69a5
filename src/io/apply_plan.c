/*-------------------------------------------------------------------------
 * apply_plan.c
 *	  apply_changes()'s column plan (which change columns are keys, the
 *	  sequence, the operation, and which go into which target columns) and
 *	  the text of the one MERGE that applies the changes.
 *
 * The MERGE's source reads the change table once, sorted by key and
 * descending sequence (NULLs first: a delete that carries only the key is
 * the newest change of its key).  pipeline.apply_changes_row() is a filter
 * on that sorted subquery, so it sees every change in order and checks it
 * at no extra scan, and it lets through only each key's first, newest,
 * change, and only if that is good.  A key whose newest change is bad is
 * left alone; apply_changes() raises the error after the MERGE, which
 * undoes the rest.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "nodes/makefuncs.h"
#include "parser/parse_coerce.h"
#include "parser/parse_oper.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "io/apply_plan.h"
#include "util/analyze.h"
#include "util/name_list.h"

/* attribute number of a live column called name, or InvalidAttrNumber */
static AttrNumber
find_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->attnum;
	}
	return InvalidAttrNumber;
}

void
append_name_list(StringInfo buf, List *names, const char *prefix, const char *sep)
{
	ListCell   *lc;

	foreach(lc, names)
	{
		if (lc != list_head(names))
			appendStringInfoString(buf, sep);
		if (prefix)
			appendStringInfo(buf, "%s.", prefix);
		appendStringInfoString(buf, quote_identifier((char *) lfirst(lc)));
	}
}

/* "left OPERATOR(schema.name) right" of an operator, or of pg_catalog's name if none */
static char *
operator_or_catalog_sql(Oid opno, const char *name, const char *left, const char *right)
{
	return OidIsValid(opno) ? operator_expr_sql(opno, left, right) :
		psprintf("%s OPERATOR(pg_catalog.%s) %s", left, name, right);
}

/*
 * Refuses a key whose target and change types the MERGE cannot compare,
 * by their one type's equality or pg_catalog's =, rather than failing in
 * the generated statement.
 */
static void
refuse_incomparable_key(const ApplyPlan *p, const char *key, Oid target_type, Oid change_type)
{
	Operator	eq;

	/* one type (or domains of it): its own equality, wherever it lives */
	if (getBaseType(target_type) == getBaseType(change_type) &&
		OidIsValid(lookup_type_cache(target_type, TYPECACHE_EQ_OPR)->eq_opr))
		return;
	eq = oper(NULL, list_make2(makeString("pg_catalog"), makeString("=")),
			  target_type, change_type, true, -1);
	if (eq != NULL)
	{
		ReleaseSysCache(eq);
		return;
	}
	if (getBaseType(target_type) == getBaseType(change_type))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("key column \"%s\" of target \"%s\" has type %s, which has no equality operator",
						key, p->target_name, format_type_be(target_type)),
				 errdetail("apply_changes() matches changes to rows by their keys with =."),
				 errhint("Use a key column of a type with a default btree or hash operator class.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATATYPE_MISMATCH),
			 errmsg("key column \"%s\" is %s in target \"%s\" but %s in change table \"%s\"",
					key, format_type_be(target_type), p->target_name,
					format_type_be(change_type), p->changes_name),
			 errdetail("No = operator compares the two."),
			 errhint("Give them one type, or read the changes through a view that casts the key.")));
}

/* The keys: distinct, in both relations, neither the sequence nor the op */
static void
plan_keys(ApplyPlan *p, TupleDesc cdesc, TupleDesc tdesc)
{
	ListCell   *lc;

	foreach(lc, p->keys)
	{
		char	   *key = lfirst(lc);
		AttrNumber	cattno = find_column(cdesc, key);
		AttrNumber	tattno = find_column(tdesc, key);

		for (ListCell *prev = list_head(p->keys); prev != lc; prev = lnext(p->keys, prev))
			if (strcmp((char *) lfirst(prev), key) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("key column \"%s\" is listed twice", key)));
		if (cattno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("change table \"%s\" has no key column \"%s\"", p->changes_name, key),
					 errhint("Every key column must be in the change table and in the target.")));
		if (tattno == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("target \"%s\" has no key column \"%s\"", p->target_name, key),
					 errhint("Every key column must be in the change table and in the target.")));
		if (strcmp(key, p->op_column) == 0 || strcmp(key, p->sequence_by) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("key column \"%s\" cannot also be the operation or sequence column", key)));
		refuse_incomparable_key(p, key, TupleDescAttr(tdesc, tattno - 1)->atttypid,
								TupleDescAttr(cdesc, cattno - 1)->atttypid);
		p->key_attnos = lappend_int(p->key_attnos, cattno);
		p->key_eq = lappend(p->key_eq,
							operator_or_catalog_sql(lookup_type_cache(TupleDescAttr(tdesc, tattno - 1)->atttypid,
																	  TYPECACHE_EQ_OPR)->eq_opr, "=",
													psprintf("t.%s", quote_identifier(key)),
													psprintf("s.%s", quote_identifier(key))));
	}
}

/*
 * The sequence and operation columns of the change table, and the target's
 * sequence column if it has one: compared with the change's, and what a
 * null-sequence delete remembers.
 */
static void
plan_sequence(ApplyPlan *p, TupleDesc cdesc, TupleDesc tdesc)
{
	AttrNumber	tseq;

	p->seq_attno = find_column(cdesc, p->sequence_by);
	if (p->seq_attno == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("change table \"%s\" has no sequence column \"%s\"",
						p->changes_name, p->sequence_by)));
	if (find_column(cdesc, p->op_column) == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("change table \"%s\" has no operation column \"%s\"",
						p->changes_name, p->op_column),
				 errhint("Name it with op_column => '...'.")));
	if (strcmp(p->op_column, p->sequence_by) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the operation and sequence columns must differ")));

	tseq = find_column(tdesc, p->sequence_by);
	if (tseq != InvalidAttrNumber)
	{
		Oid			ttype = TupleDescAttr(tdesc, tseq - 1)->atttypid;
		Oid			ctype = TupleDescAttr(cdesc, p->seq_attno - 1)->atttypid;
		Oid			cbase = getBaseType(ctype);

		p->seq_gt = operator_or_catalog_sql(lookup_type_cache(ttype, TYPECACHE_GT_OPR)->gt_opr, ">",
											psprintf("t.%s", quote_identifier(p->sequence_by)),
											psprintf("s.%s", quote_identifier(p->sequence_by)));
		/* to the change sequence's base type: no domain's checks run */
		if (ttype == ctype || ttype == cbase)
			p->seq_cast = "";
		else if (can_coerce_type(1, &ttype, &cbase, COERCION_EXPLICIT))
			p->seq_cast = psprintf("::%s", comparison_type_sql(ctype));
	}
}

/*
 * The columns to leave out: change columns, none of them a key, the
 * sequence or the operation.
 */
static void
plan_ignored(ApplyPlan *p, TupleDesc cdesc)
{
	ListCell   *lc;

	foreach(lc, p->ignored)
	{
		char	   *name = lfirst(lc);

		if (find_column(cdesc, name) == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("change table \"%s\" has no column \"%s\" to ignore",
							p->changes_name, name)));
		if (name_list_has(p->keys, name) || strcmp(name, p->sequence_by) == 0 ||
			strcmp(name, p->op_column) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" cannot be ignored", name),
					 errdetail("It is a key, the sequence or the operation column.")));
	}
}

/* Every other change column must be a writable target column */
static void
plan_copied_columns(ApplyPlan *p, TupleDesc cdesc, TupleDesc tdesc)
{
	for (int i = 0; i < cdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(cdesc, i);
		char	   *name = NameStr(att->attname);
		AttrNumber	tattno;

		if (att->attisdropped || strcmp(name, p->op_column) == 0 ||
			name_list_has(p->ignored, name))
			continue;
		tattno = find_column(tdesc, name);
		if (tattno == InvalidAttrNumber)
		{
			if (strcmp(name, p->sequence_by) == 0)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("change table \"%s\" column \"%s\" has no column in target \"%s\"",
							p->changes_name, name, p->target_name),
					 errhint("Columns are matched by name; add it to the target, or leave it out with ignore_columns.")));
		}
		if (TupleDescAttr(tdesc, tattno - 1)->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_GENERATED_ALWAYS),
					 errmsg("change table \"%s\" column \"%s\" is a generated column of target \"%s\"",
							p->changes_name, name, p->target_name)));
		if (!can_coerce_type(1, &att->atttypid, &TupleDescAttr(tdesc, tattno - 1)->atttypid,
							 COERCION_ASSIGNMENT))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("change table \"%s\" column \"%s\" is %s, which target \"%s\" column of type %s cannot take",
							p->changes_name, name, format_type_be(att->atttypid), p->target_name,
							format_type_be(TupleDescAttr(tdesc, tattno - 1)->atttypid)),
					 errhint("Give them one type, or read the changes through a view that casts the column.")));
		p->columns = lappend(p->columns, pstrdup(name));
		if (!name_list_has(p->keys, name))
			p->set_columns = lappend(p->set_columns, pstrdup(name));
	}
}

void
apply_plan_columns(ApplyPlan *p, Relation changes, Relation target)
{
	apply_plan_columns_desc(p, RelationGetDescr(changes), RelationGetDescr(target));
}

void
apply_plan_columns_desc(ApplyPlan *p, TupleDesc cdesc, TupleDesc tdesc)
{
	plan_keys(p, cdesc, tdesc);
	plan_sequence(p, cdesc, tdesc);
	plan_ignored(p, cdesc);
	plan_copied_columns(p, cdesc, tdesc);
}

/*
 * "MERGE INTO target t USING (source) s ON keys": the change table sorted by
 * key and descending sequence, checked row by row, the newest change of
 * each key if it is good.  apply_changes_row() is volatile, so it stays a
 * filter on the sorted subquery (OFFSET 0 keeps the subquery, and its
 * order, under the filter) and runs on every change in order.  It keeps a
 * key's first change, if good, and returns NULL for every other: it is
 * DISTINCT ON and the validation in one pass, with no node of its own.
 * The planner's estimate for "IS NOT NULL" is nearly all rows, as for the
 * DISTINCT ON it replaces; as a filter rather than an output column it
 * costs no projection, and the merge join reads the sorted tuples as
 * stored.
 */
static void
append_merge_source(StringInfo sql, const ApplyPlan *p)
{
	const char *seq = quote_identifier(p->sequence_by);
	List	   *source_columns = list_copy(p->columns);
	ListCell   *eq;

	if (!name_list_has(source_columns, p->sequence_by))
		source_columns = lappend(source_columns, (char *) p->sequence_by);
	source_columns = lappend(source_columns, (char *) p->op_column);

	appendStringInfo(sql, "MERGE INTO %s t USING (SELECT * FROM (SELECT ", p->target_sql);
	append_name_list(sql, source_columns, "c", ", ");
	appendStringInfo(sql, " FROM %s c ORDER BY ", p->changes_sql);
	append_name_list(sql, p->keys, "c", ", ");
	appendStringInfo(sql, ", c.%s DESC NULLS FIRST OFFSET 0) w", seq);
	appendStringInfo(sql, " WHERE pipeline.apply_changes_row(w.%s::pg_catalog.text, $1, w.%s, ",
					 quote_identifier(p->op_column), seq);
	append_name_list(sql, p->keys, "w", ", ");
	appendStringInfoString(sql, ") IS NOT NULL) s ON ");
	foreach(eq, p->key_eq)
	{
		if (eq != list_head(p->key_eq))
			appendStringInfoString(sql, " AND ");
		appendStringInfoString(sql, (char *) lfirst(eq));
	}
}

/*
 * The WHEN MATCHED clauses: a change older than the row does nothing; the
 * delete op deletes (a null-sequence delete first tells
 * apply_changes_deleting() the row's sequence, with remember_deletes), any
 * other op updates.
 */
static void
append_when_matched(StringInfo sql, const ApplyPlan *p, bool remember_deletes)
{
	const char *seq = quote_identifier(p->sequence_by);
	const char *op = quote_identifier(p->op_column);
	List	   *set = p->set_columns != NIL ? p->set_columns : list_make1(linitial(p->keys));
	ListCell   *lc;

	if (p->seq_gt)
		appendStringInfo(sql, " WHEN MATCHED AND %s THEN DO NOTHING", p->seq_gt);
	appendStringInfo(sql, " WHEN MATCHED AND s.%s::pg_catalog.text OPERATOR(pg_catalog.=) $1",
					 op);
	if (p->seq_cast && remember_deletes)
	{
		appendStringInfo(sql, " AND (s.%s IS NOT NULL OR pipeline.apply_changes_deleting(t.%s%s, ",
						 seq, seq, p->seq_cast);
		append_name_list(sql, p->keys, "s", ", ");
		appendStringInfoString(sql, "))");
	}
	appendStringInfoString(sql, " THEN DELETE WHEN MATCHED THEN UPDATE SET ");
	/* with only key columns, a no-op assignment still counts the update */
	foreach(lc, set)
	{
		const char *c = quote_identifier((char *) lfirst(lc));

		if (lc != list_head(set))
			appendStringInfoString(sql, ", ");
		appendStringInfo(sql, "%s = s.%s", c, c);
	}
}

/*
 * WHEN NOT MATCHED: a change other than a delete inserts, after asking
 * apply_changes_insertable() when probe.
 */
static void
append_when_not_matched(StringInfo sql, const ApplyPlan *p, bool probe)
{
	appendStringInfo(sql, " WHEN NOT MATCHED AND s.%s::pg_catalog.text OPERATOR(pg_catalog.<>) $1",
					 quote_identifier(p->op_column));
	if (probe)
	{
		appendStringInfo(sql, " AND pipeline.apply_changes_insertable(s.%s, ",
						 quote_identifier(p->sequence_by));
		append_name_list(sql, p->keys, "s", ", ");
		appendStringInfoString(sql, ")");
	}
	appendStringInfoString(sql, " THEN INSERT (");
	append_name_list(sql, p->columns, NULL, ", ");
	appendStringInfoString(sql, ") VALUES (");
	append_name_list(sql, p->columns, "s", ", ");
	appendStringInfoString(sql, ")");
}

bool
apply_plan_copies(const ApplyPlan *p, const char *name)
{
	return name_list_has(p->columns, name);
}

int
apply_plan_args(const ApplyPlan *p, const char *delete_op, Oid **argtypes, Datum **values)
{
	int			nargs = 1 + p->source_nargs;

	*argtypes = palloc(sizeof(Oid) * nargs);
	*values = palloc(sizeof(Datum) * nargs);
	(*argtypes)[0] = TEXTOID;
	(*values)[0] = CStringGetTextDatum(delete_op);
	for (int i = 0; i < p->source_nargs; i++)
	{
		(*argtypes)[i + 1] = p->source_argtypes[i];
		(*values)[i + 1] = p->source_values[i];
	}
	return nargs;
}

char *
apply_plan_merge(const ApplyPlan *p, bool remember_deletes, bool probe)
{
	StringInfoData sql;

	initStringInfo(&sql);
	append_merge_source(&sql, p);
	append_when_matched(&sql, p, remember_deletes);
	append_when_not_matched(&sql, p, probe);
	return sql.data;
}
