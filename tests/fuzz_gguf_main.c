/* A plain driver for the GGUF fuzz target, for compilers without libFuzzer (and for a fixed,
 * reproducible run in CI): runs each file given on the command line, then a bounded number of
 * deterministic mutations of the seeds (a synthetic GGUF model and those files): bytes flipped,
 * counts, lengths, types and offsets overwritten with boundary values, truncation, insertion
 * and deletion. Usage: fuzz_gguf_main [-n ITERATIONS] [-s SEED] [FILE...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t next(uint64_t *s) {
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

typedef struct blob {
    uint8_t *data;
    size_t size;
} blob;

/* Applies 1..8 mutations to a copy of seed (in buf, of capacity cap); returns the size. */
static size_t mutate(const blob *seed, uint8_t *buf, size_t cap, uint64_t *rng) {
    size_t n = seed->size < cap ? seed->size : cap;
    memcpy(buf, seed->data, n);
    static const uint64_t boundary[] = {0, 1, 2, 3, 4, 7, 8, 9, 12, 13, 30, 31, 32, 33, 64, 255, 256,
                                        0x7fffffffu, 0x80000000u, 0xffffffffu,
                                        (uint64_t)1 << 32, (uint64_t)1 << 62, (uint64_t)1 << 63,
                                        UINT64_MAX - 1, UINT64_MAX};
    int count = 1 + (int)(next(rng) % 8);
    for (int k = 0; k < count && n > 0; k++) {
        /* Most of the structure is in the header: aim there more often. */
        size_t span = next(rng) % 4 ? (n < 4096 ? n : 4096) : n;
        size_t at = (size_t)(next(rng) % span);
        switch (next(rng) % 6) {
        case 0: buf[at] ^= (uint8_t)(1u << (next(rng) % 8)); break;
        case 1: buf[at] = (uint8_t)next(rng); break;
        case 2: { /* a boundary value as u32 or u64 */
            uint64_t v = boundary[next(rng) % (sizeof boundary / sizeof boundary[0])];
            size_t w = next(rng) % 2 ? 4 : 8;
            if (at + w <= n) (w == 4 ? mf_put_u32(buf + at, (uint32_t)v) : mf_put_u64(buf + at, v));
            break;
        }
        case 3: n = at; break; /* truncate */
        case 4: { /* delete a run */
            size_t len = 1 + (size_t)(next(rng) % 16);
            if (at + len <= n) {
                memmove(buf + at, buf + at + len, n - at - len);
                n -= len;
            }
            break;
        }
        default: { /* insert a run of random bytes */
            size_t len = 1 + (size_t)(next(rng) % 16);
            if (n + len <= cap) {
                memmove(buf + at + len, buf + at, n - at);
                for (size_t i = 0; i < len; i++) buf[at + i] = (uint8_t)next(rng);
                n += len;
            }
            break;
        }
        }
    }
    return n;
}

int main(int argc, char **argv) {
    long iterations = 20000;
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    blob seeds[64];
    int n_seeds = 0;
    mf_gguf_options o;
    mf_gguf_options_init(&o);
    for (uint32_t type = 0; type < 3; type++) { /* F32, F16 and Q8_0 seeds */
        mf_file f;
        o.matrix_type = type == 2 ? 8 : type;
        if (mf_build_gguf(&o, &f)) return 1;
        seeds[n_seeds++] = (blob){f.data, f.size};
    }
    char err[512];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc) {
            iterations = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            rng ^= strtoull(argv[++i], NULL, 10) * 0x2545F4914F6CDD1Dull;
        } else if (n_seeds < 64) {
            blob b;
            if (read_file(argv[i], (size_t)1 << 28, &b.data, &b.size, err, sizeof err)) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            LLVMFuzzerTestOneInput(b.data, b.size);
            seeds[n_seeds++] = b;
        }
    }
    size_t cap = 0;
    for (int i = 0; i < n_seeds; i++) cap = seeds[i].size > cap ? seeds[i].size : cap;
    cap += 4096;
    uint8_t *buf = malloc(cap);
    if (!buf) return 1;
    for (long it = 0; it < iterations; it++) {
        size_t n = mutate(&seeds[next(&rng) % (uint64_t)n_seeds], buf, cap, &rng);
        /* an exact-size copy, so that a sanitizer sees a read past the end */
        uint8_t *input = malloc(n ? n : 1);
        if (!input) return 1;
        memcpy(input, buf, n);
        LLVMFuzzerTestOneInput(input, n);
        free(input);
    }
    printf("fuzz_gguf: %ld mutated inputs from %d seeds, no crash\n", iterations, n_seeds);
    free(buf);
    for (int i = 0; i < n_seeds; i++) free(seeds[i].data);
    return 0;
}
