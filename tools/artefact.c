/* kvpress-tool artefact: lists the tensors and metadata of an artefact file (safetensors) and,
 * with --press, checks that the press accepts it (kvp_press_set_artefact: names and shapes). */
#include <string.h>

#include "tool.h"

int tool_artefact(int argc, char **argv) {
    const char *path = NULL, *spec = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--press") && i + 1 < argc)
            spec = argv[++i];
        else if (argv[i][0] != '-' && !path)
            path = argv[i];
        else {
            fprintf(stderr, "usage: kvpress-tool artefact FILE.safetensors [--press SPEC]\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: kvpress-tool artefact FILE.safetensors [--press SPEC]\n");
        return 2;
    }
    kvp_artefact *a;
    if (kvp_artefact_load(path, &a) != KVP_OK) {
        fprintf(stderr, "kvpress-tool artefact: %s\n", kvp_last_error());
        return 1;
    }
    static const char *const meta_keys[] = {"format", "press", "model", "source", "model_type",
                                            "n_sink", "num_samples", "sample_seq_len"};
    for (size_t k = 0; k < sizeof meta_keys / sizeof *meta_keys; k++) {
        const char *v = kvp_artefact_metadata(a, meta_keys[k]);
        if (v && *v) printf("%-16s %s\n", meta_keys[k], v);
    }
    for (int i = 0; i < kvp_artefact_tensor_count(a); i++) {
        const char *name = kvp_artefact_tensor_name(a, i);
        kvp_tensor t;
        if (kvp_artefact_get(a, name, &t) != KVP_OK) {
            printf("  %-32s (not readable: %s)\n", name, kvp_last_error());
            continue;
        }
        printf("  %-32s %-4s [", name, kvp_dtype_name(t.dtype));
        for (int k = 0; k < t.ndim; k++) printf("%s%lld", k ? ", " : "", (long long)t.shape[k]);
        printf("]\n");
    }
    int rc = 0;
    if (spec) {
        kvp_press *p;
        if (kvp_press_parse(spec, &p) != KVP_OK || kvp_press_set_artefact(p, a) != KVP_OK) {
            fprintf(stderr, "kvpress-tool artefact: %s\n", kvp_last_error());
            rc = 1;
        } else {
            printf("%s accepts it\n", spec);
        }
        kvp_press_destroy(p);
    }
    kvp_artefact_destroy(a);
    return rc;
}
