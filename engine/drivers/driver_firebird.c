/*
 * engine/drivers/driver_firebird.c - Firebird targets (libfbclient, the
 * classic ISC API of ibase.h).
 *
 * Connection: dbname is the database's path on the server or an alias of
 * its databases.conf; with a host it is reached as host[/port]:dbname over
 * TCP, without one dbname is handed to the library as written (a local
 * path, or a full "host/port:path" connection string).  user and pass as
 * given; the attachment's character set is UTF8.  Each unit of a cycle is
 * one read-committed transaction that waits for locks up to the sync's
 * lock_timeout, committed at COMMIT.
 *
 * Names: a PostgreSQL name that is a regular lowercase identifier (t,
 * order_id) is matched with the name Firebird gives an unquoted identifier
 * (T, ORDER_ID); any other name, and a table created quoted as Bucardo
 * writes it ("t"), is matched exactly.  describe reports a Firebird name
 * that is a regular uppercase identifier in lowercase, for the comparison
 * with the source's columns.
 *
 * Rows (written for bulk speed): each table operation prepares its
 * statement once and executes it per batch: rows are INSERTed by an
 * EXECUTE BLOCK of up to INSERT_BATCH INSERTs (its parameters declared
 * TYPE OF COLUMN, so the server converts as for the INSERT itself; fewer
 * rows when they would pass Firebird's 64 kB message or statement), keys
 * are DELETEd DELETE_BATCH per statement (WHERE k IN (?, ...) for a
 * one-column key, an OR of (a = ? AND b = ?) terms for a longer one).  A
 * short last batch gets a statement of its own.  Values travel as parameters: text for most
 * types (converted by the server to the column's type), binary for
 * floating point (strtod: exact), blobs written through the blob calls.
 *
 * Types (type_check, run by `validate` and each sync's first cycle):
 * integers into SMALLINT/INTEGER/BIGINT at least as wide; numeric(p,s)
 * into NUMERIC/DECIMAL(q,t) with t >= s and q - t >= p - s (Firebird 3
 * stops at 18 digits: wider numerics and numeric without precision are
 * refused); float8 into DOUBLE PRECISION, float4 into FLOAT or DOUBLE;
 * boolean into BOOLEAN; timestamp, timestamptz (as UTC) and time with at
 * most 4 fractional digits into TIMESTAMP / TIME (Firebird keeps 100
 * microseconds: timestamp(6), the default, is refused with the advice to
 * declare timestamp(4) or use a text column); date; bytea into BLOB
 * SUB_TYPE BINARY; and any type as its PostgreSQL text into
 * CHAR/VARCHAR/BLOB SUB_TYPE TEXT.  Anything else is refused naming the
 * table, the column and both types.  Values no Firebird column holds
 * (NaN, infinities, BC or infinite dates, text longer than the column,
 * more fractional digits than Firebird keeps) fail the unit, naming the
 * table and column.
 *
 * Compare (scan, canon, at the end of this file): the table read back in a
 * snapshot, each value in one canonical text per column class, the
 * source's values brought to the same text.
 */
#include "target_driver.h"

#include <ctype.h>
#include <errno.h>
#include <ibase.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Keys per DELETE statement (Firebird allows 1500 values in one IN list). */
#define DELETE_BATCH 200
/* Rows per EXECUTE BLOCK of INSERTs, and the bytes of parameters it may
 * take (Firebird 3's messages stop at 64 kB). */
#define INSERT_BATCH 100
#define BLOCK_BYTES  48000
/* Bytes per blob segment. */
#define SEGMENT 32768
/* Firebird's character set id of UTF8 (RDB$CHARACTER_SETS). */
#define CS_UTF8 4

/* How a value is sent to its column. */
typedef enum ColClass {
    CC_TEXT,      /* CHAR/VARCHAR: text, length checked */
    CC_TEXT_BLOB, /* BLOB SUB_TYPE TEXT: blob */
    CC_BYTES,     /* BLOB SUB_TYPE BINARY: bytea's hex decoded */
    CC_INT,       /* text */
    CC_NUMERIC,   /* text */
    CC_DOUBLE,    /* binary double */
    CC_FLOAT,     /* binary float */
    CC_BOOL,      /* TRUE/FALSE */
    CC_TIMESTAMP, /* text, offset turned into UTC */
    CC_DATE,
    CC_TIME,
    CC_OTHER /* a type bucardo has no conversion for: refused */
} ColClass;

/* A column as Firebird has it. */
typedef struct FbCol {
    char *name; /* as stored in RDB$ (trailing blanks trimmed) */
    char *type; /* spelled as in DDL: "VARCHAR(20)", "NUMERIC(18,4)" */
    ColClass cls;
    int charlen; /* CHAR/VARCHAR: characters */
} FbCol;

typedef struct FbConn {
    isc_db_handle db;
    isc_tr_handle tr;
    isc_stmt_handle stmt; /* the table operation's statement */
    isc_stmt_handle tail; /* DELETE for a short last batch */
    int tail_n;           /* keys or rows tail was prepared for */
    int per;              /* keys or rows per execution of stmt */
    char *name;           /* bucardo's name of the database, for messages */
    int lock_timeout;     /* seconds */
    FbCol *cols;          /* per spec column, for the operation in progress */
    int ncols;
    char *table; /* the operation's table as Firebird names it */
    XSQLDA *in;  /* parameters of stmt (and tail: same types, repeated) */
    ISC_QUAD *blobs;
    double *dbl;
    float *flt;
    short *ind;
    char **tmp; /* converted values the row's parameters point to */
} FbConn;

/* fb_error - err gets "what: Firebird's messages (SQLSTATE x)". */
static bool fb_error(const ISC_STATUS *status, const char *what, char *err, size_t errlen)
{
    const ISC_STATUS *p = status;
    char msg[512], state[FB_SQLSTATE_SIZE] = "";
    size_t n;

    n = (size_t)snprintf(err, errlen, "%s:", what);
    while (n < errlen && fb_interpret(msg, sizeof(msg), &p) > 0)
        n += (size_t)snprintf(err + n, errlen - n, " %s;", msg);
    fb_sqlstate(state, status);
    if (n < errlen)
        snprintf(err + n, errlen - n, " (SQLSTATE %s)", state);
    return false;
}

/* regular - s is a regular identifier in the case of `lower`. */
static bool regular(const char *s, bool lower)
{
    if (!s[0] || isdigit((unsigned char)s[0]) || s[0] == '$')
        return false;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (!(isdigit(ch) || ch == '_' || ch == '$' || (lower ? islower(ch) : isupper(ch))))
            return false;
    }
    return true;
}

