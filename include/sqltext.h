/*
 * include/sqltext.h - the SQL files of sql/, embedded at build time by
 * cmake/embed_sql.cmake (one symbol per file).
 */
#ifndef BUCARDO_SQLTEXT_H
#define BUCARDO_SQLTEXT_H

extern const char sql_catalog[];
extern const char sql_capture[];
extern const char sql_upgrade[];
extern const char sql_unique[];
extern const char sql_migrate_bucardo5[];

/*
 * sql_section - an xmalloc'd copy of the section `name` of an embedded SQL
 * file: the text after the line "-- @@SECTION name@@" up to the next such
 * line or the end; NULL when there is no such section.
 */
char *sql_section(const char *text, const char *name);

#endif
