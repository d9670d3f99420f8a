/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Small files read whole (the configuration, the HTTP server's web config):
 * one bounded read, so a huge or special file is refused before it is read.
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

#endif /* MS_FILE_H */
