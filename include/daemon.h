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
/* Sent by the engine when it has handled `bucardo reload SYNC` (payload:
 * "reloaded" or "error", a tab, the sync), so that the waiting client
 * learns the outcome whatever the sync's name's length (Bucardo's
 * bucardo_reloaded_sync_SYNC is sent too, where the name fits). */
#define CHANNEL_RELOAD_DONE "bucardo_reload_done"

/* Bucardo's ping: the CLI NOTIFYs CHANNEL_PING, the engine answers on
 * CHANNEL_PONG (payload: its pid).  Same names as Bucardo's MCP uses, so
 * scripts that ping it keep working. */
#define CHANNEL_PING "bucardo_mcp_ping"
#define CHANNEL_PONG "bucardo_mcp_pong"
/* `bucardo message TEXT`: the engine writes "MESSAGE: TEXT" to its log. */
#define CHANNEL_MESSAGE "bucardo_message"

#define PID_FILE_NAME "bucardo.mcp.pid"
/* `bucardo stop "reason"` leaves the reason here (in the piddir) for the
 * engine's stop mail; the engine reads and removes it. */
#define STOP_REASON_FILE_NAME "bucardo.stop.reason"

typedef struct DaemonConfig {
    ConnParams catalog; /* user and dbname filled in */
    const char *piddir;
    LogOptions log;          /* where the log goes and how its lines look */
    const char *reason_file; /* absolute path of reason_file (the stop reason is read there), or NULL */
    const char *reason;      /* `start "reason"`, logged at start, or NULL */
    int ready_fd;            /* gets "OK\n" or an error line once running; -1: none */
    bool sendmail;           /* --sendmail: mail alerts (when default_email_to is set) */
    const char *extra_name;  /* --extra-name: after the version in the start line and in the
                                process name ("bucardo NAME", what ps -e shows), or NULL */
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
