/*-------------------------------------------------------------------------
 * at_commit.c
 *	  Calling a function once the current transaction commits.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "util/at_commit.h"

/* the few distinct calls a transaction asks for (a wake-up or two) */
#define AT_COMMIT_MAX 8

typedef struct AtCommitCall
{
	void		(*fn) (Oid arg);
	Oid			arg;
} AtCommitCall;

static AtCommitCall pending[AT_COMMIT_MAX];
static int	pending_count = 0;

static void
at_commit_callback(XactEvent event, void *arg)
{
	if (pending_count == 0)
		return;
	if (event == XACT_EVENT_COMMIT)
		for (int i = 0; i < pending_count; i++)
			pending[i].fn(pending[i].arg);
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE)
		pending_count = 0;
}

void
at_commit_call(void (*fn) (Oid arg), Oid arg)
{
	static bool callback_registered = false;

	for (int i = 0; i < pending_count; i++)
		if (pending[i].fn == fn && pending[i].arg == arg)
			return;
	if (pending_count == AT_COMMIT_MAX)
		elog(ERROR, "too many calls at commit");
	if (!callback_registered)
	{
		RegisterXactCallback(at_commit_callback, NULL);
		callback_registered = true;
	}
	pending[pending_count].fn = fn;
	pending[pending_count].arg = arg;
	pending_count++;
}
