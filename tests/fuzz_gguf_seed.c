/* Writes the synthetic GGUF model of model_files.c to a file: the libFuzzer target's seed. */
#include <stdio.h>

#include "model_files.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_gguf_seed OUT.gguf\n");
        return 2;
    }
    mf_gguf_options o;
    mf_gguf_options_init(&o);
    o.matrix_type = 8; /* Q8_0 keeps the seed small */
    mf_file f;
    if (mf_build_gguf(&o, &f)) return 1;
    FILE *out = fopen(argv[1], "wb");
    int ok = out && fwrite(f.data, 1, f.size, out) == f.size;
    if (out && fclose(out)) ok = 0;
    mf_free(&f);
    return ok ? 0 : 1;
}
