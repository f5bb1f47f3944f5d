/*
 * engine/ops/alert.c - mail alerts through libcurl's SMTP client, sent by
 * one thread of their own (alert.h has the contract and the flood rule).
 *
 * How it works:
 *
 *   any thread --alert_sync/alert_engine--> queue (mutex, bounded) --> mail thread
 *                                                                      |
 *              per sync: last mail time, alerts held since ------------+
 *                                                                      v
 *                               email_debug_file (a copy)  +  SMTP (libcurl)
 *
 * The callers never wait for the mail server: they append to the queue
 * and signal the thread.  The thread takes one event at a time, sends it
 * at once or holds it under the flood rule, and wakes when a held digest
 * is due.  A send is bounded (CONNECT_TIMEOUT_S, SEND_TIMEOUT_S) and can
 * be abandoned at stop, so alert_stop waits at most its `drain`.
 *
 * Headers are built here from values the catalog gave (addresses) or the
 * engine made (subjects): control characters are replaced, so no value
 * can add a header.  The password goes to libcurl only, never to a log
 * line or to the debug file.
 */
#include "alert.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define QUEUE_MAX         1000
#define CONNECT_TIMEOUT_S 10L
#define SEND_TIMEOUT_S    30L

typedef struct Event {
    struct Event *next;
    char *sync; /* NULL: an engine event */
    AlertKind kind;
    char *subject; /* engine events */
    char *body;
    time_t when;
} Event;

/* The flood rule's memory of one sync (mail thread only). */
typedef struct Held {
    char *sync;
    double last_sent; /* monotonic; 0: never */
    int count;        /* alerts held since */
    AlertKind latest;
    StrBuf lines;
} Held;

struct Alerter {
    /* the configuration, owned copies */
    char *from, *to, *host, *user, *pass, *debug_file, *stats_url, *label;
    int port;
    AlertTls tls;
    bool tls_verify;
    double interval;

    pthread_t thread;
    pthread_mutex_t lock; /* the queue and the flags below */
    pthread_cond_t cond;
    Event *head, *tail;
    int queued;
    long dropped;
    atomic_bool stopping;
    atomic_bool abandon; /* stop now: drop what is left, abort the send in flight */

    Held *held; /* mail thread only */
    int nheld;
    long sent_count;
};

const char *alert_kind_name(AlertKind kind)
{
    switch (kind) {
    case ALERT_BAD: return "Bad";
    case ALERT_GOOD: return "Good";
    case ALERT_OVERDUE: return "overdue";
    case ALERT_EXPIRED: return "expired";
    case ALERT_ON_TIME: return "on time";
    case ALERT_BEHIND: return "member behind";
    case ALERT_CAUGHT_UP: return "members caught up";
    }
    return "?";
}

/* kind_phrase - the subject's words for the sync's state. */
static const char *kind_phrase(AlertKind kind)
{
    switch (kind) {
    case ALERT_BAD: return "is Bad";
    case ALERT_GOOD: return "is Good again";
    case ALERT_OVERDUE: return "is overdue";
    case ALERT_EXPIRED: return "has expired";
    case ALERT_ON_TIME: return "is on time again";
    case ALERT_BEHIND: return "left a member behind";
    case ALERT_CAUGHT_UP: return "has every member caught up";
    }
    return "?";
}

bool alert_parse_tls(const char *text, AlertTls *out)
{
    static const char *const names[] = {"off", "try", "starttls", "smtps"};

    for (int i = 0; i < 4; i++)
        if (strcmp(text, names[i]) == 0) {
            *out = (AlertTls)i;
            return true;
        }
    return false;
}

static char *dup_or_null(const char *s)
{
    return s && s[0] ? xstrdup(s) : NULL;
}

/* one_line - s with every control character (CR, LF, ...) made a space. */
static char *one_line(const char *s)
{
    char *out = xstrdup(s ? s : "");
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return out;
}

/* Upload state of one message for libcurl's read callback. */
typedef struct Upload {
    const char *data;
    size_t len, pos;
} Upload;

static size_t read_message(char *buf, size_t size, size_t nitems, void *arg)
{
    Upload *u = arg;
    size_t n = size * nitems;

    if (n > u->len - u->pos)
        n = u->len - u->pos;
    memcpy(buf, u->data + u->pos, n);
    u->pos += n;
    return n;
}

