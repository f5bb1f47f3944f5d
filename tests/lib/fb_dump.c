/*
 * tests/lib/fb_dump.c - prints the rows of a SELECT on a Firebird database,
 * for tests that compare a Firebird target's contents with the source's:
 * one line per row, fields separated by '|', NULL as N.  Doubles are
 * printed with 17 significant digits and floats with 9 (exact: isql-fb
 * prints 16), binary blobs as lowercase hex, text blobs as their bytes,
 * dates and times as "YYYY-MM-DD HH:MM:SS.ffff", everything else as the
 * server converts it to text (TRUE/FALSE, numerics with their scale).  Written with
 * libfbclient only, so it reads what the driver wrote through another
 * path than the driver's own code.
 *
 * usage: fb_dump 'host/port:path' user password 'SELECT ...'
 */
#include <ibase.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TEXT_MAX 32000

static void die(const ISC_STATUS *status, const char *what)
{
    const ISC_STATUS *p = status;
    char msg[512];

    fprintf(stderr, "fb_dump: %s:", what);
    while (fb_interpret(msg, sizeof(msg), &p) > 0)
        fprintf(stderr, " %s;", msg);
    fprintf(stderr, "\n");
    exit(1);
}

static void put_blob(isc_db_handle *db, isc_tr_handle *tr, ISC_QUAD *id, int binary)
{
    ISC_STATUS_ARRAY status;
    isc_blob_handle bh = 0;
    char seg[8192];
    unsigned short len;
    ISC_STATUS rc;

    if (isc_open_blob2(status, db, tr, &bh, id, 0, NULL))
        die(status, "open blob");
    while ((rc = isc_get_segment(status, &bh, &len, sizeof(seg), seg)) == 0 || status[1] == isc_segment) {
        for (unsigned short i = 0; i < len; i++)
            if (binary)
                printf("%02x", (unsigned char)seg[i]);
            else
                putchar(seg[i]);
        (void)rc;
    }
    if (status[1] != isc_segstr_eof)
        die(status, "read blob");
    isc_close_blob(status, &bh);
}

/* put_float - v in PostgreSQL's float8/float4 output: the fewest digits
 * that read back to v, in fixed notation for exponents -4 up to 14
 * (float4: 5), else as 1.5e+20. */
static void put_float(double v, bool single)
{
    char buf[64];
    int digits = 1, exp;

    for (; digits < 17; digits++) {
        snprintf(buf, sizeof(buf), "%.*e", digits - 1, v);
        if (single ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v)
            break;
    }
    snprintf(buf, sizeof(buf), "%.*e", digits - 1, v);
    exp = atoi(strchr(buf, 'e') + 1);
    if (exp < -4 || exp >= (single ? 6 : 15))
        printf("%.*e", digits - 1, v);
    else
        printf("%.*g", exp + 1 > digits ? exp + 1 : digits, v);
}

