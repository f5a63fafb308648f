/* kvpress-tool eval: the evaluation protocol of EVAL.md, shared between the driver (eval.c)
 * and the reports (eval_report.c). */
#ifndef KVP_TOOL_EVAL_H
#define KVP_TOOL_EVAL_H

#include <stdint.h>

#include "core/json.h"

#define EVAL_WINDOW 448        /* tokens per window, BOS first */
#define EVAL_CONTEXT 384       /* prefilled (and compressed) context */
#define EVAL_CONTINUATION 64   /* tokens fed after the context */
#define EVAL_TOLERANCE 0.005   /* nats, for --reference (default of --tolerance) */

typedef enum eval_task { EVAL_TASK_CONTINUE = 0, EVAL_TASK_COPY = 1, EVAL_TASK_COUNT } eval_task;

/* One press at one ratio (or the uncompressed model). */
typedef struct eval_config {
    char key[128];          /* "<entry>@<ratio>", "none@0" */
    char entry[96];         /* suite entry name, "none" */
    double ratio;
    const kvp_json *spec; /* the suite entry; NULL for none@0 */
} eval_config;

typedef struct eval_data {
    /* inputs */
    int n_configs;
    eval_config *configs;
    int n_tasks;
    eval_task tasks[EVAL_TASK_COUNT];
    int n_windows;
    int32_t *windows;       /* [n_windows, EVAL_WINDOW] */
    int n_layers;
    double tolerance;       /* nats allowed against a reference (--tolerance) */
    /* results */
    double *nll;            /* [config, task, window] mean NLL of the window */
    double *kept;           /* [config, layer] entries per kv head, summed over windows */
    int *windows_done;      /* [config] */
    char (*errors)[256];    /* [config] "" when every window ran */
} eval_data;

const char *eval_task_name(eval_task task);
/* Mean NLL over the windows of a config and task. */
double eval_mean_nll(const eval_data *d, int config, int task);
/* The shortest decimal that reads back as `ratio` (Python's repr: 0.25, 0.5, 0.1). */
void eval_format_ratio(double ratio, char *buf, size_t size);

/* Reports (eval_report.c). Each returns 0, or -1 after printing why. */
void eval_print_table(const eval_data *d, const kvp_json *reference);
int eval_write_json(const eval_data *d, const char *path, const char *model, const char *backend);
int eval_write_csv(const eval_data *d, const char *path, const kvp_json *reference);
int eval_write_svg(const eval_data *d, const char *path, const char *title);
/* Compares with a reference file ({"results": {task: {key: {"nll"} | {"error"}}}}): prints
 * every difference beyond d->tolerance and returns how many there were (-1: bad file).
 * Entries named in not_compared are printed but not counted. */
int eval_compare_reference(const eval_data *d, const kvp_json *reference,
                           const char *const *not_compared, int n_not_compared);

#endif
