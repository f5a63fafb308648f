/* Shared declarations of kvpress-tool's subcommands. */
#ifndef KVP_TOOL_H
#define KVP_TOOL_H

#include <stdio.h>

#include "kvpress/kvpress.h"

int tool_info(int argc, char **argv);
int tool_verify(int argc, char **argv);
int tool_bench(int argc, char **argv);
int tool_demo(int argc, char **argv);
int tool_run(int argc, char **argv);
int tool_eval(int argc, char **argv);
int tool_artefact(int argc, char **argv);
int tool_calibrate(int argc, char **argv);

/* Opens a context on a device given by name ("cpu", "vulkan0", "opencl"); prints why not. */
kvp_context *tool_open(const char *device_name);
/* Device names to run on for --backend NAME|all; returns the count (names are static). */
int tool_devices(const char *spec, const char **names, int max);
/* Prints "what: status: detail" for a failed call and returns 1. */
int tool_fail(kvp_context *ctx, const char *what, kvp_status st);
double tool_now(void);

#endif
