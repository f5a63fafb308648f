/* Model loaders and tokenizer on good and bad input: synthetic GGUF (F32, F16, BF16, Q8_0) and
 * llama2.c files built in memory, each corrupted in one way at a time (truncation at every
 * byte, wrong magic and version, absurd counts and lengths, overflowing offsets and
 * dimensions, bad types, misalignment, overlaps, duplicates, wrong shapes, NaN weights).
 * Every bad file must give -1 and a message, never a crash (the suite also runs under ASan
 * and valgrind in CI). With the shared models present, the real files are truncated at every
 * byte of their headers too. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/model.h"
#include "model_files.h"

#ifndef KVP_SHARED_DIR
#define KVP_SHARED_DIR ""
#endif

static char err[512];

/* Loads a GGUF image; returns the loader's result (0 / -1) and frees the model. */
static int load_gguf(const uint8_t *data, size_t size) {
    llama_model *m = NULL;
    err[0] = 0;
    int rc = llama_model_load_gguf(data, size, &m, err, sizeof err);
    if (rc == 0) ck_assert_ptr_nonnull(m);
    else ck_assert_msg(m == NULL && err[0], "a failure must come with a message and no model");
    llama_model_free(m);
    return rc;
}

static void expect_gguf_error(const mf_file *f, const char *fragment) {
    int rc = load_gguf(f->data, f->size);
    ck_assert_msg(rc == -1, "loaded a bad file (expected an error containing '%s')", fragment);
    ck_assert_msg(strstr(err, fragment), "message '%s' does not mention '%s'", err, fragment);
}

static mf_file build(const mf_gguf_options *o) {
    mf_file f;
    ck_assert_int_eq(mf_build_gguf(o, &f), 0);
    return f;
}

static mf_file build_default(void) {
    mf_gguf_options o;
    mf_gguf_options_init(&o);
    return build(&o);
}

/* ---- valid files ---- */

static void check_weights(const llama_model *m, double tol_rel_step) {
    const llama_config *c = &m->cfg;
    ck_assert_int_eq(c->dim, MF_DIM);
    ck_assert_int_eq(c->hidden_dim, MF_HIDDEN);
    ck_assert_int_eq(c->n_layers, MF_LAYERS);
    ck_assert_int_eq(c->n_heads, MF_HEADS);
    ck_assert_int_eq(c->n_kv_heads, MF_KV_HEADS);
    ck_assert_int_eq(c->head_dim, MF_HEAD_DIM);
    ck_assert_int_eq(c->vocab_size, MF_VOCAB);
    ck_assert_int_eq(c->seq_len, MF_CTX);
    ck_assert_int_eq(c->rope_layout, KVP_ROPE_INTERLEAVED);
    /* blk.1.attn_q.weight is tensor 3 + 9 + 1; it is a matrix (quantised in Q8_0 files). */
    const float *wq = m->layers[1].wq;
    for (size_t i = 0; i < (size_t)MF_HEADS * MF_HEAD_DIM * MF_DIM; i++) {
        double want = mf_weight(13, i);
        ck_assert_msg(fabs(wq[i] - want) <= tol_rel_step * 0.5 / 127 + 1e-6, "wq[%zu] = %g, want %g",
                      i, wq[i], want);
    }
    for (size_t i = 0; i < MF_DIM; i++) ck_assert_float_eq(m->out_norm[i], mf_weight(1, i));
}

START_TEST(gguf_valid_types) {
    static const uint32_t types[] = {0, 1, 30, 8};
    for (int k = 0; k < 4; k++) {
        mf_gguf_options o;
        mf_gguf_options_init(&o);
        o.matrix_type = types[k];
        o.version = k % 2 ? 2 : 3;
        mf_file f = build(&o);
        llama_model *m;
        ck_assert_msg(llama_model_load_gguf(f.data, f.size, &m, err, sizeof err) == 0, "type %u: %s",
                      types[k], err);
        check_weights(m, types[k] == 8 ? 1.0 : 0.0);
        ck_assert_int_eq(m->shared_classifier, 0);
        ck_assert_ptr_nonnull(m->tok);
        llama_model_free(m);
        mf_free(&f);
    }
}
END_TEST

