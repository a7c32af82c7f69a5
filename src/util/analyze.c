/*-------------------------------------------------------------------------
 * analyze.c
 *	  Parsing and analyzing one statement of a user's query text.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "parser/analyze.h"
#include "parser/parser.h"

#include "util/analyze.h"

void
query_text_error_callback(void *arg)
{
	int			position = geterrposition();

	if (position > 0)
	{
		errposition(0);
		internalerrposition(position);
		internalerrquery((const char *) arg);
	}
}

Query *
analyze_one(const char *query_text)
{
	List	   *raw;
	Query	   *query;
	ErrorContextCallback errcallback;

	errcallback.callback = query_text_error_callback;
	errcallback.arg = (void *) query_text;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	raw = raw_parser(query_text, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		elog(ERROR, "expected one statement");
	query = parse_analyze_fixedparams(linitial_node(RawStmt, raw), query_text,
									  NULL, 0, NULL);
	error_context_stack = errcallback.previous;
	return query;
}
