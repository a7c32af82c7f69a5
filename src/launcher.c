/*-------------------------------------------------------------------------
 * launcher.c
 *	  The scheduler's launcher process (the scheduler issue fills it in).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "launcher.h"

void
launcher_register(void)
{
}
