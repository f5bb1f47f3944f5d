# cmake/embed_sql.cmake
#
# Turns one sql/NAME.sql file into a C source defining
#     const char sql_NAME[] = { ...bytes..., 0 };
# so the installed `bucardo` program carries its SQL and needs no data files.
# Run as: cmake -DIN=file.sql -DOUT=file.c -DSYM=sql_name -P embed_sql.cmake
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hexlen)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE "${OUT}" "/* Generated from ${IN} by cmake/embed_sql.cmake: do not edit. */\n"
                    "extern const char ${SYM}[];\n"
                    "const char ${SYM}[] = {\n${body}0x00};\n")
