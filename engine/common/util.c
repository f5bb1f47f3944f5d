/*
 * engine/common/util.c - allocation wrappers, growable strings and string lists,
 * and the few text parsers every module needs.
 *
 * Allocation failure prints one line and exits: a replication engine that
 * cannot allocate a few bytes cannot do anything useful, and checking every
 * call site would hide the real logic.
 */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void out_of_memory(size_t size)
{
    fprintf(stderr, "bucardo: out of memory (allocating %zu bytes)\n", size);
    exit(3);
}

void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        out_of_memory(n * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        out_of_memory(size);
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = xmalloc(n);
    memcpy(p, s, n);
    return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    va_list again;
    char *out;
    int n;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    if (n < 0)
        n = 0;
    out = xmalloc((size_t)n + 1);
    out[0] = '\0';
    vsnprintf(out, (size_t)n + 1, fmt, ap);
    return out;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *out;

    va_start(ap, fmt);
    out = xvasprintf(fmt, ap);
    va_end(ap);
    return out;
}

void strbuf_init(StrBuf *sb)
{
    sb->cap = 64;
    sb->len = 0;
    sb->data = xmalloc(sb->cap);
    sb->data[0] = '\0';
}

void strbuf_free(StrBuf *sb)
{
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}

void strbuf_reset(StrBuf *sb)
{
    sb->len = 0;
    sb->data[0] = '\0';
}

static void strbuf_reserve(StrBuf *sb, size_t extra)
{
    if (sb->len + extra + 1 <= sb->cap)
        return;
    while (sb->len + extra + 1 > sb->cap)
        sb->cap *= 2;
    sb->data = xrealloc(sb->data, sb->cap);
}

void strbuf_append_len(StrBuf *sb, const char *s, size_t n)
{
    strbuf_reserve(sb, n);
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void strbuf_append(StrBuf *sb, const char *s)
{
    strbuf_append_len(sb, s, strlen(s));
}

void strbuf_printf(StrBuf *sb, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    strbuf_reserve(sb, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb->len += (size_t)n;
}

void strlist_add(StrList *l, const char *s)
{
    if (l->count == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->items = xrealloc(l->items, sizeof(char *) * (size_t)l->cap);
    }
    l->items[l->count++] = xstrdup(s);
}

/* strlist_add_split - add each non-empty `sep`-separated piece of s. */
void strlist_add_split(StrList *l, const char *s, char sep)
{
    const char *start = s;

    for (;;) {
        const char *end = strchr(start, sep);
        size_t n = end ? (size_t)(end - start) : strlen(start);
        if (n > 0) {
            char *piece = xmalloc(n + 1);
            memcpy(piece, start, n);
            piece[n] = '\0';
            strlist_add(l, piece);
            free(piece);
        }
        if (end == NULL)
            break;
        start = end + 1;
    }
}

bool strlist_contains(const StrList *l, const char *s)
{
    for (int i = 0; i < l->count; i++)
        if (strcmp(l->items[i], s) == 0)
            return true;
    return false;
}

void strlist_free(StrList *l)
{
    for (int i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    l->items = NULL;
    l->count = l->cap = 0;
}

bool parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"1", "true", "t", "yes", "y", "on"};
    static const char *const no[] = {"0", "false", "f", "no", "n", "off"};

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        if (strcasecmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

bool parse_int(const char *text, long min, long max, long *out)
{
    char *end;
    long v;

    if (text == NULL || *text == '\0')
        return false;
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

char *str_replace_all(const char *src, const char *from, const char *to)
{
    StrBuf sb;
    size_t flen = strlen(from);
    const char *p = src;

    strbuf_init(&sb);
    for (;;) {
        const char *hit = flen ? strstr(p, from) : NULL;
        if (hit == NULL) {
            strbuf_append(&sb, p);
            break;
        }
        strbuf_append_len(&sb, p, (size_t)(hit - p));
        strbuf_append(&sb, to);
        p = hit + flen;
    }
    return sb.data;
}

int host_safety_match(const char *setting, const char *host, const char **regex)
{
    size_t hlen = strlen(host);

    *regex = NULL;
    if (setting[0] == '\0')
        return 1;
    if (setting[0] == '~') {
        *regex = setting + 1;
        return -1;
    }
    if (setting[0] != '=')
        return strcmp(setting, host) == 0;
    for (const char *p = setting + 1;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == hlen && strncmp(p, host, len) == 0)
            return 1;
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

double monotonic_seconds(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