static char *upper_dup(const char *s)
{
    char *u = xstrdup(s);

    for (char *p = u; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return u;
}

static XSQLDA *sqlda_new(int n)
{
    XSQLDA *da = xcalloc(1, XSQLDA_LENGTH(n < 1 ? 1 : n));

    da->version = SQLDA_VERSION1;
    da->sqln = (ISC_SHORT)(n < 1 ? 1 : n);
    return da;
}

static void drop_stmt(isc_stmt_handle *st)
{
    ISC_STATUS_ARRAY status;

    if (*st)
        isc_dsql_free_statement(status, st, DSQL_drop);
    *st = 0;
}

static void free_cols(FbCol *cols, int n)
{
    for (int i = 0; cols && i < n; i++) {
        free(cols[i].name);
        free(cols[i].type);
    }
    free(cols);
}

/* op_free - what the table operation in progress holds. */
static void op_free(FbConn *c)
{
    drop_stmt(&c->stmt);
    drop_stmt(&c->tail);
    c->tail_n = 0;
    if (c->tmp && c->in)
        for (int i = 0; i < c->in->sqln; i++)
            free(c->tmp[i]);
    free(c->tmp);
    free(c->in);
    free(c->blobs);
    free(c->dbl);
    free(c->flt);
    free(c->ind);
    free_cols(c->cols, c->ncols);
    free(c->table);
    c->tmp = NULL;
    c->in = NULL;
    c->blobs = NULL;
    c->dbl = NULL;
    c->flt = NULL;
    c->ind = NULL;
    c->cols = NULL;
    c->ncols = 0;
    c->table = NULL;
}

static void fb_close(void *conn)
{
    FbConn *c = conn;
    ISC_STATUS_ARRAY status;

    if (c == NULL)
        return;
    op_free(c);
    if (c->tr)
        isc_rollback_transaction(status, &c->tr);
    if (c->db)
        isc_detach_database(status, &c->db);
    free(c->name);
    free(c);
}

/* dpb_add - one string item of a database parameter block. */
static void dpb_add(StrBuf *dpb, char item, const char *v)
{
    size_t n = strlen(v);
    char hdr[2];

    if (n > 255)
        n = 255;
    hdr[0] = item;
    hdr[1] = (char)n;
    strbuf_append_len(dpb, hdr, 2);
    strbuf_append_len(dpb, v, n);
}

static void *fb_open(const DbInfo *db, const TargetConfig *cfg, char *err, size_t errlen)
{
    FbConn *c = xcalloc(1, sizeof(FbConn));
    ISC_STATUS_ARRAY status;
    StrBuf dpb, path;
    char v = isc_dpb_version1, tmo[3] = {isc_dpb_connect_timeout, 1, 10};

    c->name = xstrdup(db->name);
    c->lock_timeout = cfg && cfg->lock_timeout ? atoi(cfg->lock_timeout) : 60;
    if (c->lock_timeout <= 0)
        c->lock_timeout = 60;
    strbuf_init(&path);
    if (db->host && db->host[0]) {
        strbuf_append(&path, db->host);
        if (db->port && db->port[0])
            strbuf_printf(&path, "/%s", db->port);
        strbuf_append(&path, ":");
    } else if (db->port && db->port[0]) {
        strbuf_printf(&path, "localhost/%s:", db->port);
    }
    strbuf_append(&path, db->dbname ? db->dbname : "");
    strbuf_init(&dpb);
    strbuf_append_len(&dpb, &v, 1);
    if (db->user && db->user[0])
        dpb_add(&dpb, isc_dpb_user_name, db->user);
    if (db->pass && db->pass[0])
        dpb_add(&dpb, isc_dpb_password, db->pass);
    dpb_add(&dpb, isc_dpb_lc_ctype, "UTF8");
    strbuf_append_len(&dpb, tmo, 3);
    if (isc_attach_database(status, 0, path.data, &c->db, (short)dpb.len, dpb.data)) {
        char what[300];
        snprintf(what, sizeof(what), "cannot connect to Firebird database %s", path.data);
        fb_error(status, what, err, errlen);
        c->db = 0;
        fb_close(c);
        c = NULL;
    }
    strbuf_free(&dpb);
    strbuf_free(&path);
    return c;
}

static bool fb_alive(void *conn)
{
    FbConn *c = conn;
    ISC_STATUS_ARRAY status;

    return c && c->db && fb_ping(status, &c->db) == 0;
}

/* start - a transaction in c->tr (read-only for reading the catalog). */
static bool start(FbConn *c, bool readonly, char *err, size_t errlen)
{
    ISC_STATUS_ARRAY status;
    char tpb[16];
    int n = 0;

    tpb[n++] = isc_tpb_version3;
    tpb[n++] = readonly ? isc_tpb_read : isc_tpb_write;
    tpb[n++] = isc_tpb_read_committed;
    tpb[n++] = isc_tpb_rec_version;
    tpb[n++] = isc_tpb_wait;
    tpb[n++] = isc_tpb_lock_timeout;
    tpb[n++] = 4;
    tpb[n++] = (char)(c->lock_timeout & 0xff);
    tpb[n++] = (char)((c->lock_timeout >> 8) & 0xff);
    tpb[n++] = (char)((c->lock_timeout >> 16) & 0xff);
    tpb[n++] = (char)((c->lock_timeout >> 24) & 0xff);
    if (c->tr)
        return true;
    if (isc_start_transaction(status, &c->tr, 1, &c->db, (unsigned short)n, tpb)) {
        c->tr = 0;
        return fb_error(status, "starting a transaction", err, errlen);
    }
    return true;
}

static bool fb_begin(void *conn, char *err, size_t errlen)
{
    return start(conn, false, err, errlen);
}

/*
 * query - run sql (every output column a VARCHAR of at most 300 bytes,
 * the parameters strings) and append the rows' fields to out, NULL as "".
 * Runs in c->tr, which is started (read-only) when there is none and then
 * committed.
 */
static bool query(FbConn *c, const char *sql, int nparams, const char **params, int ncols, StrList *out,
                  char *err, size_t errlen)
{
    ISC_STATUS_ARRAY status;
    isc_stmt_handle st = 0;
    XSQLDA *o = sqlda_new(ncols), *in = sqlda_new(nparams);
    char *bufs = xcalloc((size_t)ncols, 304);
    short *ind = xcalloc((size_t)ncols + (size_t)nparams + 1, sizeof(short));
    bool own = c->tr == 0, ok = false;
    long rc;

    if (own && !start(c, true, err, errlen))
        goto out;
    if (isc_dsql_allocate_statement(status, &c->db, &st) ||
        isc_dsql_prepare(status, &c->tr, &st, 0, sql, SQL_DIALECT_V6, o)) {
        fb_error(status, "reading the catalog", err, errlen);
        goto out;
    }
    for (int i = 0; i < ncols; i++) {
        o->sqlvar[i].sqltype = SQL_VARYING + 1;
        o->sqlvar[i].sqllen = 300;
        o->sqlvar[i].sqldata = bufs + (size_t)i * 304;
        o->sqlvar[i].sqlind = &ind[i];
    }
    in->sqld = (ISC_SHORT)nparams;
    for (int i = 0; i < nparams; i++) {
        in->sqlvar[i].sqltype = SQL_TEXT;
        in->sqlvar[i].sqlsubtype = CS_UTF8;
        in->sqlvar[i].sqllen = (ISC_SHORT)strlen(params[i]);
        in->sqlvar[i].sqldata = (char *)params[i];
    }
    if (isc_dsql_execute(status, &c->tr, &st, SQL_DIALECT_V6, nparams ? in : NULL)) {
        fb_error(status, "reading the catalog", err, errlen);
        goto out;
    }
    while ((rc = isc_dsql_fetch(status, &st, SQL_DIALECT_V6, o)) == 0)
        for (int i = 0; i < ncols; i++) {
            char *b = bufs + (size_t)i * 304;
            unsigned short len;
            char val[304];
            memcpy(&len, b, sizeof(len));
            if (ind[i] < 0)
                len = 0;
            memcpy(val, b + 2, len);
            val[len] = '\0';
            strlist_add(out, val);
        }
    if (rc != 100) {
        fb_error(status, "reading the catalog", err, errlen);
        goto out;
    }
    ok = true;
out:
    drop_stmt(&st);
    if (own && c->tr) {
        if (isc_commit_transaction(status, &c->tr))
            isc_rollback_transaction(status, &c->tr);
        c->tr = 0;
    }
    free(o);
    free(in);
    free(bufs);
    free(ind);
    return ok;
}

/* The DDL spelling of a column's type, from RDB$FIELDS. */
#define TYPE_SQL                                                                                             \
    "CASE f.RDB$FIELD_TYPE"                                                                                  \
    " WHEN 7 THEN IIF(f.RDB$FIELD_SUB_TYPE > 0, IIF(f.RDB$FIELD_SUB_TYPE = 1, 'NUMERIC(', 'DECIMAL(')"       \
    "   || f.RDB$FIELD_PRECISION || ',' || (0 - f.RDB$FIELD_SCALE) || ')', 'SMALLINT')"                      \
    " WHEN 8 THEN IIF(f.RDB$FIELD_SUB_TYPE > 0, IIF(f.RDB$FIELD_SUB_TYPE = 1, 'NUMERIC(', 'DECIMAL(')"       \
    "   || f.RDB$FIELD_PRECISION || ',' || (0 - f.RDB$FIELD_SCALE) || ')', 'INTEGER')"                       \
    " WHEN 16 THEN IIF(f.RDB$FIELD_SUB_TYPE > 0, IIF(f.RDB$FIELD_SUB_TYPE = 1, 'NUMERIC(', 'DECIMAL(')"      \
    "   || f.RDB$FIELD_PRECISION || ',' || (0 - f.RDB$FIELD_SCALE) || ')', 'BIGINT')"                        \
    " WHEN 10 THEN 'FLOAT' WHEN 27 THEN 'DOUBLE PRECISION' WHEN 23 THEN 'BOOLEAN'"                           \
    " WHEN 35 THEN 'TIMESTAMP' WHEN 12 THEN 'DATE' WHEN 13 THEN 'TIME'"                                      \
    " WHEN 14 THEN 'CHAR(' || f.RDB$CHARACTER_LENGTH || ')'"                                                 \
    " WHEN 37 THEN 'VARCHAR(' || f.RDB$CHARACTER_LENGTH || ')'"                                              \
    " WHEN 261 THEN IIF(f.RDB$FIELD_SUB_TYPE = 1, 'BLOB SUB_TYPE TEXT', 'BLOB SUB_TYPE BINARY')"             \
    " ELSE 'TYPE ' || f.RDB$FIELD_TYPE END"

/* columns - the columns of the table named `table` there: *found false when
 * there is none.  The relation's own name into *relname (caller frees). */
static bool columns(FbConn *c, const char *table, bool *found, char **relname, FbCol **cols, int *ncols,
                    char *err, size_t errlen)
{
    static const char sql[] =
        "SELECT CAST(TRIM(rf.RDB$FIELD_NAME) AS VARCHAR(300)), CAST(TRIM(" TYPE_SQL ") AS VARCHAR(300)),"
        " CAST(COALESCE(f.RDB$CHARACTER_LENGTH, 0) AS VARCHAR(300))"
        " FROM RDB$RELATION_FIELDS rf JOIN RDB$FIELDS f ON f.RDB$FIELD_NAME = rf.RDB$FIELD_SOURCE"
        " WHERE rf.RDB$RELATION_NAME = CAST(? AS VARCHAR(300)) ORDER BY rf.RDB$FIELD_POSITION";
    char *upper = upper_dup(table);
    const char *tries[2] = {table, upper};
    StrList rows = {0};
    bool ok = true;

    *found = false;
    *cols = NULL;
    *ncols = 0;
    *relname = NULL;
    /* Exactly as named first (Bucardo quotes the table), then as Firebird
     * names an unquoted identifier. */
    for (int t = 0; t < (regular(table, true) ? 2 : 1) && !*found; t++) {
        strlist_free(&rows);
        if (!(ok = query(c, sql, 1, &tries[t], 3, &rows, err, errlen)))
            break;
        if (rows.count == 0)
            continue;
        *found = true;
        *relname = xstrdup(tries[t]);
        *ncols = rows.count / 3;
        *cols = xcalloc((size_t)*ncols + 1, sizeof(FbCol));
        for (int i = 0; i < *ncols; i++) {
            FbCol *col = &(*cols)[i];
            const char *ty;
            col->name = xstrdup(rows.items[i * 3]);
            col->type = xstrdup(rows.items[i * 3 + 1]);
            col->charlen = atoi(rows.items[i * 3 + 2]);
            ty = col->type;
            if (strncmp(ty, "CHAR(", 5) == 0 || strncmp(ty, "VARCHAR(", 8) == 0)
                col->cls = CC_TEXT;
            else if (strcmp(ty, "BLOB SUB_TYPE TEXT") == 0)
                col->cls = CC_TEXT_BLOB;
            else if (strcmp(ty, "BLOB SUB_TYPE BINARY") == 0)
                col->cls = CC_BYTES;
            else if (strcmp(ty, "SMALLINT") == 0 || strcmp(ty, "INTEGER") == 0 || strcmp(ty, "BIGINT") == 0)
                col->cls = CC_INT;
            else if (strncmp(ty, "NUMERIC(", 8) == 0 || strncmp(ty, "DECIMAL(", 8) == 0)
                col->cls = CC_NUMERIC;
            else if (strcmp(ty, "DOUBLE PRECISION") == 0)
                col->cls = CC_DOUBLE;
            else if (strcmp(ty, "FLOAT") == 0)
                col->cls = CC_FLOAT;
            else if (strcmp(ty, "BOOLEAN") == 0)
                col->cls = CC_BOOL;
            else if (strcmp(ty, "TIMESTAMP") == 0)
                col->cls = CC_TIMESTAMP;
            else if (strcmp(ty, "DATE") == 0)
                col->cls = CC_DATE;
            else if (strcmp(ty, "TIME") == 0)
                col->cls = CC_TIME;
            else
                col->cls = CC_OTHER;
        }
    }
    strlist_free(&rows);
    free(upper);
    return ok;
}

/* shown_name - a Firebird name as the source would spell it. */
static char *shown_name(const char *fbname)
{
    char *s = xstrdup(fbname);

    if (regular(fbname, false))
        for (char *p = s; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    return s;
}

static bool fb_describe(void *conn, const char *schema, const char *table, bool *found, StrList *names,
                        StrList *types, char *err, size_t errlen)
{
    FbCol *cols;
    int n;
    char *rel;

    (void)schema;
    if (!columns(conn, table, found, &rel, &cols, &n, err, errlen))
        return false;
    for (int i = 0; i < n; i++) {
        char *s = shown_name(cols[i].name);
        strlist_add(names, s);
        strlist_add(types, cols[i].type);
        free(s);
    }
    free_cols(cols, n);
    free(rel);
    return true;
}

/* pg_frac - the fractional digits of a PostgreSQL time type: 6 without. */
static int pg_frac(const char *pg)
{
    const char *p = strchr(pg, '(');
    return p ? atoi(p + 1) : 6;
}

static bool fb_type_check(const char *pg, const char *t, char *why, size_t whylen)
{
    bool timetype =
        strncmp(pg, "timestamp", 9) == 0 || (strncmp(pg, "time", 4) == 0 && !strstr(pg, "with time zone"));

    if (strncmp(t, "CHAR(", 5) == 0 || strncmp(t, "VARCHAR(", 8) == 0 || strcmp(t, "BLOB SUB_TYPE TEXT") == 0)
        return true; /* any value as its PostgreSQL text */
    if (strcmp(pg, "smallint") == 0) {
        if (strcmp(t, "SMALLINT") == 0 || strcmp(t, "INTEGER") == 0 || strcmp(t, "BIGINT") == 0)
            return true;
    } else if (strcmp(pg, "integer") == 0) {
        if (strcmp(t, "INTEGER") == 0 || strcmp(t, "BIGINT") == 0)
            return true;
    } else if (strcmp(pg, "bigint") == 0) {
        if (strcmp(t, "BIGINT") == 0)
            return true;
    } else if (strncmp(pg, "numeric(", 8) == 0) {
        int p = atoi(pg + 8), s = strchr(pg, ',') ? atoi(strchr(pg, ',') + 1) : 0;
        if (strncmp(t, "NUMERIC(", 8) == 0 || strncmp(t, "DECIMAL(", 8) == 0) {
            int tp = atoi(t + 8), ts = atoi(strchr(t, ',') + 1);
            if (ts >= s && tp - ts >= p - s)
                return true;
        }
        if (p > 18) {
            snprintf(why, whylen,
                     "Firebird type %s cannot hold PostgreSQL type %s (Firebird's numerics stop at 18"
                     " digits); use a text column (VARCHAR)",
                     t, pg);
            return false;
        }
    } else if (strcmp(pg, "double precision") == 0) {
        if (strcmp(t, "DOUBLE PRECISION") == 0)
            return true;
    } else if (strcmp(pg, "real") == 0) {
        if (strcmp(t, "FLOAT") == 0 || strcmp(t, "DOUBLE PRECISION") == 0)
            return true;
    } else if (strcmp(pg, "boolean") == 0) {
        if (strcmp(t, "BOOLEAN") == 0)
            return true;
    } else if (strcmp(pg, "date") == 0) {
        if (strcmp(t, "DATE") == 0)
            return true;
    } else if (strcmp(pg, "bytea") == 0) {
        if (strcmp(t, "BLOB SUB_TYPE BINARY") == 0)
            return true;
    } else if (timetype) {
        bool ts = strncmp(pg, "timestamp", 9) == 0;
        if (strcmp(t, ts ? "TIMESTAMP" : "TIME") == 0) {
            if (pg_frac(pg) <= 4)
                return true;
            snprintf(why, whylen,
                     "Firebird type %s keeps 4 fractional digits of a second, PostgreSQL type %s %d;"
                     " declare it %s(4) on the source or use a text column (VARCHAR)",
                     t, pg, pg_frac(pg), ts ? "timestamp" : "time");
            return false;
        }
    }
    if (strcmp(pg, "numeric") == 0)
        snprintf(why, whylen,
                 "Firebird type %s cannot hold every numeric (no precision: up to 1000 digits, NaN);"
                 " declare it numeric(p,s) with p <= 18 on the source or use a text column (VARCHAR)",
                 t);
    else
        snprintf(why, whylen, "Firebird type %s cannot hold PostgreSQL type %s exactly", t, pg);
    return false;
}

/* frac_ok - at most 4 fractional digits that matter (Firebird keeps 4). */
static bool frac_ok(const char *v)
{
    const char *dot = strchr(v, '.');
    int digits = 0;

    if (dot == NULL)
        return true;
    for (const char *p = dot + 1; isdigit((unsigned char)*p); p++)
        if (++digits > 4 && *p != '0')
            return false;
    return true;
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* put_blob - a new blob holding len bytes of data, its id into *id. */
static bool put_blob(FbConn *c, const char *data, size_t len, ISC_QUAD *id, char *why, size_t whylen)
{
    ISC_STATUS_ARRAY status;
    isc_blob_handle bh = 0;

    if (isc_create_blob2(status, &c->db, &c->tr, &bh, id, 0, NULL))
        return fb_error(status, "creating a blob", why, whylen);
    for (size_t at = 0; at < len; at += SEGMENT) {
        size_t n = len - at < SEGMENT ? len - at : SEGMENT;
        if (isc_put_segment(status, &bh, (unsigned short)n, data + at)) {
            fb_error(status, "writing a blob", why, whylen);
            isc_cancel_blob(status, &bh);
            return false;
        }
    }
    if (isc_close_blob(status, &bh))
        return fb_error(status, "closing a blob", why, whylen);
    return true;
}

/*
 * bind - parameter p (of column col) to value v (NULL: SQL NULL).  The
 * converted value, if any, is kept in c->tmp[p] until the next bind.
 * false with why when Firebird has no such value.
 */
static bool bind(FbConn *c, int p, const FbCol *col, const char *v, char *why, size_t whylen)
{
    XSQLVAR *x = &c->in->sqlvar[p];
    const char *s = v;
    char *end;

    free(c->tmp[p]);
    c->tmp[p] = NULL;
    x->sqlind = &c->ind[p];
    if (v == NULL) {
        c->ind[p] = -1;
        x->sqltype = SQL_TEXT + 1;
        x->sqllen = 0;
        x->sqldata = (char *)"";
        return true;
    }
    c->ind[p] = 0;
    switch (col->cls) {
    case CC_DOUBLE:
    case CC_FLOAT:
        errno = 0;
        if (col->cls == CC_DOUBLE)
            c->dbl[p] = strtod(v, &end);
        else
            c->flt[p] = strtof(v, &end);
        /* ERANGE for a subnormal is fine (PostgreSQL holds the same value);
         * an overflow is not finite, an underflow to zero is refused. */
        if (*end || end == v || (col->cls == CC_DOUBLE ? !isfinite(c->dbl[p]) : !isfinite(c->flt[p])) ||
            (errno == ERANGE && (col->cls == CC_DOUBLE ? c->dbl[p] == 0 : c->flt[p] == 0))) {
            snprintf(why, whylen, "Firebird has no %s %s", col->type, v);
            return false;
        }
        x->sqltype = (col->cls == CC_DOUBLE ? SQL_DOUBLE : SQL_FLOAT) + 1;
        x->sqlscale = 0;
        x->sqllen = col->cls == CC_DOUBLE ? (ISC_SHORT)sizeof(double) : (ISC_SHORT)sizeof(float);
        x->sqldata = col->cls == CC_DOUBLE ? (char *)&c->dbl[p] : (char *)&c->flt[p];
        return true;
    case CC_BYTES:
    case CC_TEXT_BLOB: {
        size_t len = strlen(v);
        const char *data = v;
        if (col->cls == CC_BYTES) {
            char *b;
            if (v[0] != '\\' || v[1] != 'x' || len % 2) {
                snprintf(why, whylen, "bytea not in hex form");
                return false;
            }
            b = c->tmp[p] = xmalloc(len / 2 + 1);
            len = (len - 2) / 2;
            for (size_t i = 0; i < len; i++) {
                int hi = hexval(v[2 + 2 * i]), lo = hexval(v[3 + 2 * i]);
                if (hi < 0 || lo < 0) {
                    snprintf(why, whylen, "bytea not in hex form");
                    return false;
                }
                b[i] = (char)(hi << 4 | lo);
            }
            data = b;
        }
        if (!put_blob(c, data, len, &c->blobs[p], why, whylen))
            return false;
        x->sqltype = SQL_BLOB + 1;
        x->sqllen = (ISC_SHORT)sizeof(ISC_QUAD);
        x->sqldata = (char *)&c->blobs[p];
        return true;
    }
    case CC_TEXT:
        if (col->charlen > 0 && utf8_chars(v) > (size_t)col->charlen) {
            snprintf(why, whylen, "value of %zu characters longer than %s", utf8_chars(v), col->type);
            return false;
        }
        break;
    case CC_INT:
    case CC_NUMERIC:
        if (strcmp(v, "NaN") == 0 || strstr(v, "Infinity")) {
            snprintf(why, whylen, "Firebird has no %s %s", col->type, v);
            return false;
        }
        break;
    case CC_BOOL: s = strcmp(v, "t") == 0 ? "TRUE" : strcmp(v, "f") == 0 ? "FALSE" : v; break;
    case CC_TIMESTAMP:
    case CC_DATE:
    case CC_TIME:
        if (strstr(v, "infinity") || strstr(v, " BC")) {
            snprintf(why, whylen, "Firebird has no %s %s", col->type, v);
            return false;
        }
        if (col->cls != CC_DATE) {
            c->tmp[p] = xmalloc(64);
            if (col->cls == CC_TIMESTAMP ? !target_time_utc(v, c->tmp[p], 64)
                                         : snprintf(c->tmp[p], 64, "%s", v) >= 64) {
                snprintf(why, whylen, "not a %s: %s", col->type, v);
                return false;
            }
            if (!frac_ok(c->tmp[p])) {
                snprintf(why, whylen, "Firebird %s keeps 4 fractional digits: %s", col->type, v);
                return false;
            }
            /* zeros past the fourth digit: Firebird refuses them as text */
            if (strchr(c->tmp[p], '.') && strlen(strchr(c->tmp[p], '.')) > 5)
                strchr(c->tmp[p], '.')[5] = '\0';
            s = c->tmp[p];
        }
        break;
    case CC_OTHER: snprintf(why, whylen, "bucardo cannot write Firebird type %s", col->type); return false;
    }
    if (strlen(s) > 32000) {
        snprintf(why, whylen, "value longer than 32000 bytes (use a BLOB SUB_TYPE TEXT column)");
        return false;
    }
    /* Text, converted by the server to the column's type (in the
     * attachment's character set, UTF8). */
    x->sqltype = SQL_TEXT + 1;
    x->sqlsubtype = CS_UTF8;
    x->sqlscale = 0;
    x->sqllen = (ISC_SHORT)strlen(s);
    x->sqldata = (char *)s;
    return true;
}

/* prepare - *st for sql, its parameters described into c->in. */
static bool prepare(FbConn *c, isc_stmt_handle *st, const char *sql, const char *what, char *err,
                    size_t errlen)
{
    ISC_STATUS_ARRAY status;

    if (isc_dsql_allocate_statement(status, &c->db, st) ||
        isc_dsql_prepare(status, &c->tr, st, 0, sql, SQL_DIALECT_V6, NULL))
        return fb_error(status, what, err, errlen);
    return true;
}

/* delete_sql - DELETE of n keys of spec. */
static void delete_sql(FbConn *c, const TableSpec *spec, int n, StrBuf *sql)
{
    strbuf_init(sql);
    strbuf_append(sql, "DELETE FROM ");
    target_put_ident(sql, c->table, '"');
    strbuf_append(sql, " WHERE ");
    if (spec->ncols == 1) {
        target_put_ident(sql, c->cols[0].name, '"');
        strbuf_append(sql, " IN (");
        for (int r = 0; r < n; r++)
            strbuf_append(sql, r ? ", ?" : "?");
        strbuf_append(sql, ")");
        return;
    }
    for (int r = 0; r < n; r++) {
        strbuf_append(sql, r ? " OR (" : "(");
        for (int k = 0; k < spec->ncols; k++) {
            strbuf_append(sql, k ? " AND " : "");
            target_put_ident(sql, c->cols[k].name, '"');
            strbuf_append(sql, " = ?");
        }
        strbuf_append(sql, ")");
    }
}

/* row_bytes - about what a row of the operation's columns takes in a message. */
static int row_bytes(const FbConn *c)
{
    int n = 0;

    for (int i = 0; i < c->ncols; i++)
        n += c->cols[i].cls == CC_TEXT ? c->cols[i].charlen * 4 + 4 : 16;
    return n;
}

/* per_statement - keys per DELETE, or rows per INSERT (an EXECUTE BLOCK
 * of INSERTs when more than one), within Firebird's 64 kB messages. */
static int per_statement(const FbConn *c, const TableSpec *spec)
{
    int n;

    if (spec->op == 'K')
        n = spec->ncols > 1 ? DELETE_BATCH / spec->ncols : DELETE_BATCH;
    else {
        /* the statement's text too stays under 64 kB */
        int text = (int)strlen(c->table) + 40;
        for (int i = 0; i < c->ncols; i++)
            text += 2 * (int)(strlen(c->table) + strlen(c->cols[i].name)) + 40;
        n = BLOCK_BYTES / row_bytes(c) < INSERT_BATCH ? BLOCK_BYTES / row_bytes(c) : INSERT_BATCH;
        if (BLOCK_BYTES / text < n)
            n = BLOCK_BYTES / text;
    }
    return n < 1 ? 1 : n;
}

/* insert_sql - INSERT of n rows of spec: one statement, or an EXECUTE
 * BLOCK whose parameters have the columns' own types. */
static void insert_sql(FbConn *c, const TableSpec *spec, int n, StrBuf *sql)
{
    strbuf_init(sql);
    if (n > 1) {
        strbuf_append(sql, "EXECUTE BLOCK (");
        for (int r = 0; r < n; r++)
            for (int i = 0; i < spec->ncols; i++) {
                strbuf_printf(sql, "%sP%d_%d TYPE OF COLUMN ", r || i ? ", " : "", r, i);
                target_put_ident(sql, c->table, '"');
                strbuf_append(sql, ".");
                target_put_ident(sql, c->cols[i].name, '"');
                strbuf_append(sql, " = ?");
            }
        strbuf_append(sql, ") AS BEGIN ");
    }
    for (int r = 0; r < n; r++) {
        strbuf_append(sql, "INSERT INTO ");
        target_put_ident(sql, c->table, '"');
        strbuf_append(sql, " (");
        for (int i = 0; i < spec->ncols; i++) {
            strbuf_append(sql, i ? ", " : "");
            target_put_ident(sql, c->cols[i].name, '"');
        }
        strbuf_append(sql, ") VALUES (");
        for (int i = 0; i < spec->ncols; i++)
            if (n > 1)
                strbuf_printf(sql, "%s:P%d_%d", i ? ", " : "", r, i);
            else
                strbuf_append(sql, i ? ", ?" : "?");
        strbuf_append(sql, n > 1 ? "); " : ")");
    }
    if (n > 1)
        strbuf_append(sql, "END");
}

/* op_sql - the statement of the operation for n keys or rows. */
static void op_sql(FbConn *c, const TableSpec *spec, int n, StrBuf *sql)
{
    if (spec->op == 'K')
        delete_sql(c, spec, n, sql);
    else
        insert_sql(c, spec, n, sql);
}

/* resolve - c->table and c->cols: spec's table and columns (in its order)
 * as Firebird names them. */
static bool resolve(FbConn *c, const TableSpec *spec, char *err, size_t errlen)
{
    FbCol *cols = NULL;
    int ncols = 0;
    bool found;

    op_free(c);
    if (!columns(c, spec->table, &found, &c->table, &cols, &ncols, err, errlen))
        return false;
    if (!found) {
        snprintf(err, errlen, "table %s is missing on Firebird database %s", spec->table, c->name);
        return false;
    }
    /* The spec's columns, in its order, as Firebird names them. */
    c->ncols = spec->ncols;
    c->cols = xcalloc((size_t)spec->ncols + 1, sizeof(FbCol));
    for (int i = 0; i < spec->ncols; i++) {
        int k = 0;
        char *shown = NULL;
        for (; k < ncols; k++) {
            free(shown);
            shown = shown_name(cols[k].name);
            if (strcmp(shown, spec->cols[i]) == 0 || strcmp(cols[k].name, spec->cols[i]) == 0)
                break;
        }
        free(shown);
        if (k == ncols) {
            snprintf(err, errlen, "table %s has no column %s", spec->table, spec->cols[i]);
            free_cols(cols, ncols);
            return false;
        }
        c->cols[i] = cols[k];
        c->cols[i].name = xstrdup(cols[k].name);
        c->cols[i].type = xstrdup(cols[k].type);
    }
    free_cols(cols, ncols);
    return true;
}

static bool fb_table(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    FbConn *c = conn;
    int nparams;
    char what[300];
    StrBuf sql;

    if (!resolve(c, spec, err, errlen))
        return false;
    if (spec->op != 'K' && spec->op != 'R')
        return true;
    c->per = per_statement(c, spec);
    nparams = c->per * spec->ncols;
    c->in = sqlda_new(nparams);
    c->in->sqld = (ISC_SHORT)nparams;
    c->tmp = xcalloc((size_t)nparams, sizeof(char *));
    c->blobs = xcalloc((size_t)nparams, sizeof(ISC_QUAD));
    c->dbl = xcalloc((size_t)nparams, sizeof(double));
    c->flt = xcalloc((size_t)nparams, sizeof(float));
    c->ind = xcalloc((size_t)nparams, sizeof(short));
    op_sql(c, spec, c->per, &sql);
    snprintf(what, sizeof(what), "table %s: preparing %s", spec->table,
             spec->op == 'K' ? "DELETE" : "INSERT");
    {
        bool ok = prepare(c, &c->stmt, sql.data, what, err, errlen);
        strbuf_free(&sql);
        return ok;
    }
}

/* records - rows changed by the last execution of st. */
static long records(isc_stmt_handle *st, char op)
{
    ISC_STATUS_ARRAY status;
    char item = isc_info_sql_records, buf[128];
    long n = 0;

    if (isc_dsql_sql_info(status, st, 1, &item, sizeof(buf), buf) || buf[0] != isc_info_sql_records)
        return 0;
    for (char *p = buf + 3; p < buf + sizeof(buf) && *p != isc_info_end;) {
        char what = *p++;
        short len = (short)isc_vax_integer(p, 2);
        p += 2;
        if ((op == 'K' && what == isc_info_req_delete_count) ||
            (op == 'R' && what == isc_info_req_insert_count))
            n = isc_vax_integer(p, len);
        p += len;
    }
    return n;
}

static bool fb_rows(void *conn, const TableSpec *spec, int nrows, char **vals, long *affected, char *err,
                    size_t errlen)
{
    FbConn *c = conn;
    ISC_STATUS_ARRAY status;
    int nc = spec->ncols;
    char why[600], what[300];

    snprintf(what, sizeof(what), "table %s: %s", spec->table, spec->op == 'K' ? "DELETE" : "INSERT");
    for (int r0 = 0; r0 < nrows; r0 += c->per) {
        int n = nrows - r0 < c->per ? nrows - r0 : c->per;
        isc_stmt_handle *st = &c->stmt;
        if (n < c->per) {
            /* A short batch: its own statement, kept while the count repeats. */
            if (c->tail_n != n) {
                StrBuf sql;
                drop_stmt(&c->tail);
                op_sql(c, spec, n, &sql);
                c->tail_n = 0;
                if (!prepare(c, &c->tail, sql.data, what, err, errlen)) {
                    strbuf_free(&sql);
                    return false;
                }
                strbuf_free(&sql);
                c->tail_n = n;
            }
            st = &c->tail;
        }
        c->in->sqld = (ISC_SHORT)(n * nc);
        for (int r = 0; r < n; r++)
            for (int k = 0; k < nc; k++)
                if (!bind(c, r * nc + k, &c->cols[k], vals[(r0 + r) * nc + k], why, sizeof(why))) {
                    snprintf(err, errlen, "table %s column %s: %s", spec->table, spec->cols[k], why);
                    return false;
                }
        if (isc_dsql_execute(status, &c->tr, st, SQL_DIALECT_V6, c->in))
            return fb_error(status, what, err, errlen);
        /* An INSERT that did not fail added its rows. */
        *affected += spec->op == 'K' ? records(st, 'K') : n;
    }
    return true;
}

static bool fb_table_end(void *conn, const TableSpec *spec, long *affected, char *err, size_t errlen)
{
    (void)spec;
    (void)affected;
    (void)err;
    (void)errlen;
    op_free(conn);
    return true;
}

static bool fb_exec(FbConn *c, const char *sql, const char *what, char *err, size_t errlen)
{
    ISC_STATUS_ARRAY status;

    if (isc_dsql_execute_immediate(status, &c->db, &c->tr, 0, sql, SQL_DIALECT_V6, NULL))
        return fb_error(status, what, err, errlen);
    return true;
}

static bool fb_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    FbConn *c = conn;
    StrBuf sql;
    char what[300];
    bool ok;

    /* Firebird 3 has no TRUNCATE: DELETE, inside the unit's transaction. */
    if (!fb_table(c, spec, err, errlen))
        return false;
    strbuf_init(&sql);
    strbuf_append(&sql, "DELETE FROM ");
    target_put_ident(&sql, c->table, '"');
    snprintf(what, sizeof(what), "table %s: DELETE", spec->table);
    ok = fb_exec(c, sql.data, what, err, errlen);
    strbuf_free(&sql);
    op_free(c);
    return ok;
}

static bool fb_commit(void *conn, char *err, size_t errlen)
{
    FbConn *c = conn;
    ISC_STATUS_ARRAY status;

    op_free(c);
    if (c->tr && isc_commit_transaction(status, &c->tr))
        return fb_error(status, "COMMIT", err, errlen);
    c->tr = 0;
    return true;
}

static void fb_rollback(void *conn)
{
    FbConn *c = conn;
    ISC_STATUS_ARRAY status;

    op_free(c);
    if (c->tr)
        (void)isc_rollback_transaction(status, &c->tr);
    c->tr = 0;
}

static int fb_is_empty(void *conn, const TableSpec *spec, char *err, size_t errlen)
{
    FbConn *c = conn;
    StrList out = {0};
    StrBuf sql;
    int empty = -1;
    FbCol *cols = NULL;
    int ncols = 0;
    bool found;

    op_free(c);
    if (!columns(c, spec->table, &found, &c->table, &cols, &ncols, err, errlen))
        return -1;
    free_cols(cols, ncols);
    if (!found) {
        snprintf(err, errlen, "table %s is missing on Firebird database %s", spec->table, c->name);
        return -1;
    }
    strbuf_init(&sql);
    strbuf_append(&sql, "SELECT CAST(COUNT(*) AS VARCHAR(300)) FROM (SELECT FIRST 1 1 AS x FROM ");
    target_put_ident(&sql, c->table, '"');
    strbuf_append(&sql, ")");
    if (query(c, sql.data, 0, NULL, 1, &out, err, errlen) && out.count == 1)
        empty = strcmp(out.items[0], "0") == 0;
    strbuf_free(&sql);
    strlist_free(&out);
    op_free(c);
    return empty;
}

/*
 * Compare (target_driver.h: scan, canon).  scan reads the table in one
 * snapshot transaction, each value in its binary form, and prints it in
 * one text per column class; canon brings a source value (PostgreSQL's
 * COPY text) to the same text:
 *   integers            as %lld
 *   NUMERIC/DECIMAL     without trailing fractional zeros (1.5, not 1.500; -0 is 0)
 *   DOUBLE PRECISION    %.17g of the double: exact (the sync binds strtod of the
 *                       source's shortest exact text, so equal doubles print alike)
 *   FLOAT               %.9g of the float: exact
 *   BOOLEAN             t / f, as PostgreSQL prints it
 *   TIMESTAMP           UTC "YYYY-MM-DD HH:MM:SS[.ffff]", trailing fractional zeros
 *                       dropped (Firebird keeps 4 digits)
 *   DATE / TIME         "YYYY-MM-DD" / "HH:MM:SS[.ffff]", zeros dropped likewise
 *   BLOB SUB_TYPE BINARY  lowercase hex; BLOB SUB_TYPE TEXT, VARCHAR: as is
 *   CHAR(n)             trailing blanks dropped (Firebird pads to n)
 * A source value Firebird cannot hold (NaN, infinities, BC dates, more
 * fractional digits than it keeps) gets a text no scanned value has.
 */

static bool is_char(const FbCol *col)
{
    return strncmp(col->type, "CHAR(", 5) == 0;
}

/* rtrim_blanks - trailing blanks dropped, in place. */
static void rtrim_blanks(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
}

/* unheld - the text of a value Firebird cannot hold: equal to no scanned value. */
static char *unheld(const char *v)
{
    return xasprintf("\001%s", v);
}

static char *fb_canon(void *conn, int col, const char *v)
{
    FbConn *c = conn;
    const FbCol *fc;
    char buf[64], *out, *end;

    if (v == NULL)
        return NULL;
    if (c->cols == NULL || col < 0 || col >= c->ncols)
        return xstrdup(v);
    fc = &c->cols[col];
    switch (fc->cls) {
    case CC_INT:
    case CC_NUMERIC:
        if (strcmp(v, "NaN") == 0 || strstr(v, "Infinity"))
            return unheld(v);
        out = xstrdup(v[0] == '+' ? v + 1 : v);
        if (fc->cls == CC_NUMERIC)
            target_trim_frac(out);
        if (strcmp(out, "-0") == 0)
            out[0] = '0', out[1] = '\0';
        return out;
    case CC_DOUBLE: {
        double d;
        errno = 0;
        d = strtod(v, &end);
        if (*end || end == v || !isfinite(d))
            return unheld(v);
        snprintf(buf, sizeof(buf), "%.17g", d == 0 ? 0.0 : d);
        return xstrdup(buf);
    }
    case CC_FLOAT: {
        float f;
        f = strtof(v, &end);
        if (*end || end == v || !isfinite(f))
            return unheld(v);
        snprintf(buf, sizeof(buf), "%.9g", f == 0 ? 0.0 : (double)f);
        return xstrdup(buf);
    }
    case CC_TIMESTAMP:
    case CC_DATE:
    case CC_TIME:
        if (strstr(v, "infinity") || strstr(v, " BC") || !frac_ok(v))
            return unheld(v);
        if (fc->cls == CC_TIMESTAMP) {
            if (!target_time_utc(v, buf, sizeof(buf)))
                return unheld(v);
            out = xstrdup(buf);
        } else {
            out = xstrdup(v);
        }
        target_trim_frac(out);
        return out;
    case CC_BYTES:
        if (v[0] != '\\' || v[1] != 'x')
            return unheld(v);
        out = xstrdup(v + 2);
        for (char *p = out; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        return out;
    case CC_TEXT:
        out = xstrdup(v);
        if (is_char(fc))
            rtrim_blanks(out);
        return out;
    case CC_BOOL:
    case CC_TEXT_BLOB:
    case CC_OTHER: break;
    }
    return xstrdup(v);
}

/* scaled_text - an integer with `scale` (<= 0) decimal places, as text. */
static char *scaled_text(int64_t n, int scale)
{
    uint64_t u = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n;
    char digits[32], *out;
    int len, frac = -scale;

    len = snprintf(digits, sizeof(digits), "%0*llu", frac + 1, (unsigned long long)u);
    if (frac == 0)
        return xasprintf("%s%s", n < 0 ? "-" : "", digits);
    out = xasprintf("%s%.*s.%s", n < 0 ? "-" : "", len - frac, digits, digits + len - frac);
    target_trim_frac(out);
    if (strcmp(out, "-0") == 0)
        out[0] = '0', out[1] = '\0';
    return out;
}

/* read_blob - blob *id's bytes as they are, or as lowercase hex. */
static bool read_blob(FbConn *c, ISC_QUAD *id, bool hex, StrBuf *out, char *err, size_t errlen)
{
    ISC_STATUS_ARRAY status;
    isc_blob_handle bh = 0;
    char seg[8192];
    unsigned short len;

    if (isc_open_blob2(status, &c->db, &c->tr, &bh, id, 0, NULL))
        return fb_error(status, "opening a blob", err, errlen);
    while (isc_get_segment(status, &bh, &len, sizeof(seg), seg) == 0 || status[1] == isc_segment) {
        if (!hex) {
            strbuf_append_len(out, seg, len);
            continue;
        }
        for (unsigned short i = 0; i < len; i++) {
            char h[3];
            snprintf(h, sizeof(h), "%02x", (unsigned char)seg[i]);
            strbuf_append_len(out, h, 2);
        }
    }
    if (status[1] != isc_segstr_eof) {
        fb_error(status, "reading a blob", err, errlen);
        isc_close_blob(status, &bh);
        return false;
    }
    isc_close_blob(status, &bh);
    return true;
}

/* value_text - column i of the fetched row in its canonical text (NULL:
 * SQL NULL); false on a blob that cannot be read. */
static bool value_text(FbConn *c, const XSQLVAR *x, const FbCol *col, char **val, char *err, size_t errlen)
{
    int t = x->sqltype & ~1;
    char buf[64];
    struct tm tm;

    *val = NULL;
    if (*x->sqlind < 0)
        return true;
    switch (t) {
    case SQL_SHORT: *val = scaled_text(*(ISC_SHORT *)x->sqldata, x->sqlscale); return true;
    case SQL_LONG: *val = scaled_text(*(ISC_LONG *)x->sqldata, x->sqlscale); return true;
    case SQL_INT64: *val = scaled_text(*(ISC_INT64 *)x->sqldata, x->sqlscale); return true;
    case SQL_DOUBLE: {
        double d = *(double *)x->sqldata;
        snprintf(buf, sizeof(buf), "%.17g", d == 0 ? 0.0 : d);
        break;
    }
    case SQL_FLOAT: {
        float f = *(float *)x->sqldata;
        snprintf(buf, sizeof(buf), "%.9g", f == 0 ? 0.0 : (double)f);
        break;
    }
    case SQL_BOOLEAN: snprintf(buf, sizeof(buf), "%s", *(FB_BOOLEAN *)x->sqldata ? "t" : "f"); break;
    case SQL_TIMESTAMP: {
        ISC_TIMESTAMP *ts = (ISC_TIMESTAMP *)x->sqldata;
        isc_decode_timestamp(ts, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d %02d:%02d:%02d.%04u", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ts->timestamp_time % 10000));
        target_trim_frac(buf);
        break;
    }
    case SQL_TYPE_DATE:
        isc_decode_sql_date((ISC_DATE *)x->sqldata, &tm);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
        break;
    case SQL_TYPE_TIME:
        isc_decode_sql_time((ISC_TIME *)x->sqldata, &tm);
        snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%04u", tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (unsigned)(*(ISC_TIME *)x->sqldata % 10000));
        target_trim_frac(buf);
        break;
    case SQL_BLOB: {
        StrBuf b;
        strbuf_init(&b);
        if (!read_blob(c, (ISC_QUAD *)x->sqldata, col->cls == CC_BYTES || x->sqlsubtype != 1, &b, err,
                       errlen)) {
            strbuf_free(&b);
            return false;
        }
        *val = b.data;
        return true;
    }
    default: { /* SQL_VARYING: the value as text */
        unsigned short len;
        memcpy(&len, x->sqldata, sizeof(len));
        *val = xmalloc((size_t)len + 1);
        memcpy(*val, x->sqldata + 2, len);
        (*val)[len] = '\0';
        if (is_char(col))
            rtrim_blanks(*val);
        return true;
    }
    }
    *val = xstrdup(buf);
    return true;
}

static bool fb_scan(void *conn, const TableSpec *spec, bool (*row)(void *arg, char *const *vals), void *arg,
                    char *err, size_t errlen)
{
    /* one snapshot of the whole table, read only */
    static const char tpb[] = {isc_tpb_version3, isc_tpb_read, isc_tpb_concurrency, isc_tpb_nowait};
    FbConn *c = conn;
    ISC_STATUS_ARRAY status;
    isc_stmt_handle st = 0;
    XSQLDA *o = NULL;
    short *ind = NULL;
    char **vals = NULL, what[300];
    StrBuf sql;
    bool ok = false, stopped = false;
    long rc = 0;

    err[0] = '\0';
    snprintf(what, sizeof(what), "table %s: reading its rows", spec->table);
    if (!resolve(c, spec, err, errlen))
        return false;
    strbuf_init(&sql);
    strbuf_append(&sql, "SELECT ");
    for (int i = 0; i < spec->ncols; i++) {
        strbuf_append(&sql, i ? ", " : "");
        target_put_ident(&sql, c->cols[i].name, '"');
    }
    strbuf_append(&sql, " FROM ");
    target_put_ident(&sql, c->table, '"');
    for (int k = 0; k < spec->nkeys; k++)
        for (int i = 0; i < spec->ncols; i++)
            if (strcmp(spec->cols[i], spec->keys[k]) == 0) {
                strbuf_append(&sql, k ? ", " : " ORDER BY ");
                target_put_ident(&sql, c->cols[i].name, '"');
                break;
            }
    if (c->tr == 0 && isc_start_transaction(status, &c->tr, 1, &c->db, (unsigned short)sizeof(tpb), tpb)) {
        c->tr = 0;
        fb_error(status, what, err, errlen);
        goto out;
    }
    o = sqlda_new(spec->ncols);
    ind = xcalloc((size_t)spec->ncols + 1, sizeof(short));
    if (isc_dsql_allocate_statement(status, &c->db, &st) ||
        isc_dsql_prepare(status, &c->tr, &st, 0, sql.data, SQL_DIALECT_V6, o)) {
        fb_error(status, what, err, errlen);
        goto out;
    }
    if (o->sqld != spec->ncols) {
        snprintf(err, errlen, "%s: %d columns read, %d expected", what, o->sqld, spec->ncols);
        goto out;
    }
    for (int i = 0; i < spec->ncols; i++) {
        XSQLVAR *x = &o->sqlvar[i];
        int t = x->sqltype & ~1;
        if (t == SQL_SHORT || t == SQL_LONG || t == SQL_INT64 || t == SQL_DOUBLE || t == SQL_FLOAT ||
            t == SQL_BOOLEAN || t == SQL_TIMESTAMP || t == SQL_TYPE_DATE || t == SQL_TYPE_TIME ||
            t == SQL_BLOB) {
            x->sqldata = xcalloc(1, 16);
        } else {
            /* anything else as text, converted by the server */
            int len = t == SQL_TEXT || t == SQL_VARYING ? x->sqllen : 32000;
            x->sqltype = SQL_VARYING;
            x->sqllen = (ISC_SHORT)len;
            x->sqldata = xcalloc(1, (size_t)len + 2);
        }
        x->sqltype |= 1;
        x->sqlind = &ind[i];
    }
    if (isc_dsql_execute(status, &c->tr, &st, SQL_DIALECT_V6, NULL)) {
        fb_error(status, what, err, errlen);
        goto out;
    }
    vals = xcalloc((size_t)spec->ncols + 1, sizeof(char *));
    ok = true;
    while (ok && !stopped && (rc = isc_dsql_fetch(status, &st, SQL_DIALECT_V6, o)) == 0) {
        for (int i = 0; ok && i < spec->ncols; i++)
            ok = value_text(c, &o->sqlvar[i], &c->cols[i], &vals[i], err, errlen);
        if (ok)
            stopped = !row(arg, vals);
        for (int i = 0; i < spec->ncols; i++) {
            free(vals[i]);
            vals[i] = NULL;
        }
    }
    if (ok && !stopped && rc != 100)
        ok = fb_error(status, what, err, errlen);
    ok = ok && !stopped;
out:
    drop_stmt(&st);
    /* read only: nothing to keep */
    if (c->tr)
        (void)isc_rollback_transaction(status, &c->tr);
    c->tr = 0;
    for (int i = 0; o && i < o->sqld && i < o->sqln; i++)
        free(o->sqlvar[i].sqldata);
    free(o);
    free(ind);
    free(vals);
    strbuf_free(&sql);
    return ok;
}

const RowDriver ROW_DRIVER_FIREBIRD = {
    .kind = "firebird",
    .open = fb_open,
    .alive = fb_alive,
    .begin = fb_begin,
    .table = fb_table,
    .rows = fb_rows,
    .table_end = fb_table_end,
    .empty = fb_empty,
    .commit = fb_commit,
    .rollback = fb_rollback,
    .close = fb_close,
    .describe = fb_describe,
    .type_check = fb_type_check,
    .is_empty = fb_is_empty,
    .scan = fb_scan,
    .canon = fb_canon,
};
