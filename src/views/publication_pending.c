/*-------------------------------------------------------------------------
 * publication_pending.c
 *	  The files a lake publication's runs wrote, kept outside the
 *	  transaction (publication_pending.h).
 *
 * The list is a file of records "<full transaction id>\0<partition>\0
 * <path>\0", the transaction being the run's subtransaction, whose commit
 * status outlives the transaction (a failed run in a committed run_due()
 * wrote files too); a record cut short (a crash while writing a new list, before
 * its rename) is never read, since the list is replaced by rename only.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/subtrans.h"
#include "access/transam.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "common/string.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "replication/message.h"
#include "storage/fd.h"
#include "storage/lwlock.h"
#include "storage/procarray.h"
#include "utils/inval.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "io/unload.h"
#include "views/publication_pending.h"

#define PENDING_DIR "pipeline_publications"

typedef struct PendingRecord
{
	FullTransactionId xid;
	PendingFile file;
} PendingRecord;

static char *
list_path(Oid relid)
{
	return psprintf("%s/%u.%u", PENDING_DIR, MyDatabaseId, relid);
}

/*
 * The records of relid's list (PendingRecord), none when it has none;
 * *ignored (unless NULL) tells whether it listed a file no run writes.
 */
static List *
read_list(Oid relid, bool *ignored)
{
	char	   *path = list_path(relid);
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	StringInfoData buf;
	List	   *records = NIL;
	char		chunk[8192];
	ssize_t		n;
	int			at = 0;

	if (ignored)
		*ignored = false;
	if (fd < 0)
	{
		if (errno == ENOENT)
			return NIL;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	}
	initStringInfo(&buf);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		appendBinaryStringInfo(&buf, chunk, n);
	if (n < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	CloseTransientFile(fd);

	/* whole records only: three NUL-terminated fields */
	for (;;)
	{
		char	   *fields[3];
		int			next = at;
		int			i;
		PendingRecord *record;

		for (i = 0; i < 3; i++)
		{
			char	   *end = memchr(buf.data + next, '\0', buf.len - next);

			if (end == NULL)
				break;
			fields[i] = buf.data + next;
			next = end - buf.data + 1;
		}
		if (i < 3)
			break;
		at = next;

		/*
		 * a file a run could not have written goes unheard: the list is
		 * trusted to name what to remove (h131)
		 */
		if (!unload_is_partition_file(fields[2], fields[1]))
		{
			if (ignored)
				*ignored = true;
			ereport(WARNING,
					(errmsg("ignoring file \"%s\" listed in \"%s\"", fields[2], path),
					 errdetail("A lake publication's run writes only \"%s\" files in its partitions' directories.",
							   UNLOAD_FILE_NAME)));
			continue;
		}
		record = palloc(sizeof(PendingRecord));
		record->xid = FullTransactionIdFromU64(strtou64(fields[0], NULL, 10));
		record->file.partition = pstrdup(fields[1]);
		record->file.path = pstrdup(fields[2]);
		records = lappend(records, record);
	}
	return records;
}

/* Replaces relid's list with records, durably; no records, no list. */
static void
write_list(Oid relid, List *records)
{
	char	   *path = list_path(relid);
	char	   *temporary = psprintf("%s.tmp", path);
	StringInfoData buf;
	ListCell   *lc;
	int			fd;

	if (records == NIL)
	{
		if (unlink(path) != 0 && errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove file \"%s\": %m", path)));
		return;
	}
	if (MakePGDirectory(PENDING_DIR) == 0)
		(void) fsync_fname_ext(".", true, false, ERROR);
	else if (errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", PENDING_DIR)));
	initStringInfo(&buf);
	foreach(lc, records)
	{
		PendingRecord *record = lfirst(lc);

		appendStringInfo(&buf, UINT64_FORMAT, U64FromFullTransactionId(record->xid));
		appendStringInfoChar(&buf, '\0');
		appendBinaryStringInfo(&buf, record->file.partition, strlen(record->file.partition) + 1);
		appendBinaryStringInfo(&buf, record->file.path, strlen(record->file.path) + 1);
	}
	fd = OpenTransientFile(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", temporary)));
	errno = 0;
	if (write(fd, buf.data, buf.len) != buf.len)
	{
		if (errno == 0)
			errno = ENOSPC;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", temporary)));
	}
	CloseTransientFile(fd);
	/* fsyncs the file, renames it, fsyncs the directory */
	(void) durable_rename(temporary, path, ERROR);
}

/* Whether xid was handed out, and recently enough for its 32 bits to say */
static bool
recent(FullTransactionId xid)
{
	FullTransactionId next = ReadNextFullTransactionId();

	return FullTransactionIdPrecedes(xid, next) &&
		U64FromFullTransactionId(next) - U64FromFullTransactionId(xid) < (UINT64CONST(1) << 31);
}

/*
 * Whether xid committed.  One too old for the commit log to say is taken
 * as not committed: its files are then rewritten or removed, which is
 * never wrong, only work.
 */
static bool
committed(FullTransactionId xid)
{
	bool		result = false;

	if (!recent(xid))
		return false;
	LWLockAcquire(XactTruncationLock, LW_SHARED);
	if (TransactionIdFollowsOrEquals(XidFromFullTransactionId(xid),
									 ShmemVariableCache->oldestClogXid))
		result = TransactionIdDidCommit(XidFromFullTransactionId(xid));
	LWLockRelease(XactTruncationLock);
	return result;
}

/*
 * Whether xid is this transaction's or one of its subtransactions' not
 * rolled back: its files are this run's business.
 */
static bool
current(FullTransactionId xid)
{
	return recent(xid) && TransactionIdIsCurrentTransactionId(XidFromFullTransactionId(xid));
}

/*
 * The current subtransaction's xid, made durable before a list names it:
 * PostgreSQL writes no WAL when it hands out an xid, so after a crash an
 * xid no flushed record carries may be handed out again, and a list would
 * then take another transaction's commit for the run's.  A flushed record
 * made under it moves recovery's next xid past it.
 */
static FullTransactionId
durable_current_xid(void)
{
	static FullTransactionId flushed = {0};
	FullTransactionId xid = GetCurrentFullTransactionId();

	if (!FullTransactionIdEquals(xid, flushed))
	{
		XLogFlush(LogLogicalMessage("pipeline", "", 0, false));
		flushed = xid;
	}
	return xid;
}

List *
pending_take_uncommitted(Oid relid)
{
	bool		ignored;
	List	   *records = read_list(relid, &ignored);
	List	   *kept = NIL;
	List	   *uncommitted = NIL;
	ListCell   *lc;

	foreach(lc, records)
	{
		PendingRecord *record = lfirst(lc);

		if (current(record->xid))
			kept = lappend(kept, record);
		else if (!committed(record->xid))
		{
			uncommitted = lappend(uncommitted, &record->file);

			/*
			 * dealt with again should this run not commit either (a failed
			 * run's subtransaction, or the whole transaction)
			 */
			record->xid = durable_current_xid();
			kept = lappend(kept, record);
		}
	}
	if (list_length(kept) != list_length(records) || uncommitted != NIL || ignored)
		write_list(relid, kept);
	return uncommitted;
}

bool
pending_has_uncommitted(Oid relid)
{
	bool		ignored;
	List	   *records = read_list(relid, &ignored);
	bool		mine = false;
	ListCell   *lc;

	foreach(lc, records)
	{
		PendingRecord *record = lfirst(lc);

		if (current(record->xid))
			mine = true;
		else if (!committed(record->xid))
			return true;
	}

	/*
	 * All committed: forgotten now, before the commit log that says so is
	 * truncated (a publication may be skipped for long); records ignored go
	 * too
	 */
	if ((records != NIL || ignored) && !mine)
		write_list(relid, NIL);
	else if (ignored)
		write_list(relid, records);
	return false;
}

void
pending_add(Oid relid, List *written)
{
	List	   *records;
	ListCell   *lc;

	if (written == NIL)
		return;
	records = read_list(relid, NULL);
	foreach(lc, written)
	{
		UnloadedFile *f = lfirst(lc);
		PendingRecord *record = palloc(sizeof(PendingRecord));

		/* the run's subtransaction: a failed run commits no file */
		record->xid = durable_current_xid();
		record->file.partition = f->partition;
		record->file.path = f->path;
		records = lappend(records, record);
	}
	write_list(relid, records);
}

/*
 * Whether relid's list may go with its relation: none of its runs is this
 * transaction's or still running (a publication whose creation has not
 * committed has its first run's files listed, but no relation we see).
 */
static bool
runs_over(List *records)
{
	ListCell   *lc;

	foreach(lc, records)
	{
		FullTransactionId xid = ((PendingRecord *) lfirst(lc))->xid;
		TransactionId top = XidFromFullTransactionId(xid);

		if (current(xid))
			return false;
		if (!recent(xid))
			continue;
		/* a failed run's subtransaction is over, its transaction may not be */
		if (TransactionIdFollowsOrEquals(top, TransactionXmin))
			top = SubTransGetTopmostTransaction(top);
		if (TransactionIdIsInProgress(top))
			return false;
	}
	return true;
}

/* A gone publication's records of other destinations than the running one's */
typedef struct KeptRecords
{
	Oid			publication;
	List	   *records;
} KeptRecords;

List *
pending_forget_dropped(Oid relid, const char *destination)
{
	DIR		   *dir = AllocateDir(PENDING_DIR);
	struct dirent *de;
	List	   *adopted = NIL;
	List	   *adopted_files = NIL;
	List	   *gone_lists = NIL;
	List	   *rewritten = NIL;	/* KeptRecords */
	List	   *kept;
	ListCell   *lc;

	if (dir == NULL && errno == ENOENT)
		return NIL;
	/* relations created by transactions that committed by now are seen */
	AcceptInvalidationMessages();
	while ((de = ReadDir(dir, PENDING_DIR)) != NULL)
	{
		Oid			db;
		Oid			other;
		char		rest;
		List	   *records;

		CHECK_FOR_INTERRUPTS();
		/* "<database>.<publication>", not a list being written (".tmp") */
		if (sscanf(de->d_name, "%u.%u%c", &db, &other, &rest) != 2)
			continue;
		if (db != MyDatabaseId)
		{
			if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(db)))
				gone_lists = lappend(gone_lists, psprintf("%s/%s", PENDING_DIR, de->d_name));
			continue;
		}
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(other)))
			continue;
		records = read_list(other, NULL);
		if (!runs_over(records))
			continue;
		kept = NIL;
		foreach(lc, records)
		{
			PendingRecord *record = lfirst(lc);

			if (committed(record->xid))
				continue;
			/* another destination's: for a publication made there */
			if (!unload_path_inside(record->file.path, destination))
			{
				kept = lappend(kept, record);
				continue;
			}
			record->xid = durable_current_xid();
			adopted = lappend(adopted, record);
			adopted_files = lappend(adopted_files, &record->file);
		}
		if (kept == NIL)
			gone_lists = lappend(gone_lists, list_path(other));
		else if (list_length(kept) < list_length(records))
		{
			KeptRecords *left = palloc(sizeof(KeptRecords));

			left->publication = other;
			left->records = kept;
			rewritten = lappend(rewritten, left);
		}
	}
	FreeDir(dir);

	/* listed as relid's before their old list goes */
	if (adopted != NIL)
		write_list(relid, list_concat(read_list(relid, NULL), adopted));
	foreach(lc, rewritten)
		write_list(((KeptRecords *) lfirst(lc))->publication, ((KeptRecords *) lfirst(lc))->records);
	foreach(lc, gone_lists)
	{
		if (unlink(lfirst(lc)) != 0 && errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove file \"%s\": %m", (char *) lfirst(lc))));
	}
	return adopted_files;
}
