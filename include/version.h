/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The version of migshaperd and migshaperctl, in one place: `make deb` and
 * the package test read it from here, and debian/changelog must agree.
 */
#ifndef MS_VERSION_H
#define MS_VERSION_H

#define MS_VERSION "0.1.0"

#endif /* MS_VERSION_H */
