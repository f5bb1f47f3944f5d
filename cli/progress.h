/*
 * cli/progress.h - the live view of table copies (bucardo.copy_progress,
 * written by the engine about once a second): a bar redrawn in place on a
 * terminal, plain lines otherwise.  Shared by `kick SYNC 0` and
 * `start --foreground`.
 */
#ifndef BUCARDO_CLI_PROGRESS_H
#define BUCARDO_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "pgconn.h"
#include "util.h"

typedef struct CopyView {
    FILE *out;
    bool tty;         /* redraw one bar in place, else plain lines */
    int plain_every;  /* plain lines: every this many polls */
    bool report_done; /* a line for each copy that finishes */
    const char *sync; /* only this sync's copies; NULL: every sync */
    char since[64];   /* catalog time the view started (copies done after it are reported) */
    long polls;
    bool drawn;       /* a bar is on the current line */
    StrList reported; /* copies whose end was reported: "sync|table|started" */
} CopyView;

/*
 * copy_view_init - a view writing to out (a terminal or not); the caller
 * owns out and frees the view with copy_view_end.  cat: to read the
 * catalog's clock (false if that fails).
 */
bool copy_view_init(CopyView *v, PGconn *cat, FILE *out, const char *sync, int plain_every,
                    bool report_done) MUST_CHECK;

/* copy_view_poll - show the copies in flight (and those that ended); call
 * it about once a second.  False when the catalog could not be read. */
bool copy_view_poll(CopyView *v, PGconn *cat) MUST_CHECK;

/* copy_view_end - end a bar's line, free the view's memory. */
void copy_view_end(CopyView *v);

/*
 * A thread that polls a CopyView once a second on a catalog connection of
 * its own (reconnecting when it is lost), reporting every copy's end: for
 * an engine running in the foreground of this process.
 */
typedef struct CopyReporter CopyReporter;

/* copy_reporter_start - NULL if the thread cannot start; catalog's strings
 * and out must outlive the reporter. */
CopyReporter *copy_reporter_start(const ConnParams *catalog, FILE *out, int plain_every) MUST_CHECK;

/* copy_reporter_stop - stop and join the thread, free the reporter. */
void copy_reporter_stop(CopyReporter *rep);

#endif
