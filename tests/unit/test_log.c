/*
 * tests/unit/test_log.c - the log sink (engine/common/log.c): the line
 * format of each setting, the level filter, the warning and conflict
 * files, --log-separate, and a reopen racing writers: four threads write
 * numbered lines while the main thread renames the file and reopens it
 * for as long as they write; every line must be found exactly once, whole, across the
 * renamed files and the current one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "log.h"
#include "util.h"

/* A fresh directory per test (removed by the test's teardown). */
static char dir[64];

static int setup_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/bucardo-logtest.XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    (void)state;
    log_close();
    if (system(cmd) != 0) {
        /* leave it */
    }
    free(cmd);
    return 0;
}

/* slurp - a file's text (xmalloc'd), "" when missing. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    StrBuf b;
    char buf[4096];
    size_t n;

    strbuf_init(&b);
    strbuf_append(&b, "");
    if (f == NULL)
        return b.data;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_append_len(&b, buf, n);
    fclose(f);
    return b.data;
}

static void configure(LogOptions *o)
{
    char err[256];
    o->dests[0] = dir;
    o->ndests = 1;
    assert_true(log_configure(o, err, sizeof(err)));
}

static void test_format_bare(void **state)
{
    LogOptions o;
    char *path = xasprintf("%s/log.bucardo", dir), *text;
    (void)state;

    log_options_default(&o);
    o.showtime = 0;
    o.showpid = false;
    o.showlevel = false;
    o.showsyncname = false;
    configure(&o);
    log_set_thread_name("s1", "target b");
    log_info("hello %d", 42);
    log_debug("not shown");
    text = slurp(path);
    assert_string_equal(text, "target b: hello 42\n");
    free(text);
    free(path);
}

static void test_format_full(void **state)
{
    LogOptions o;
    char *path = xasprintf("%s/log.bucardo.x", dir), *text, *want;
    (void)state;

    log_options_default(&o);
    o.showtime = 1;
    o.microsecond = true;
    o.showline = true;
    o.level = LOG_DEBUG_LVL;
    o.extension = "x";
    configure(&o);
    log_set_thread_name("s1", "");
    log_debug("dbg");
    text = slurp(path);
    want = xasprintf("[%d] DEBUG: #test_log.c:", (int)getpid());
    /* "1765000000.123456 [pid] DEBUG: #test_log.c:NN sync s1: dbg" */
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, " sync s1: dbg\n"));
    assert_true(text[10] == '.' && text[17] == ' ');
    free(want);
    free(text);
    free(path);
}

static void test_level_and_files(void **state)
{
    LogOptions o;
    char *path = xasprintf("%s/log.bucardo", dir), *wpath = xasprintf("%s/w.log", dir),
         *cpath = xasprintf("%s/c.log", dir), *text;
    (void)state;

    log_options_default(&o);
    o.level = LOG_WARN_LVL; /* terse */
    o.warning_file = wpath;
    o.conflict_file = cpath;
    configure(&o);
    log_set_thread_name(NULL, "controller");
    log_info("info line");
    log_warn("warn line");
    log_error("error line");
    log_conflict("conflict: key (1)");
    text = slurp(path);
    assert_null(strstr(text, "info line"));
    assert_null(strstr(text, "conflict: key"));
    assert_non_null(strstr(text, "WARNING: controller: warn line\n"));
    free(text);
    text = slurp(wpath);
    assert_non_null(strstr(text, "warn line"));
    assert_non_null(strstr(text, "error line"));
    assert_null(strstr(text, "info line"));
    free(text);
    text = slurp(cpath);
    assert_non_null(strstr(text, "conflict: key (1)"));
    free(text);
    free(path);
    free(wpath);
    free(cpath);
}

static void test_separate(void **state)
{
    LogOptions o;
    char *main_path = xasprintf("%s/log.bucardo", dir),
         *sync_path = xasprintf("%s/log.bucardo.sync.a_b", dir), *text;
    (void)state;

    log_options_default(&o);
    o.separate = true;
    configure(&o);
    log_set_thread_name(NULL, "controller");
    log_info("from the controller");
    log_set_thread_name("a/b", "target t");
    log_info("from the sync");
    text = slurp(main_path);
    assert_non_null(strstr(text, "from the controller"));
    assert_null(strstr(text, "from the sync"));
    free(text);
    text = slurp(sync_path);
    assert_non_null(strstr(text, "sync a/b target t: from the sync"));
    free(text);
    free(main_path);
    free(sync_path);
}

#define WRITERS 4
#define LINES   5000

static atomic_int writers_done;

static void *writer(void *arg)
{
    long id = (long)arg;
    char name[16];
    snprintf(name, sizeof(name), "w%ld", id);
    log_set_thread_name(NULL, name);
    for (int i = 0; i < LINES; i++)
        log_info("line %ld %d %s", id, i, "padding-padding-padding-padding-padding-padding-padding-padding");
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

static void test_reopen_races_writers(void **state)
{
    LogOptions o;
    pthread_t t[WRITERS];
    char *path = xasprintf("%s/log.bucardo", dir);
    int rotations = 0, files_with_lines = 0;
    static unsigned char seen[WRITERS][LINES];
    (void)state;

    memset(seen, 0, sizeof(seen));
    log_options_default(&o);
    configure(&o);
    for (long i = 0; i < WRITERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)i), 0);
    atomic_store(&writers_done, 0);
    /* Rotate for as long as the writers write (at least 20 times). */
    for (; rotations < 20 || atomic_load(&writers_done) < WRITERS; rotations++) {
        char *old = xasprintf("%s/old.%d", dir, rotations);
        assert_int_equal(rename(path, old), 0);
        assert_true(log_reopen());
        free(old);
        usleep(100);
    }
    for (int i = 0; i < WRITERS; i++)
        pthread_join(t[i], NULL);
    log_close();
    /* Every line exactly once, whole, in some file. */
    for (int r = 0; r <= rotations; r++) {
        char *p = r < rotations ? xasprintf("%s/old.%d", dir, r) : xstrdup(path), *text = slurp(p), *line,
             *save;
        files_with_lines += text[0] != '\0';
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            long id;
            int i;
            const char *at = strstr(line, "INFO: w");
            assert_non_null(at);
            assert_int_equal(sscanf(strstr(at, "line "), "line %ld %d", &id, &i), 2);
            assert_true(id >= 0 && id < WRITERS && i >= 0 && i < LINES);
            assert_non_null(strstr(line, "padding-padding-padding-padding-padding-padding-padding-padding"));
            assert_int_equal(seen[id][i], 0);
            seen[id][i] = 1;
        }
        free(text);
        free(p);
    }
    for (int w = 0; w < WRITERS; w++)
        for (int i = 0; i < LINES; i++)
            assert_int_equal(seen[w][i], 1);
    /* The rotations really happened while lines were written. */
    assert_true(files_with_lines >= 5);
    print_message("%d rotations, %d files with lines\n", rotations, files_with_lines);
    free(path);
}

static void test_parsers(void **state)
{
    LogLevel l;
    int f;
    (void)state;
    assert_true(log_level_parse("DEBUG", &l) && l == LOG_DEBUG_LVL);
    assert_true(log_level_parse("terse", &l) && l == LOG_WARN_LVL);
    assert_false(log_level_parse("loud", &l));
    assert_true(log_facility_parse("LOG_LOCAL3", &f));
    assert_true(log_facility_parse("local7", &f));
    assert_false(log_facility_parse("LOG_NOPE", &f));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_format_bare, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_format_full, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_level_and_files, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_separate, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_reopen_races_writers, setup_dir, teardown_dir),
        cmocka_unit_test(test_parsers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