START_TEST(gguf_tied_classifier_and_alignment) {
    mf_gguf_options o;
    mf_gguf_options_init(&o);
    o.tied = 1;
    o.alignment = 64;
    mf_file f = build(&o);
    llama_model *m;
    ck_assert_msg(llama_model_load_gguf(f.data, f.size, &m, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(m->shared_classifier, 1);
    ck_assert_ptr_eq(m->classifier, m->tok_embd);
    llama_model_free(m);
    mf_free(&f);
}
END_TEST

START_TEST(gguf_and_llama2c_agree) {
    mf_file g = build_default(), b;
    ck_assert_int_eq(mf_build_llama2c(0, &b), 0);
    llama_model *mg, *mb;
    ck_assert_msg(llama_model_load_gguf(g.data, g.size, &mg, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(llama_model_load_llama2c(b.data, b.size, &mb, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(mg->arena_floats, mb->arena_floats);
    ck_assert_int_eq(memcmp(mg->arena, mb->arena, mg->arena_floats * sizeof(float)), 0);
    ck_assert_int_eq(mb->shared_classifier, 0);
    llama_model_free(mg);
    llama_model_free(mb);
    mf_free(&g);
    mf_free(&b);
}
END_TEST

/* ---- GGUF container errors ---- */

START_TEST(gguf_truncated_everywhere) {
    mf_gguf_options o;
    mf_gguf_options_init(&o);
    o.matrix_type = _i == 0 ? 0 : 8;
    mf_file f = build(&o);
    for (size_t n = 0; n < f.size; n++) {
        /* a fresh copy of exactly n bytes, so ASan sees any read past it */
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, f.data, n);
        ck_assert_msg(load_gguf(cut, n) == -1, "a file cut to %zu of %zu bytes loaded", n, f.size);
        free(cut);
    }
    mf_free(&f);
}
END_TEST

START_TEST(gguf_bad_magic_and_version) {
    mf_file f = build_default();
    f.data[0] = 'G', f.data[1] = 'G', f.data[2] = 'M', f.data[3] = 'L';
    expect_gguf_error(&f, "bad magic");
    memcpy(f.data, "GGUF", 4);
    mf_put_u32(f.data + f.off_version, 1);
    expect_gguf_error(&f, "version 1");
    mf_put_u32(f.data + f.off_version, 4);
    expect_gguf_error(&f, "unsupported GGUF version 4");
    mf_put_u32(f.data + f.off_version, 0x03000000u);
    expect_gguf_error(&f, "big-endian");
    mf_free(&f);
}
END_TEST

START_TEST(gguf_absurd_counts) {
    mf_file f = build_default();
    uint64_t counts[] = {UINT64_MAX, (uint64_t)1 << 62, 1000000};
    for (int i = 0; i < 3; i++) {
        mf_file g = build_default();
        mf_put_u64(g.data + g.off_n_kv, counts[i]);
        ck_assert_int_eq(load_gguf(g.data, g.size), -1);
        mf_free(&g);
        g = build_default();
        mf_put_u64(g.data + g.off_n_tensors, counts[i]);
        ck_assert_int_eq(load_gguf(g.data, g.size), -1);
        mf_free(&g);
    }
    /* a key whose length runs past the end, or wraps around */
    mf_put_u64(f.data + f.off_first_key, UINT64_MAX - 3);
    expect_gguf_error(&f, "exceeds");
    mf_put_u64(f.data + f.off_first_key, 0);
    expect_gguf_error(&f, "length 0");
    mf_free(&f);
    /* an array with more elements than bytes */
    f = build_default();
    mf_put_u64(f.data + f.off_tokens_array_len, (uint64_t)1 << 61);
    expect_gguf_error(&f, "more than the file can hold");
    mf_free(&f);
}
END_TEST

START_TEST(gguf_bad_value_types) {
    mf_file f = build_default();
    /* the first key is general.architecture (8 + 20 bytes), then its u32 type */
    size_t type_at = f.off_first_key + 8 + strlen("general.architecture");
    mf_put_u32(f.data + type_at, 13);
    expect_gguf_error(&f, "unknown value type 13");
    mf_put_u32(f.data + type_at, 9); /* array: element type = the string length's low word */
    ck_assert_int_eq(load_gguf(f.data, f.size), -1);
    mf_put_u32(f.data + type_at, 7); /* bool: its byte is the string length's low byte (5) */
    expect_gguf_error(&f, "neither 0 nor 1");
    mf_free(&f);
    /* tokens as an array of arrays */
    f = build_default();
    mf_put_u32(f.data + f.off_tokens_array_len - 4, 9);
    expect_gguf_error(&f, "nested arrays");
    mf_put_u32(f.data + f.off_tokens_array_len - 4, 77);
    expect_gguf_error(&f, "unknown element type");
    mf_free(&f);
}
END_TEST

START_TEST(gguf_bad_tensor_info) {
    struct {
        int field; /* 0 ndims, 1 type, 2 offset, 3 ne0 */
        uint64_t value;
        const char *msg;
    } cases[] = {
        {0, 0, "dimensions (must be 1..4)"},
        {0, 5, "dimensions (must be 1..4)"},
        {1, 2, "Q4_0"},
        {1, 99, "type unknown"},
        {2, UINT64_MAX - 31, "extends past the end"},
        {2, (uint64_t)1 << 63, "extends past the end"},
        {2, 4, "not a multiple of the alignment"},
        {3, 0, "dimension 0 is 0"},
        {3, (uint64_t)1 << 63, "dimension 0 is"},
        {3, (uint64_t)1 << 62, "overflows"},
        {3, 16, "has shape"}, /* a well-formed tensor of the wrong shape: caught by the model */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mf_file f = build_default();
        int t = 3; /* blk.0.attn_norm.weight: a 1-D F32 tensor */
        if (cases[k].field == 3) t = 4; /* blk.0.attn_q.weight: 2-D */
        if (cases[k].field == 3 && cases[k].value == 16) t = f.n_tensors - 1; /* shrinks in place */
        size_t at = cases[k].field == 0 ? f.off_tensor_ndims[t] : cases[k].field == 1 ? f.off_tensor_type[t]
                    : cases[k].field == 2 ? f.off_tensor_offset[t] : f.off_tensor_ne0[t];
        if (cases[k].field == 0 || cases[k].field == 1) mf_put_u32(f.data + at, (uint32_t)cases[k].value);
        else mf_put_u64(f.data + at, cases[k].value);
        if (cases[k].field == 3 && cases[k].value == (uint64_t)1 << 62) /* both dims huge */
            mf_put_u64(f.data + at + 8, (uint64_t)1 << 62);
        ck_assert_int_eq(load_gguf(f.data, f.size), -1);
        ck_assert_msg(strstr(err, cases[k].msg), "case %zu: '%s' lacks '%s'", k, err, cases[k].msg);
        mf_free(&f);
    }
}
END_TEST

START_TEST(gguf_overlap_and_duplicates) {
    mf_file f = build_default();
    /* the second tensor placed on the first */
    uint8_t first[8];
    memcpy(first, f.data + f.off_tensor_offset[0], 8);
    memcpy(f.data + f.off_tensor_offset[1], first, 8);
    expect_gguf_error(&f, "overlap");
    mf_free(&f);
    mf_gguf_options o;
    mf_gguf_options_init(&o);
    o.duplicate_key = 1;
    f = build(&o);
    expect_gguf_error(&f, "duplicate metadata key 'llama.block_count'");
    mf_free(&f);
    mf_gguf_options_init(&o);
    o.duplicate_tensor = 1;
    f = build(&o);
    expect_gguf_error(&f, "duplicate tensor name");
    mf_free(&f);
    mf_gguf_options_init(&o);
    o.alignment = 24;
    f = build(&o);
    expect_gguf_error(&f, "not a power of two");
    mf_free(&f);
}
END_TEST

/* ---- GGUF model-level errors ---- */

START_TEST(gguf_bad_model) {
    mf_gguf_options o;
    mf_gguf_options_init(&o);
    o.arch = "gpt2";
    mf_file f = build(&o);
    expect_gguf_error(&f, "architecture 'gpt2'");
    mf_free(&f);
    mf_gguf_options_init(&o);
    o.head_count = 3;
    f = build(&o);
    expect_gguf_error(&f, "not a multiple of head_count 3");
    mf_free(&f);
    mf_gguf_options_init(&o);
    o.drop_tensor = 1;
    f = build(&o);
    expect_gguf_error(&f, "missing tensor 'blk.1.attn_v.weight'");
    mf_free(&f);
    mf_gguf_options_init(&o);
    o.wrong_shape = 1;
    f = build(&o);
    expect_gguf_error(&f, "'blk.1.ffn_up.weight' has shape");
    mf_free(&f);
    for (uint32_t type = 0; type <= 1; type++) {
        mf_gguf_options_init(&o);
        o.nan_weight = 1;
        o.matrix_type = type;
        f = build(&o);
        expect_gguf_error(&f, "NaN");
        mf_free(&f);
    }
}
END_TEST

/* ---- llama2.c ---- */

static int load_bin(const uint8_t *data, size_t size) {
    llama_model *m = NULL;
    err[0] = 0;
    int rc = llama_model_load_llama2c(data, size, &m, err, sizeof err);
    if (rc) ck_assert_msg(m == NULL && err[0], "a failure must come with a message and no model");
    llama_model_free(m);
    return rc;
}

START_TEST(llama2c_valid_and_truncated) {
    for (int shared = 0; shared <= 1; shared++) {
        mf_file f;
        ck_assert_int_eq(mf_build_llama2c(shared, &f), 0);
        llama_model *m;
        ck_assert_msg(llama_model_load_llama2c(f.data, f.size, &m, err, sizeof err) == 0, "%s", err);
        check_weights(m, 0);
        ck_assert_int_eq(m->shared_classifier, shared);
        llama_model_free(m);
        /* every section boundary, one byte either side, and every header byte */
        for (size_t s = 0; s < f.n_sections; s++)
            for (int delta = -1; delta <= 1; delta++) {
                size_t n = f.section_end[s] + (size_t)delta;
                if (n >= f.size) continue;
                uint8_t *cut = malloc(n ? n : 1);
                memcpy(cut, f.data, n);
                ck_assert_int_eq(load_bin(cut, n), -1);
                free(cut);
            }
        for (size_t n = 0; n < 28; n++) ck_assert_int_eq(load_bin(f.data, n), -1);
        /* one byte too many */
        uint8_t *longer = malloc(f.size + 1);
        memcpy(longer, f.data, f.size);
        longer[f.size] = 0;
        ck_assert_int_eq(load_bin(longer, f.size + 1), -1);
        ck_assert_msg(strstr(err, "implies"), "%s", err);
        free(longer);
        mf_free(&f);
    }
}
END_TEST

START_TEST(llama2c_bad_header) {
    struct {
        int field;
        int32_t value;
        const char *msg;
    } cases[] = {
        {0, 0, "dim = 0"},          {0, -32, "dim = -32"},       {0, 1 << 30, "outside"},
        {2, 0, "n_layers = 0"},     {3, 5, "not a multiple of n_heads"},
        {4, 3, "not a multiple of 3 kv heads"},                  {5, INT32_MIN, "vocab_size = 0"},
        {6, -1, "seq_len = -1"},    {0, 0x616b3432, "versioned export"},
        {1, 1 << 20, "implies"},    {6, 1 << 24, "implies"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        mf_file f;
        ck_assert_int_eq(mf_build_llama2c(1, &f), 0);
        mf_put_u32(f.data + 4 * cases[k].field, (uint32_t)cases[k].value);
        ck_assert_int_eq(load_bin(f.data, f.size), -1);
        ck_assert_msg(strstr(err, cases[k].msg), "case %zu: '%s' lacks '%s'", k, err, cases[k].msg);
        mf_free(&f);
    }
}
END_TEST

/* ---- tokenizer ---- */

START_TEST(tokenizer_files) {
    mf_file f;
    ck_assert_int_eq(mf_build_tokenizer(&f), 0);
    tokenizer *t;
    ck_assert_msg(tokenizer_load_llama2c(f.data, f.size, MF_VOCAB, &t, err, sizeof err) == 0, "%s", err);
    int32_t *ids;
    int n;
    ck_assert_int_eq(tokenizer_encode(t, "the ab", 1, 1, &ids, &n, err, sizeof err), 0);
    /* BOS, " the" (" a", " ab", "th", " th", " the" merge in score order), " ab", EOS */
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(ids[0], 1);
    ck_assert_str_eq(tokenizer_piece(t, ids[1]), " the");
    ck_assert_str_eq(tokenizer_piece(t, ids[2]), " ab");
    ck_assert_int_eq(ids[3], 2);
    free(ids);
    /* a character with no piece and no byte pieces: <unk> for each of its bytes */
    ck_assert_int_eq(tokenizer_encode(t, "\xc3\xa9", 0, 0, &ids, &n, err, sizeof err), 0);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(ids[1], 0);
    ck_assert_int_eq(ids[2], 0);
    free(ids);
    tokenizer_free(t);
    /* bad files */
    ck_assert_int_eq(tokenizer_load_llama2c(f.data, f.size, MF_VOCAB + 1, &t, err, sizeof err), -1);
    ck_assert_int_eq(tokenizer_load_llama2c(f.data, f.size, MF_VOCAB - 1, &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "bytes left"), "%s", err);
    for (size_t n_cut = 0; n_cut < f.size; n_cut++) {
        uint8_t *cut = malloc(n_cut ? n_cut : 1);
        memcpy(cut, f.data, n_cut);
        ck_assert_int_eq(tokenizer_load_llama2c(cut, n_cut, MF_VOCAB, &t, err, sizeof err), -1);
        ck_assert_ptr_null(t);
        free(cut);
    }
    mf_put_u32(f.data, 0);
    ck_assert_int_eq(tokenizer_load_llama2c(f.data, f.size, MF_VOCAB, &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "max_token_length"), "%s", err);
    mf_put_u32(f.data, 5);
    mf_put_u32(f.data + 4 + 4, (uint32_t)-7); /* the first piece's length */
    ck_assert_int_eq(tokenizer_load_llama2c(f.data, f.size, MF_VOCAB, &t, err, sizeof err), -1);
    ck_assert_msg(strstr(err, "length -7"), "%s", err);
    mf_put_u32(f.data + 4 + 4, 6); /* longer than max_token_length 5 */
    ck_assert_int_eq(tokenizer_load_llama2c(f.data, f.size, MF_VOCAB, &t, err, sizeof err), -1);
    mf_put_u32(f.data + 4 + 4, 5);
    mf_put_u32(f.data + 4, 0x7fc00000u); /* a NaN score */
    ck_assert_int_eq(tokenizer_load_llama2c(f.data, f.size, MF_VOCAB, &t, err, sizeof err), -1);
    mf_free(&f);
}
END_TEST

/* ---- the real files, when the shared directory is there ---- */

static int read_shared(const char *name, uint8_t **data, size_t *size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/models/%s", KVP_SHARED_DIR, name);
    return read_file(path, (size_t)1 << 30, data, size, err, sizeof err);
}

START_TEST(real_files_truncated) {
    uint8_t *g, *b;
    size_t gs, bs;
    ck_assert_msg(read_shared("stories260K.gguf", &g, &gs) == 0, "%s", err);
    ck_assert_msg(read_shared("stories260K.bin", &b, &bs) == 0, "%s", err);
    ck_assert_int_eq(load_gguf(g, gs), 0);
    ck_assert_int_eq(load_bin(b, bs), 0);
    /* every byte of the GGUF header and tokenizer (~14 KB), then a stride through the data */
    for (size_t n = 0; n < gs; n += n < 16384 ? 1 : 4099) {
        uint8_t *cut = malloc(n ? n : 1);
        memcpy(cut, g, n);
        ck_assert_msg(load_gguf(cut, n) == -1, "GGUF cut at %zu loaded", n);
        free(cut);
    }
    for (size_t n = 0; n < bs; n += n < 64 ? 1 : 4093)
        ck_assert_msg(load_bin(b, n) == -1, "llama2.c file cut at %zu loaded", n);
    free(g);
    free(b);
}
END_TEST

int main(void) {
    Suite *s = suite_create("loaders");
    TCase *tc = tcase_create("gguf");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, gguf_valid_types);
    tcase_add_test(tc, gguf_tied_classifier_and_alignment);
    tcase_add_test(tc, gguf_and_llama2c_agree);
    tcase_add_loop_test(tc, gguf_truncated_everywhere, 0, 2);
    tcase_add_test(tc, gguf_bad_magic_and_version);
    tcase_add_test(tc, gguf_absurd_counts);
    tcase_add_test(tc, gguf_bad_value_types);
    tcase_add_test(tc, gguf_bad_tensor_info);
    tcase_add_test(tc, gguf_overlap_and_duplicates);
    tcase_add_test(tc, gguf_bad_model);
    suite_add_tcase(s, tc);
    tc = tcase_create("llama2c");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, llama2c_valid_and_truncated);
    tcase_add_test(tc, llama2c_bad_header);
    tcase_add_test(tc, tokenizer_files);
    suite_add_tcase(s, tc);
    /* The real models are only there beside a checkout with the shared directory. */
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/models/stories260K.gguf", KVP_SHARED_DIR);
    FILE *f = fopen(probe, "rb");
    if (f) {
        fclose(f);
        tc = tcase_create("real");
        tcase_set_timeout(tc, 300);
        tcase_add_test(tc, real_files_truncated);
        suite_add_tcase(s, tc);
    } else {
        printf("note: %s absent, the real-file truncation test is left out\n", probe);
    }
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
