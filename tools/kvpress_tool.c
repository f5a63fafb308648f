/* kvpress-tool: device information, verification against NVIDIA kvpress reference vectors,
 * benchmarks, a demo, and a real model: text generation (run) and evaluation (eval). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tool.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: kvpress-tool <command> [options]\n"
            "\n"
            "commands:\n"
            "  info                      backends and devices, and why a backend is absent\n"
            "  demo [--backend NAME]     compress a synthetic cache with every press\n"
            "  verify DIR [--backend NAME|all] [-v]\n"
            "                            run the reference cases of DIR (kvpress golden format)\n"
            "  bench [--backend NAME|all] [--n N[,N...]] [--dtype f32|bf16|f16|all] [--reps R]\n"
            "                            time scoring, selection, compaction and attention\n"
            "  run -m MODEL -p PROMPT [--press SPEC --ratio R] [--decoding-press SPEC] ...\n"
            "                            generate text with a compressed KV cache\n"
            "  eval -m MODEL --suite FILE (--windows FILE | --text FILE) [--reference FILE] ...\n"
            "                            NLL of every press of a suite (EVAL.md protocol)\n"
            "  calibrate -m MODEL --text FILE -o OUT.safetensors ...\n"
            "                            CompressKV's artefact: retrieval heads, layer profile\n"
            "  presses                   list the presses and their parameters\n"
            "  artefact FILE [--press SPEC]\n"
            "                            list an artefact's tensors; check that a press takes it\n"
            "  version\n");
}

static int tool_presses(void) {
    for (int i = 0; i < kvp_press_list_count(); i++) {
        const kvp_press_info *pi = kvp_press_list_get(i);
        static const char *kinds[] = {"scorer", "wrapper", "head-wise", "decoding", "structural"};
        printf("%-20s %-9s %s\n", pi->name, kinds[pi->kind], pi->summary);
        for (int k = 0; k < pi->n_params; k++) {
            const kvp_param_info *p = &pi->params[k];
            if (p->type == KVP_PARAM_PRESS)
                printf("    %-22s press   %s\n", p->name, p->help);
            else if (p->type == KVP_PARAM_PRESS_LIST)
                printf("    %-22s [press] %s\n", p->name, p->help);
            else if (p->type == KVP_PARAM_FLOAT_LIST)
                printf("    %-22s [float] %s (each in [%g, %g])\n", p->name, p->help, p->min_value,
                       p->max_value);
            else if (p->type == KVP_PARAM_CHOICE) {
                /* the default's name: the default_value-th of the '|'-separated choices */
                const char *c = kvp_param_choices(pi, k);
                for (int skip = (int)p->default_value; c && skip > 0; skip--) {
                    c = strchr(c, '|');
                    if (c) c++;
                }
                printf("    %-22s choice  %s (default %.*s)\n", p->name, p->help,
                       c ? (int)strcspn(c, "|") : 1, c ? c : "?");
            }
            else
                printf("    %-22s %-7s %s (default %g)\n", p->name,
                       p->type == KVP_PARAM_INT ? "int" : p->type == KVP_PARAM_BOOL ? "bool" : "float",
                       p->help, p->default_value);
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "info")) return tool_info(argc - 1, argv + 1);
    if (!strcmp(cmd, "verify")) return tool_verify(argc - 1, argv + 1);
    if (!strcmp(cmd, "bench")) return tool_bench(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo")) return tool_demo(argc - 1, argv + 1);
    if (!strcmp(cmd, "run")) return tool_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "eval")) return tool_eval(argc - 1, argv + 1);
    if (!strcmp(cmd, "calibrate")) return tool_calibrate(argc - 1, argv + 1);
    if (!strcmp(cmd, "presses")) return tool_presses();
    if (!strcmp(cmd, "artefact")) return tool_artefact(argc - 1, argv + 1);
    if (!strcmp(cmd, "version")) {
        printf("kvpress-tool %s (library %s)\n", KVP_VERSION_STRING, kvp_version_string());
        return 0;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "kvpress-tool: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}

kvp_context *tool_open(const char *name) {
    kvp_device *dev;
    kvp_status st = kvp_device_by_name(name, &dev);
    if (st != KVP_OK) {
        fprintf(stderr, "kvpress-tool: %s\n", kvp_last_error());
        return NULL;
    }
    kvp_context *ctx;
    st = kvp_context_create(dev, NULL, &ctx);
    if (st != KVP_OK) {
        fprintf(stderr, "kvpress-tool: %s\n", kvp_last_error());
        return NULL;
    }
    return ctx;
}

int tool_devices(const char *spec, const char **names, int max) {
    static char storage[64][64];
    int n = 0, count = 0;
    kvp_device_count(&count);
    for (int i = 0; i < count && n < max && n < 64; i++) {
        kvp_device *d;
        kvp_device_props p;
        if (kvp_device_get(i, &d) || kvp_device_get_props(d, &p)) continue;
        int want = !strcmp(spec, "all") || !strcmp(spec, p.name) || !strcmp(spec, p.backend);
        /* "all": the first device of every backend; a backend name: its first device. */
        for (int k = 0; want && k < n; k++)
            if (!strncmp(storage[k], p.backend, strlen(p.backend)) && strcmp(spec, p.name)) want = 0;
        if (!want) continue;
        snprintf(storage[n], sizeof storage[n], "%s", p.name);
        names[n] = storage[n];
        n++;
    }
    return n;
}

int tool_fail(kvp_context *ctx, const char *what, kvp_status st) {
    fprintf(stderr, "kvpress-tool: %s: %s: %s\n", what, kvp_status_name(st),
            ctx ? kvp_context_last_error(ctx) : kvp_last_error());
    return 1;
}

double tool_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
