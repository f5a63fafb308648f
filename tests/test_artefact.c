/* The safetensors artefact reader: valid files, every malformation we know of, and every
 * truncation and byte corruption of a valid file (an error, never a crash or a wrong read). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* A safetensors image: header text (padded with spaces to `pad_to` bytes when > 0) + data. */
static unsigned char *image(const char *header, const void *data, size_t data_size, size_t pad_to,
                            size_t *size) {
    size_t h = strlen(header), hp = pad_to > h ? pad_to : h;
    *size = 8 + hp + data_size;
    unsigned char *b = malloc(*size);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hp >> (8 * i));
    memcpy(b + 8, header, h);
    memset(b + 8 + h, ' ', hp - h);
    if (data_size) memcpy(b + 8 + hp, data, data_size);
    return b;
}

static const char *VALID =
    "{\"__metadata__\": {\"format\": \"kvpress\", \"model\": \"stories260K\"},"
    " \"q_filters\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
    " \"gate\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [24, 32]},"
    " \"steps\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [32, 40]}}";

static unsigned char *valid_image(size_t pad_to, size_t *size) {
    unsigned char data[40];
    float f[6] = {1, 2, 3, -4, 5.5f, 6};
    uint16_t g[4] = {0x3f80, 0x4000, 0xbf80, 0x0000}; /* 1, 2, -1, 0 in bf16 */
    int64_t steps = 7;
    memcpy(data, f, 24);
    memcpy(data + 24, g, 8);
    memcpy(data + 32, &steps, 8);
    return image(VALID, data, sizeof data, pad_to, size);
}

START_TEST(test_valid) {
    for (size_t pad = 0; pad < 16; pad++) { /* every alignment of the data section */
        size_t size;
        unsigned char *b = valid_image(strlen(VALID) + pad, &size);
        kvp_artefact *a;
        ck_assert_int_eq(kvp_artefact_load_memory(b, size, &a), KVP_OK);
        free(b);
        ck_assert_int_eq(kvp_artefact_tensor_count(a), 3);
        ck_assert_str_eq(kvp_artefact_metadata(a, "model"), "stories260K");
        ck_assert_ptr_null(kvp_artefact_metadata(a, "absent"));
        kvp_tensor t;
        ck_assert_int_eq(kvp_artefact_get(a, "q_filters", &t), KVP_OK);
        ck_assert(t.dtype == KVP_DTYPE_F32 && t.ndim == 2 && t.shape[0] == 2 && t.shape[1] == 3);
        ck_assert(((const float *)t.data)[4] == 5.5f);
        ck_assert((uintptr_t)t.data % 4 == 0);
        ck_assert_int_eq(kvp_artefact_get(a, "gate", &t), KVP_OK);
        float g[4];
        kvp_convert(KVP_DTYPE_BF16, t.data, KVP_DTYPE_F32, g, 4);
        ck_assert(g[0] == 1 && g[1] == 2 && g[2] == -1 && g[3] == 0);
        ck_assert_int_eq(kvp_artefact_get(a, "steps", &t), KVP_ERR_UNSUPPORTED);
        ck_assert_int_eq(kvp_artefact_get(a, "nope", &t), KVP_ERR_NOT_FOUND);
        kvp_artefact_destroy(a);
    }
}
END_TEST

