/*
 * include/alert.h - mail alerts (Bucardo's --sendmail and default_email_*
 * settings), sent by a thread of their own through libcurl's SMTP client.
 *
 * Callers only queue an alert (a mutex and a condition signal): a slow or
 * dead mail server never holds a sync.  The queue is bounded; what does
 * not fit is counted and said in the next mail.
 *
 * Flood rule, per sync: at most one mail per `interval` seconds
 * (email_interval).  The first alert of a quiet sync goes at once; alerts
 * within the interval after a mail are held, and when it ends one mail
 * lists them all, its subject giving the sync's latest state.  So a
 * flapping sync sends at most one mail per interval, and the last state
 * always arrives.  Engine start and stop are not limited.
 *
 * Ownership: alert_start copies the configuration; the caller owns the
 * Alerter until alert_stop, which sends what is queued (for at most
 * `drain` seconds) and frees it.
 */
#ifndef BUCARDO_ALERT_H
#define BUCARDO_ALERT_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

typedef struct Alerter Alerter;

typedef enum AlertTls {
    ALERT_TLS_OFF,      /* plain SMTP */
    ALERT_TLS_TRY,      /* STARTTLS when the server offers it */
    ALERT_TLS_STARTTLS, /* STARTTLS or fail */
    ALERT_TLS_SMTPS     /* TLS from the first byte (port 465) */
} AlertTls;

typedef struct AlertConfig {
    const char *from, *to; /* to: comma-separated; NULL or "": nothing is sent */
    const char *host;
    int port;
    const char *user, *pass; /* SMTP AUTH when user is set; pass is never logged */
    const char *debug_file;  /* a copy of every mail is appended here; NULL: none */
    const char *stats_url;   /* stats_script_url, named in every sync's mail; NULL: none */
    AlertTls tls;
    bool tls_verify;   /* check the server's certificate and name */
    double interval;   /* seconds: the flood rule above */
    const char *label; /* host and engine, in every subject: "bucardo@host" */
} AlertConfig;

typedef enum AlertKind {
    ALERT_BAD,       /* a cycle failed (the first after a good one) */
    ALERT_GOOD,      /* a good cycle after a failed one */
    ALERT_OVERDUE,   /* the lag passed the sync's overdue */
    ALERT_EXPIRED,   /* the lag passed the sync's expired */
    ALERT_ON_TIME,   /* back under overdue after one of the two */
    ALERT_BEHIND,    /* a member was left out of a cycle */
    ALERT_CAUGHT_UP, /* every member received every change again */
} AlertKind;

/* alert_parse_tls - "off", "try", "starttls", "smtps". */
bool alert_parse_tls(const char *text, AlertTls *out) MUST_CHECK;

/* alert_start - start the mail thread; NULL (logged) when it cannot. */
Alerter *alert_start(const AlertConfig *cfg);

/* alert_engine - a mail about the engine (start, stop), never held. */
void alert_engine(Alerter *a, const char *subject, const char *body);

/* alert_sync - an event of a sync, under the flood rule.  a NULL: no-op. */
void alert_sync(Alerter *a, const char *sync, AlertKind kind, const char *detail);

/* alert_stop - send what is queued (at most `drain` seconds), stop, free. */
void alert_stop(Alerter *a, double drain);

/* alert_kind_name - "Bad", "Good", "overdue", ... (for subjects, tests). */
const char *alert_kind_name(AlertKind kind);

#endif
