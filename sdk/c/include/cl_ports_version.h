/**
 * @file cl_ports_version.h
 * @brief Compile-time version of libcopperline-ports.
 *
 * Compare with clp_version() to detect a header/library mismatch at run time.
 */
#ifndef CL_PORTS_VERSION_H
#define CL_PORTS_VERSION_H

/** Major version: bumped on incompatible API or ABI changes (0 while protocol v0 settles). */
#define CLP_VERSION_MAJOR 0
/** Minor version: bumped when functions are added. */
#define CLP_VERSION_MINOR 1
/** Patch version: bumped for fixes only. */
#define CLP_VERSION_PATCH 0
/** The version as a string, "MAJOR.MINOR.PATCH". */
#define CLP_VERSION_STRING "0.1.0"
/** The version as one comparable integer: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define CLP_VERSION_NUMBER (CLP_VERSION_MAJOR * 10000 + CLP_VERSION_MINOR * 100 + CLP_VERSION_PATCH)
/** The ports wire protocol this library speaks (the `protocol` field of `ping`). */
#define CLP_PROTOCOL 0

#endif /* CL_PORTS_VERSION_H */
