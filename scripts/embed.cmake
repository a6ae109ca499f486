# Turn a file into a C array: -DIN=file -DOUT=file.c
# Defines wd_sample_articles[] (NUL-terminated) and wd_sample_articles_len.
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR len "${n} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" body "${body}")
file(WRITE ${OUT} "/* generated from ${IN}: do not edit */\n#include <stddef.h>\n"
     "extern const char wd_sample_articles[];\nextern const size_t wd_sample_articles_len;\n"
     "const char wd_sample_articles[] = {\n${body}0x00};\n"
     "const size_t wd_sample_articles_len = ${len};\n")
