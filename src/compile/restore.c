/*-------------------------------------------------------------------------
 * restore.c
 *	  Making again what a rebuilt view's relation had (its indexes,
 *	  triggers, statistics objects, ...), with an error context that says
 *	  which object could not be made.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compile/restore.h"
#include "util/runas.h"

/* What restoring_context() says: the object, and the statement making it */
typedef struct Restoring
{
	const char *what;			/* index "x" */
	const char *statement;
} Restoring;

/*
 * Error context: what of the view's could not be made again; a position in
 * the statement is the statement's, not the caller's (as SPI says it).
 */
static void
restoring_context(void *arg)
{
	Restoring  *restoring = (Restoring *) arg;
	int			position = geterrposition();

	if (position > 0)
	{
		errposition(0);
		internalerrposition(position);
		internalerrquery(restoring->statement);
	}
	errcontext("restoring %s of the redefined view (drop it first, or change it)", restoring->what);
}

void
restore_as(Oid role, const char *statement, const char *what, const char *name, bool index)
{
	Restoring	restoring = {psprintf("%s \"%s\"", what, name), statement};
	ErrorContextCallback context = {.callback = restoring_context,.arg = &restoring};

	context.previous = error_context_stack;
	error_context_stack = &context;
	if (index)
		runas_create_index(role, statement);
	else
		runas_ddl(role, statement);
	error_context_stack = context.previous;
}
