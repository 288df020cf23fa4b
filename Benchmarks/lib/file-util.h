// Shared by the do-nothing responders (responder.c, h2-responder.c), each compiled alone with one cc command: the
// error exit and the read of a whole file at start-up.
#ifndef SWERVE_BENCH_FILE_UTIL_H
#define SWERVE_BENCH_FILE_UTIL_H
#include <stdio.h>
#include <stdlib.h>

static void fail(const char *what) { perror(what); exit(1); }

static char *readAll(const char *path, size_t *length) {
    FILE *f = fopen(path, "rb");
    if (!f) fail(path);
    fseek(f, 0, SEEK_END);
    *length = (size_t)ftell(f);
    rewind(f);
    char *bytes = malloc(*length ? *length : 1);
    if (!bytes || fread(bytes, 1, *length, f) != *length) fail(path);
    fclose(f);
    return bytes;
}
#endif
