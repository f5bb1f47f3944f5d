/*
 * include/util.h - memory, strings, small lists and a clock shared by every
 * module.
 *
 * Allocation failure is fatal in one place (xmalloc and friends print and
 * exit), so no caller checks for NULL from them.  A StrBuf owns its data; a
 * StrList owns copies of the strings added to it.
 */
#ifndef BUCARDO_UTIL_H
#define BUCARDO_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define MUST_CHECK        __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);

/* A growable NUL-terminated byte string. */
typedef struct StrBuf {
    char *data;
    size_t len;
    size_t cap;
} StrBuf;

void strbuf_init(StrBuf *sb);
void strbuf_free(StrBuf *sb);
void strbuf_reset(StrBuf *sb);
void strbuf_append(StrBuf *sb, const char *s);
void strbuf_append_len(StrBuf *sb, const char *s, size_t n);
void strbuf_printf(StrBuf *sb, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* A growable array of owned strings. */
typedef struct StrList {
    char **items;
    int count;
    int cap;
} StrList;

void strlist_add(StrList *l, const char *s);
void strlist_add_split(StrList *l, const char *s, char sep);
bool strlist_contains(const StrList *l, const char *s);
void strlist_free(StrList *l);

/*
 * parse_bool - Bucardo-style boolean: 1/0, true/false, yes/no, on/off, t/f.
 * Returns false (and leaves *out alone) when the text is not a boolean.
 */
bool parse_bool(const char *text, bool *out) MUST_CHECK;

/* parse_int - whole string as a decimal integer in [min, max]. */
bool parse_int(const char *text, long min, long max, long *out) MUST_CHECK;

/* monotonic_seconds - CLOCK_MONOTONIC in seconds: for intervals and
 * deadlines, never for wall-clock times. */
double monotonic_seconds(void);

/* str_replace_all - a new string with every `from` replaced by `to`. */
char *str_replace_all(const char *src, const char *from, const char *to);

/*
 * host_safety_match - Bucardo's host_safety_check against a host name.
 * Three forms: "" (any host), "=h1,h2" (one of these exact names), "~RE" (a
 * regular expression, left to the caller: returns -1 with *regex pointing
 * past the "~"), anything else (this exact name).  Returns 1 when the host
 * may run the engine, 0 when not, -1 when the caller must match *regex.
 */
int host_safety_match(const char *setting, const char *host, const char **regex);

#endif
