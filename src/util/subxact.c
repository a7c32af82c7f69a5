/*-------------------------------------------------------------------------
 * subxact.c
 *	  Running a piece of work in a subtransaction and catching its error,
 *	  the one way run.c (a refresh), ingest.c (a batch of messages) and
 *	  the compile step (judging a view) contain failures.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/elog.h"
#include "utils/guc.h"
#include "utils/resowner.h"

#include "util/subxact.h"

/*
 * Whether error is a cancel or a shutdown, which must end the statement.
 * PL/pgSQL code can raise the same SQLSTATEs itself (RAISE ... USING
 * ERRCODE = 'query_canceled', in exec_stmt_raise()), and that is an error
 * of its own; a cancel that other code passes on (PL/Python raises it
 * again from PLy_elog_impl()) is still the caller's.
 */
static bool
is_interrupt(const ErrorData *error)
{
	return (error->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			error->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN) &&
		(error->funcname == NULL || strcmp(error->funcname, "exec_stmt_raise") != 0);
}

static ErrorData *
run_in_subxact(SubxactWork work, void *arg, bool catch_cancel, bool keep)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	ErrorData  *volatile error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		work(arg);
		if (keep)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(caller_context);
		error = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(caller_context);
	CurrentResourceOwner = caller_owner;

	if (error != NULL && !catch_cancel && is_interrupt(error))
		ReThrowError(error);
	return error;
}

ErrorData *
subxact_try(SubxactWork work, void *arg, bool catch_cancel)
{
	return run_in_subxact(work, arg, catch_cancel, true);
}

/* subxact_try_without_waiting()'s work, under its lock_timeout */
typedef struct Unwaiting
{
	SubxactWork work;
	void	   *arg;
} Unwaiting;

static void
run_unwaiting(void *arg)
{
	Unwaiting  *unwaiting = (Unwaiting *) arg;
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("lock_timeout", UNWAITING_LOCK_TIMEOUT, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	unwaiting->work(unwaiting->arg);
	AtEOXact_GUC(true, nestlevel);
}

ErrorData *
subxact_try_without_waiting(SubxactWork work, void *arg)
{
	Unwaiting	unwaiting = {work, arg};

	return run_in_subxact(run_unwaiting, &unwaiting, false, true);
}

ErrorData *
subxact_probe(SubxactWork work, void *arg)
{
	return run_in_subxact(work, arg, false, false);
}

bool
subxact_is_data_error(const ErrorData *edata)
{
	int			category = ERRCODE_TO_CATEGORY(edata->sqlerrcode);

	return category == ERRCODE_DATA_EXCEPTION ||
		category == ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION;
}

void
call_with_dependents_hint(SubxactWork work, void *arg, const char *hint)
{
	MemoryContext caller = CurrentMemoryContext;

	PG_TRY();
	{
		work(arg);
	}
	PG_CATCH();
	{
		ErrorData  *error;

		MemoryContextSwitchTo(caller);
		error = CopyErrorData();
		/* PostgreSQL's own (reportDependentObjects()), not the guard's */
		if (error->sqlerrcode != ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST ||
			error->filename == NULL || strcmp(error->filename, "dependency.c") != 0)
			PG_RE_THROW();
		FlushErrorState();
		error->hint = pstrdup(hint);
		ReThrowError(error);
	}
	PG_END_TRY();
}
