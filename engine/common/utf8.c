/*
 * engine/utf8.c - UTF-8 helpers for names shown on terminals.
 *
 * Object names may be any UTF-8 (see cli_check_name), so listings pad by
 * the columns a terminal uses, not by bytes, and errors that echo user
 * input escape what would break the one-line message.  The width table is
 * deliberately small (the wide blocks of East Asian scripts, emoji, the
 * common combining marks): good enough to align names, no locale needed.
 */
#include "utf8.h"

#include <stdio.h>
#include <string.h>

#include "util.h"

size_t utf8_next(const char *s, size_t len, unsigned *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned c = u[0], min;
    size_t n;

    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        c &= 0x1F;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        c &= 0x0F;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        c &= 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (u[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

bool utf8_valid(const char *s, size_t len)
{
    unsigned cp;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_next(s + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

static bool is_control(unsigned c)
{
    return c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0);
}

bool utf8_has_control(const char *s)
{
    size_t len = strlen(s);
    unsigned cp;

    for (size_t i = 0; i < len;) {
        size_t n = utf8_next(s + i, len - i, &cp);
        if (n == 0)
            n = 1;
        else if (is_control(cp))
            return true;
        i += n;
    }
    return false;
}

int utf8_prefix(const char *s, size_t max_bytes)
{
    size_t len = strlen(s), i = 0;
    unsigned cp;

    while (i < len) {
        size_t n = utf8_next(s + i, len - i, &cp);
        if (n == 0)
            n = 1;
        if (i + n > max_bytes)
            break;
        i += n;
    }
    return (int)i;
}

/* char_width - columns of one code point (see the file comment). */
static int char_width(unsigned c)
{
    static const unsigned zero[][2] = {
        {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},   {0x064B, 0x065F},
        {0x0E31, 0x0E31}, {0x0E34, 0x0E3A}, {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF},   {0x200B, 0x200F},
        {0x20D0, 0x20FF}, {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF},
    };
    static const unsigned wide[][2] = {
        {0x1100, 0x115F}, {0x2E80, 0x303E},   {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},
        {0xA000, 0xA4CF}, {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE30, 0xFE4F},   {0xFF00, 0xFF60},
        {0xFFE0, 0xFFE6}, {0x1F300, 0x1F64F}, {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
    };

    for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
        if (c >= zero[i][0] && c <= zero[i][1])
            return 0;
    for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
        if (c >= wide[i][0] && c <= wide[i][1])
            return 2;
    return 1;
}

int utf8_width(const char *s)
{
    size_t len = strlen(s);
    int width = 0;

    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_next(s + i, len - i, &cp);
        if (n == 0) {
            width++;
            i++;
            continue;
        }
        width += char_width(cp);
        i += n;
    }
    return width;
}

int utf8_pad(const char *s, int width)
{
    int w = utf8_width(s);
    return w < width ? width - w : 0;
}

char *utf8_printable(const char *s, size_t max_bytes)
{
    size_t len = strlen(s);
    StrBuf sb;

    strbuf_init(&sb);
    for (size_t i = 0; i < len;) {
        unsigned cp;
        size_t n = utf8_next(s + i, len - i, &cp);

        if (sb.len >= max_bytes) {
            strbuf_append(&sb, "...");
            break;
        }
        if (n == 0) {
            strbuf_printf(&sb, "\\x%02X", (unsigned)(unsigned char)s[i]);
            i++;
        } else if (cp == '\n') {
            strbuf_append(&sb, "\\n");
        } else if (cp == '\t') {
            strbuf_append(&sb, "\\t");
        } else if (cp == '\r') {
            strbuf_append(&sb, "\\r");
        } else if (is_control(cp)) {
            strbuf_printf(&sb, "\\x%02X", cp);
        } else {
            strbuf_append_len(&sb, s + i, n);
        }
        if (n > 0)
            i += n;
    }
    return sb.data;
}