int main(int argc, char **argv)
{
    ISC_STATUS_ARRAY status;
    isc_db_handle db = 0;
    isc_tr_handle tr = 0;
    isc_stmt_handle st = 0;
    XSQLDA *o;
    char dpb[600];
    int n = 0, ncols;
    short *ind;
    long rc;

    if (argc != 5) {
        fprintf(stderr, "usage: fb_dump 'host/port:path' user password 'SELECT ...'\n");
        return 2;
    }
    dpb[n++] = isc_dpb_version1;
    dpb[n++] = isc_dpb_user_name;
    dpb[n++] = (char)strlen(argv[2]);
    memcpy(dpb + n, argv[2], strlen(argv[2]));
    n += (int)strlen(argv[2]);
    dpb[n++] = isc_dpb_password;
    dpb[n++] = (char)strlen(argv[3]);
    memcpy(dpb + n, argv[3], strlen(argv[3]));
    n += (int)strlen(argv[3]);
    dpb[n++] = isc_dpb_lc_ctype;
    dpb[n++] = 4;
    memcpy(dpb + n, "UTF8", 4);
    n += 4;
    if (isc_attach_database(status, 0, argv[1], &db, (short)n, dpb))
        die(status, "connect");
    if (isc_start_transaction(status, &tr, 1, &db, 0, NULL))
        die(status, "transaction");
    o = calloc(1, XSQLDA_LENGTH(1));
    o->version = SQLDA_VERSION1;
    o->sqln = 1;
    if (isc_dsql_allocate_statement(status, &db, &st) ||
        isc_dsql_prepare(status, &tr, &st, 0, argv[4], SQL_DIALECT_V6, o))
        die(status, "prepare");
    ncols = o->sqld;
    if (ncols > 1) {
        free(o);
        o = calloc(1, XSQLDA_LENGTH(ncols));
        o->version = SQLDA_VERSION1;
        o->sqln = (short)ncols;
        if (isc_dsql_describe(status, &st, SQL_DIALECT_V6, o))
            die(status, "describe");
    }
    ind = calloc((size_t)ncols + 1, sizeof(short));
    for (int i = 0; i < ncols; i++) {
        XSQLVAR *x = &o->sqlvar[i];
        int t = x->sqltype & ~1;
        if (t == SQL_DOUBLE || t == SQL_FLOAT || t == SQL_BLOB || t == SQL_TIMESTAMP || t == SQL_TYPE_DATE ||
            t == SQL_TYPE_TIME) {
            x->sqldata = calloc(1, 16);
        } else {
            x->sqltype = SQL_VARYING;
            x->sqllen = TEXT_MAX;
            x->sqldata = calloc(1, TEXT_MAX + 2);
        }
        x->sqltype |= 1;
        x->sqlind = &ind[i];
    }
    if (isc_dsql_execute(status, &tr, &st, SQL_DIALECT_V6, NULL))
        die(status, "execute");
    while ((rc = isc_dsql_fetch(status, &st, SQL_DIALECT_V6, o)) == 0) {
        for (int i = 0; i < ncols; i++) {
            XSQLVAR *x = &o->sqlvar[i];
            int t = x->sqltype & ~1;
            if (i)
                putchar('|');
            if (ind[i] < 0)
                putchar('N');
            else if (t == SQL_DOUBLE)
                put_float(*(double *)x->sqldata, false);
            else if (t == SQL_FLOAT)
                put_float((double)*(float *)x->sqldata, true);
            else if (t == SQL_TIMESTAMP || t == SQL_TYPE_DATE || t == SQL_TYPE_TIME) {
                struct tm tm;
                ISC_TIME frac = 0;
                if (t == SQL_TIMESTAMP) {
                    isc_decode_timestamp((ISC_TIMESTAMP *)x->sqldata, &tm);
                    frac = ((ISC_TIMESTAMP *)x->sqldata)->timestamp_time % 10000;
                } else if (t == SQL_TYPE_DATE) {
                    isc_decode_sql_date((ISC_DATE *)x->sqldata, &tm);
                } else {
                    isc_decode_sql_time((ISC_TIME *)x->sqldata, &tm);
                    frac = *(ISC_TIME *)x->sqldata % 10000;
                }
                if (t != SQL_TYPE_TIME)
                    printf("%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
                if (t == SQL_TIMESTAMP)
                    putchar(' ');
                if (t != SQL_TYPE_DATE)
                    printf("%02d:%02d:%02d.%04u", tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)frac);
            } else if (t == SQL_BLOB)
                put_blob(&db, &tr, (ISC_QUAD *)x->sqldata, x->sqlsubtype != 1);
            else {
                unsigned short len;
                memcpy(&len, x->sqldata, sizeof(len));
                fwrite(x->sqldata + 2, 1, len, stdout);
            }
        }
        putchar('\n');
    }
    if (rc != 100)
        die(status, "fetch");
    isc_dsql_free_statement(status, &st, DSQL_drop);
    isc_commit_transaction(status, &tr);
    isc_detach_database(status, &db);
    for (int i = 0; i < ncols; i++)
        free(o->sqlvar[i].sqldata);
    free(o);
    free(ind);
    return 0;
}
