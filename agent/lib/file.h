/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Small files read whole (the configuration, the HTTP server's web config):
 * one bounded read, so a huge or special file is refused before it is read;
 * and the message buffer their parsers fill when a line is refused.
 */
#ifndef MS_FILE_H
#define MS_FILE_H

#include <stddef.h>

/*
 * Reads the regular file at path, at most max_bytes long, into *text (NUL
 * terminated, the caller frees it) and its length into *len. Returns 0;
 * -EINVAL when it is not a regular file, -EFBIG when it is longer than
 * max_bytes, -ENOMEM, or open's, fstat's or read's -errno. Nothing is
 * allocated on error.
 */
int ms_file_read(const char *path, size_t max_bytes, char **text, size_t *len);

/* Formats the reason into err (err_len bytes); nothing when err is NULL or err_len 0. */
void ms_file_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* MS_FILE_H */
