/*-------------------------------------------------------------------------
 * analyze.h
 *	  Parsing and analyzing one statement of a user's query text.
 *-------------------------------------------------------------------------
 */
#ifndef PIPELINE_ANALYZE_H
#define PIPELINE_ANALYZE_H

#include "nodes/parsenodes.h"

/*
 * The analyzed Query of one statement, with the text in error contexts (the
 * analyzer's errors, with a position).  Resolves names with the current
 * search_path: run it inside runas_begin_internal() or
 * runas_begin_user_code() to choose which.  Needs a transaction.
 */
extern Query *analyze_one(const char *query_text);

/*
 * Error context callback for parsing or analyzing a user's query text (arg):
 * turns a cursor position into one inside that text, as SPI does.
 */
extern void query_text_error_callback(void *arg);

#endif
