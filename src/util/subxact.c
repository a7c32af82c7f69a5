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
#include "utils/resowner.h"

#include "util/subxact.h"

ErrorData *
subxact_try(SubxactWork work, void *arg, bool catch_cancel)
{
	MemoryContext caller_context = CurrentMemoryContext;
	ResourceOwner caller_owner = CurrentResourceOwner;
	ErrorData  *volatile error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(caller_context);
	PG_TRY();
	{
		work(arg);
		ReleaseCurrentSubTransaction();
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

	if (error != NULL && !catch_cancel &&
		(error->sqlerrcode == ERRCODE_QUERY_CANCELED ||
		 error->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN))
		ReThrowError(error);
	return error;
}
