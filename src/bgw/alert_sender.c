/*-------------------------------------------------------------------------
 * alert_sender.c
 *	  The alert sender: POSTs the alerts due to pipeline.alert_endpoint
 *	  (schedule/alerts.h), then exits.  The scheduler starts it when alerts
 *	  wait and none runs, so a slow or dead endpoint holds up only this
 *	  process, never a refresh or the scheduler's planning.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"

#include "bgw/alert_sender.h"
#include "bgw/launcher.h"
#include "schedule/alerts.h"

bool
alert_sender_start(Oid dboid, BackgroundWorkerHandle **handle)
{
	return launcher_start_worker("pipeline_alert_sender_main", "pipeline alerts",
								 ObjectIdGetDatum(dboid), NULL, 0, handle);
}

void
pipeline_alert_sender_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);

	pqsignal(SIGTERM, die);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	/* DROP EXTENSION and DROP DATABASE stop it as they stop a refresh worker */
	if (!launcher_register_process(dboid, PROCESS_REFRESH))
		proc_exit(0);
	pgstat_report_appname("pipeline alerts");
	alerts_deliver();
	proc_exit(0);
}
