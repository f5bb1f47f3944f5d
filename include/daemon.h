/*
 * include/daemon.h - the engine process: a controller that LISTENs on the
 * catalog for control messages and runs one worker thread per active sync.
 */
#ifndef BUCARDO_DAEMON_H
#define BUCARDO_DAEMON_H

#include "log.h"
#include "pgconn.h"

/* Control channels on the catalog database (payload: a sync name). */
#define CHANNEL_KICK   "bucardo_kick"
#define CHANNEL_RELOAD "bucardo_reload"
#define CHANNEL_PAUSE  "bucardo_pause"
#define CHANNEL_RESUME "bucardo_resume"
/* Sent by the engine when it records a run of a sync (payload: the sync). */
#define CHANNEL_RUN_DONE "bucardo_run_done"
/* Sent by the engine for a kick it cannot honour (payload: the reason, a
 * tab, the sync), so that a waiting `bucardo kick` fails instead of
 * waiting for a run that will not come. */
#define CHANNEL_KICK_REFUSED "bucardo_kick_refused"

#define PID_FILE_NAME "bucardo.mcp.pid"

typedef struct DaemonConfig {
    ConnParams catalog; /* user and dbname filled in */
    const char *piddir;
    LogOptions log;          /* where the log goes and how its lines look */
    const char *reason_file; /* absolute path of reason_file (the stop reason is read there), or NULL */
    const char *reason;      /* `start "reason"`, logged at start, or NULL */
    int ready_fd;            /* gets "OK\n" or an error line once running; -1: none */
} DaemonConfig;

/*
 * daemon_run - run the engine until SIGTERM/SIGINT; returns the process
 * exit code.  Removes its pid file on the way out.  SIGHUP reloads,
 * SIGUSR2 reopens the log files (Bucardo's signal for it).  Under systemd
 * (NOTIFY_SOCKET) it reports READY=1 once running and STOPPING=1.
 */
int daemon_run(const DaemonConfig *cfg);

/* daemon_running_pid - the live engine's pid from piddir, or 0. */
long daemon_running_pid(const char *piddir);

#endif