START_TEST(test_malformed) {
    static const struct {
        const char *header;
        size_t data;
    } bad[] = {
        {"[]", 0},
        {"{\"x\": 3}", 0},
        {"{\"x\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4},
        {"{\"x\": {\"dtype\": \"Q4\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1], \"data_offsets\": [0, 4]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 4]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [2, 6]}}", 8},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
         "\"data_offsets\": [0, 4]}}", 4},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}, "
         "\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4},
        {"{\"__metadata__\": {\"a\": 1}}", 0},
        {"{\"__metadata__\": []}", 0},
        {"{\"x\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}", 4},
    };
    unsigned char zeros[16] = {0};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        size_t size;
        unsigned char *b = image(bad[i].header, zeros, bad[i].data, 0, &size);
        kvp_artefact *a = (kvp_artefact *)1;
        kvp_status st = kvp_artefact_load_memory(b, size, &a);
        ck_assert_msg(st != KVP_OK, "accepted: %s", bad[i].header);
        ck_assert_ptr_null(a);
        ck_assert(kvp_last_error()[0]);
        free(b);
    }
    /* header length: zero, beyond the file, absurd; a NUL inside the header */
    unsigned char tiny[12] = {0};
    kvp_artefact *a;
    ck_assert_int_ne(kvp_artefact_load_memory(tiny, 5, &a), KVP_OK);
    ck_assert_int_ne(kvp_artefact_load_memory(tiny, 12, &a), KVP_OK);
    tiny[0] = 100;
    ck_assert_int_ne(kvp_artefact_load_memory(tiny, 12, &a), KVP_OK);
    memset(tiny, 0xff, 8);
    ck_assert_int_ne(kvp_artefact_load_memory(tiny, 12, &a), KVP_OK);
    size_t size;
    unsigned char *b = valid_image(0, &size);
    b[20] = 0;
    ck_assert_int_ne(kvp_artefact_load_memory(b, size, &a), KVP_OK);
    free(b);
    ck_assert_int_eq(kvp_artefact_load("/nonexistent/artefact.safetensors", &a), KVP_ERR_NOT_FOUND);
}
END_TEST

/* Every prefix and every single-byte corruption of a valid file either loads (then every
 * tensor view lies inside the buffer) or fails cleanly; ASan/valgrind see the reads. */
START_TEST(test_truncations_and_corruptions) {
    size_t size;
    unsigned char *b = valid_image(0, &size);
    for (size_t cut = 0; cut < size; cut++) {
        kvp_artefact *a;
        if (kvp_artefact_load_memory(b, cut, &a) == KVP_OK) kvp_artefact_destroy(a);
    }
    static const unsigned char values[] = {0, '"', '{', '}', '[', ']', ',', ':', '9', '-', 0xff};
    for (size_t pos = 0; pos < size; pos++)
        for (size_t v = 0; v < sizeof values; v++) {
            unsigned char *c = malloc(size);
            memcpy(c, b, size);
            c[pos] = values[v];
            kvp_artefact *a;
            if (kvp_artefact_load_memory(c, size, &a) == KVP_OK) {
                for (int i = 0; i < kvp_artefact_tensor_count(a); i++) {
                    kvp_tensor t;
                    if (kvp_artefact_get(a, kvp_artefact_tensor_name(a, i), &t) != KVP_OK) continue;
                    volatile unsigned char sink = 0;
                    size_t bytes = kvp_dtype_size(t.dtype);
                    for (int d = 0; d < t.ndim; d++) bytes *= (size_t)t.shape[d];
                    for (size_t k = 0; k < bytes; k++) sink ^= ((const unsigned char *)t.data)[k];
                    (void)sink;
                }
                kvp_artefact_destroy(a);
            }
            free(c);
        }
    free(b);
}
END_TEST

START_TEST(test_press_without_artefact_need) {
    size_t size;
    unsigned char *b = valid_image(0, &size);
    kvp_artefact *a;
    ck_assert_int_eq(kvp_artefact_load_memory(b, size, &a), KVP_OK);
    free(b);
    kvp_press *p;
    ck_assert_int_eq(kvp_press_create("knorm", &p), KVP_OK);
    ck_assert_int_eq(kvp_press_set_artefact(p, a), KVP_ERR_INVALID_ARG);
    ck_assert(strstr(kvp_last_error(), "does not take an artefact"));
    ck_assert_int_eq(kvp_press_set_artefact(p, NULL), KVP_ERR_INVALID_ARG);
    kvp_press_destroy(p);
    kvp_artefact_destroy(a);
    kvp_artefact_destroy(NULL);
    ck_assert_int_eq(kvp_artefact_tensor_count(NULL), 0);
    ck_assert_ptr_null(kvp_artefact_tensor_name(NULL, 0));
}
END_TEST

int main(void) {
    harness_init();
    Suite *s = suite_create("artefact");
    TCase *tc = tcase_create("safetensors");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_truncations_and_corruptions);
    tcase_add_test(tc, test_press_without_artefact_need);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    harness_done();
    return rc;
}
