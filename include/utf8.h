/*
 * include/utf8.h - UTF-8 text as a terminal shows it: validity, display
 * width (for aligned listings of names in any script), and a printable
 * form of untrusted text (for error lines that echo what was typed).
 */
#ifndef BUCARDO_UTF8_H
#define BUCARDO_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* utf8_valid - is s[0..len) well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF)? */
bool utf8_valid(const char *s, size_t len);

/* utf8_next - decode the character at s (which has len > 0 bytes left):
 * its code point in *cp and its length in bytes, or 0 when s does not start
 * a well-formed character. */
size_t utf8_next(const char *s, size_t len, unsigned *cp);

/* utf8_has_control - does s hold a C0 or C1 control character or DEL? */
bool utf8_has_control(const char *s);

/* utf8_prefix - the length of the longest prefix of s that has at most
 * max_bytes bytes and does not cut a character in two. */
int utf8_prefix(const char *s, size_t max_bytes);

/* utf8_width - the columns a terminal gives s: 2 for East Asian wide
 * characters and most emoji, 0 for combining marks, 1 otherwise (also for
 * each byte of malformed input). */
int utf8_width(const char *s);

/* utf8_pad - the blanks that bring s to `width` columns (0 if wider). */
int utf8_pad(const char *s, int width);

/*
 * utf8_printable - a copy of s (the caller frees it) safe to print on one
 * line: control characters become \n, \t, \r or \xNN, malformed bytes
 * \xNN; cut at a character boundary after about max_bytes bytes, with
 * "..." appended when cut.
 */
char *utf8_printable(const char *s, size_t max_bytes);

#endif