static int progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    Alerter *a = arg;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    return atomic_load(&a->abandon) ? 1 : 0;
}

/* build_message - the RFC 5322 message: headers, a blank line, the body
 * with CRLF line ends.  Caller frees. */
static char *build_message(Alerter *a, const char *subject, const char *body)
{
    StrBuf m;
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    char *subj = one_line(subject), *from = one_line(a->from), *to = one_line(a->to ? a->to : "");

    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    strbuf_init(&m);
    strbuf_printf(&m,
                  "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: %s\r\n"
                  "Message-ID: <%lld.%ld.%ld@bucardo>\r\nMIME-Version: 1.0\r\n"
                  "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n"
                  "X-Bucardo: alert\r\n\r\n",
                  date, from, to, subj, (long long)now, (long)getpid(), ++a->sent_count);
    for (const char *p = body; *p; p++) {
        if (*p == '\n')
            strbuf_append(&m, "\r\n");
        else if (*p != '\r')
            strbuf_append_len(&m, p, 1);
    }
    if (m.len < 2 || strcmp(m.data + m.len - 2, "\r\n") != 0)
        strbuf_append(&m, "\r\n");
    free(subj);
    free(from);
    free(to);
    return m.data;
}

/* send_mail - the debug copy, then SMTP when there is a recipient.
 * Failures are logged (naming server and subject) and otherwise dropped. */
static void send_mail(Alerter *a, const char *subject, const char *body)
{
    char *msg = build_message(a, subject, body), url[512], errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *rcpt = NULL;
    CURL *curl;
    CURLcode rc;
    Upload up = {msg, strlen(msg), 0};

    if (a->debug_file) {
        FILE *f = fopen(a->debug_file, "a");
        if (f == NULL || fprintf(f, "%s\n", msg) < 0)
            log_warn("cannot write the mail copy to email_debug_file %s", a->debug_file);
        if (f)
            fclose(f);
    }
    if (a->to == NULL) {
        free(msg);
        return;
    }
    curl = curl_easy_init();
    if (curl == NULL) {
        log_warn("mail alert \"%s\" not sent: cannot make a libcurl handle", subject);
        free(msg);
        return;
    }
    {
        char *list = xstrdup(a->to), *save = NULL;
        for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            while (*t == ' ')
                t++;
            if (*t)
                rcpt = curl_slist_append(rcpt, t);
        }
        free(list);
    }
    snprintf(url, sizeof(url), "%s://%s%s%s:%d", a->tls == ALERT_TLS_SMTPS ? "smtps" : "smtp",
             strchr(a->host, ':') ? "[" : "", a->host, strchr(a->host, ':') ? "]" : "", a->port);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, a->from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
    curl_easy_setopt(curl, CURLOPT_READDATA, &up);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, SEND_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, a);
    if (a->tls == ALERT_TLS_TRY)
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    else if (a->tls == ALERT_TLS_STARTTLS || a->tls == ALERT_TLS_SMTPS)
        curl_easy_setopt(curl, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    if (!a->tls_verify) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (a->user) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, a->user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, a->pass ? a->pass : "");
    }
    rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        log_warn("mail alert \"%s\" to %s via %s not sent: %s%s%s", subject, a->to, url,
                 curl_easy_strerror(rc), errbuf[0] ? ": " : "", errbuf);
    else
        log_info("mail alert sent to %s: %s", a->to, subject);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(curl);
    free(msg);
}

static Held *held_for(Alerter *a, const char *sync)
{
    for (int i = 0; i < a->nheld; i++)
        if (strcmp(a->held[i].sync, sync) == 0)
            return &a->held[i];
    a->held = xrealloc(a->held, sizeof(Held) * (size_t)(a->nheld + 1));
    memset(&a->held[a->nheld], 0, sizeof(Held));
    a->held[a->nheld].sync = xstrdup(sync);
    strbuf_init(&a->held[a->nheld].lines);
    return &a->held[a->nheld++];
}

/* footer - what ends every sync mail: where to look, and lost alerts. */
static void footer(Alerter *a, StrBuf *b, const char *sync, long dropped)
{
    strbuf_printf(b, "\nSee `bucardo status %s` for the details.\n", sync);
    if (a->stats_url)
        strbuf_printf(b, "Stats: %s\n", a->stats_url);
    if (dropped > 0)
        strbuf_printf(b, "(%ld alert(s) were dropped: the mail queue was full)\n", dropped);
    strbuf_printf(b, "-- \n%s\n", a->label);
}

