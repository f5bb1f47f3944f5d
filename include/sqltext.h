/*
 * include/sqltext.h - the SQL files of sql/, embedded at build time by
 * cmake/embed_sql.cmake (one symbol per file).
 */
#ifndef BUCARDO_SQLTEXT_H
#define BUCARDO_SQLTEXT_H

extern const char sql_catalog[];
extern const char sql_capture[];

#endif