static void event_line(StrBuf *b, const Event *e)
{
    char when[32];
    struct tm tm;

    localtime_r(&e->when, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
    strbuf_printf(b, "%s  %s%s%s\n", when, alert_kind_name(e->kind), e->body[0] ? ": " : "", e->body);
}

/* flush - one mail with the alerts held for h's sync. */
static void flush(Alerter *a, Held *h, long dropped)
{
    StrBuf subj, body;

    strbuf_init(&subj);
    strbuf_init(&body);
    strbuf_printf(&subj, "[%s] sync %s %s (%d alerts held by the flood limit)", a->label, h->sync,
                  kind_phrase(h->latest), h->count);
    strbuf_printf(&body,
                  "Sync %s %s.\n\nAlerts since the last mail, held so that a flapping sync does not flood"
                  " this mailbox\n(at most one mail per %.0f s per sync, email_interval):\n\n%s",
                  h->sync, kind_phrase(h->latest), a->interval, h->lines.data ? h->lines.data : "");
    footer(a, &body, h->sync, dropped);
    send_mail(a, subj.data, body.data);
    strbuf_free(&subj);
    strbuf_free(&body);
    strbuf_reset(&h->lines);
    h->count = 0;
    h->last_sent = monotonic_seconds();
}

/* handle - an event off the queue: engine mails go at once, sync alerts
 * under the flood rule. */
static void handle(Alerter *a, Event *e, long dropped)
{
    Held *h;
    double now = monotonic_seconds();

    if (e->sync == NULL) {
        StrBuf body;
        strbuf_init(&body);
        strbuf_append(&body, e->body);
        if (dropped > 0)
            strbuf_printf(&body, "\n(%ld alert(s) were dropped: the mail queue was full)\n", dropped);
        strbuf_printf(&body, "-- \n%s\n", a->label);
        send_mail(a, e->subject, body.data);
        strbuf_free(&body);
        return;
    }
    h = held_for(a, e->sync);
    if (h->count == 0 && (h->last_sent == 0 || now - h->last_sent >= a->interval)) {
        StrBuf subj, body;
        strbuf_init(&subj);
        strbuf_init(&body);
        strbuf_printf(&subj, "[%s] sync %s %s", a->label, e->sync, kind_phrase(e->kind));
        strbuf_printf(&body, "Sync %s %s.\n\n", e->sync, kind_phrase(e->kind));
        event_line(&body, e);
        footer(a, &body, e->sync, dropped);
        send_mail(a, subj.data, body.data);
        strbuf_free(&subj);
        strbuf_free(&body);
        h->last_sent = monotonic_seconds();
        return;
    }
    event_line(&h->lines, e);
    h->count++;
    h->latest = e->kind;
}

static void event_free(Event *e)
{
    free(e->sync);
    free(e->subject);
    free(e->body);
    free(e);
}

static void *alert_main(void *arg)
{
    Alerter *a = arg;

    log_set_thread_name(NULL, "mail");
    pthread_mutex_lock(&a->lock);
    for (;;) {
        double now, next = 0;
        Event *e = a->head;

        if (atomic_load(&a->abandon))
            break;
        if (e) {
            long dropped = a->dropped;
            a->dropped = 0;
            a->head = e->next;
            if (a->head == NULL)
                a->tail = NULL;
            a->queued--;
            pthread_mutex_unlock(&a->lock);
            handle(a, e, dropped);
            event_free(e);
            pthread_mutex_lock(&a->lock);
            continue;
        }
        /* Held digests that are due (all of them when stopping). */
        pthread_mutex_unlock(&a->lock);
        now = monotonic_seconds();
        for (int i = 0; i < a->nheld && !atomic_load(&a->abandon); i++) {
            Held *h = &a->held[i];
            if (h->count == 0)
                continue;
            if (atomic_load(&a->stopping) || now >= h->last_sent + a->interval)
                flush(a, h, 0);
            else if (next == 0 || h->last_sent + a->interval < next)
                next = h->last_sent + a->interval;
        }
        pthread_mutex_lock(&a->lock);
        if (a->head)
            continue;
        if (atomic_load(&a->stopping))
            break;
        {
            double wait = next > 0 ? next - monotonic_seconds() : 3600;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            if (wait < 0.001)
                wait = 0.001;
            until.tv_sec += (time_t)wait;
            until.tv_nsec += (long)((wait - (double)(long)wait) * 1e9);
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&a->cond, &a->lock, &until);
        }
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* alerter_free - what alert_start set up, once the thread is gone (or never ran). */
static void alerter_free(Alerter *a)
{
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->cond);
    free(a->from);
    free(a->to);
    free(a->host);
    free(a->user);
    free(a->pass);
    free(a->debug_file);
    free(a->stats_url);
    free(a->label);
    free(a);
    curl_global_cleanup();
}

Alerter *alert_start(const AlertConfig *cfg)
{
    Alerter *a = xcalloc(1, sizeof(Alerter));

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("mail alerts off: libcurl cannot start");
        free(a);
        return NULL;
    }
    a->from = xstrdup(cfg->from ? cfg->from : "bucardo");
    a->to = dup_or_null(cfg->to);
    a->host = xstrdup(cfg->host && cfg->host[0] ? cfg->host : "localhost");
    a->port = cfg->port > 0 ? cfg->port : 25;
    a->user = dup_or_null(cfg->user);
    a->pass = dup_or_null(cfg->pass);
    a->debug_file = dup_or_null(cfg->debug_file);
    a->stats_url = dup_or_null(cfg->stats_url);
    a->label = xstrdup(cfg->label ? cfg->label : "bucardo");
    a->tls = cfg->tls;
    a->tls_verify = cfg->tls_verify;
    a->interval = cfg->interval >= 0 ? cfg->interval : 300;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->cond, NULL);
    if (pthread_create(&a->thread, NULL, alert_main, a) != 0) {
        log_error("mail alerts off: cannot start their thread");
        alerter_free(a);
        return NULL;
    }
    return a;
}

/* enqueue - append (never blocks beyond the mutex); a full queue drops. */
static void enqueue(Alerter *a, Event *e)
{
    pthread_mutex_lock(&a->lock);
    if (a->queued >= QUEUE_MAX || atomic_load(&a->stopping)) {
        a->dropped++;
        pthread_mutex_unlock(&a->lock);
        event_free(e);
        return;
    }
    e->when = time(NULL);
    if (a->tail)
        a->tail->next = e;
    else
        a->head = e;
    a->tail = e;
    a->queued++;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

void alert_engine(Alerter *a, const char *subject, const char *body)
{
    Event *e;

    if (a == NULL)
        return;
    e = xcalloc(1, sizeof(Event));
    e->subject = xasprintf("[%s] %s", a->label, subject);
    e->body = xstrdup(body ? body : "");
    enqueue(a, e);
}

void alert_sync(Alerter *a, const char *sync, AlertKind kind, const char *detail)
{
    Event *e;

    if (a == NULL)
        return;
    e = xcalloc(1, sizeof(Event));
    e->sync = xstrdup(sync);
    e->kind = kind;
    e->body = xstrdup(detail ? detail : "");
    enqueue(a, e);
}

void alert_stop(Alerter *a, double drain)
{
    double deadline = monotonic_seconds() + drain;
    bool done = false;

    if (a == NULL)
        return;
    pthread_mutex_lock(&a->lock);
    atomic_store(&a->stopping, true);
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->lock);
    while (!done && monotonic_seconds() < deadline) {
        struct timespec pause = {0, 20 * 1000000L};
        done = pthread_tryjoin_np(a->thread, NULL) == 0;
        if (!done)
            nanosleep(&pause, NULL);
    }
    if (!done) {
        log_warn("mail alerts: the mail server did not take the last mails within %.0f s; dropped", drain);
        atomic_store(&a->abandon, true);
        pthread_mutex_lock(&a->lock);
        pthread_cond_signal(&a->cond);
        pthread_mutex_unlock(&a->lock);
        pthread_join(a->thread, NULL);
    }
    while (a->head) {
        Event *e = a->head;
        a->head = e->next;
        event_free(e);
    }
    for (int i = 0; i < a->nheld; i++) {
        free(a->held[i].sync);
        strbuf_free(&a->held[i].lines);
    }
    free(a->held);
    alerter_free(a);
}
