/* kvpress-tool calibrate: CompressKV's two offline procedures on a model run by the reference
 * runner (COMPRESSKV.md 5.3 and 5.4), shared between the driver (calibrate.c) and the
 * procedures (calibrate_heads.c: semantic-retrieval heads; calibrate_profile.c: the layer
 * eviction-error profile). */
#ifndef KVP_TOOL_CALIBRATE_H
#define KVP_TOOL_CALIBRATE_H

#include <stddef.h>
#include <stdint.h>

#include "model/model.h"

#define CALIB_MAX_LIST 32

/* What both procedures run on. Each draws its prompts from its own part of the held-out text:
 * the heads' haystacks from text[0, heads_tokens), the profile's prompts after that, so either
 * stage alone uses the same prompts as a run of both. */
typedef struct calib_env {
    const llama_model *model;
    const tokenizer *tok;
    kvp_context *ctx;          /* the device the runners use */
    const int32_t *text;       /* text tokens, without BOS */
    int n_text;
    int heads_tokens;          /* tokens of text reserved for procedure A's haystacks */
    int verbose;
} calib_env;

/* Helpers the procedures and the driver share. */
int calibrate_argmax(const float *x, int n);   /* greedy decoding: first of the largest */
const char *calibrate_base_name(const char *path);

/* ---- procedure A: semantic-retrieval heads ---------------------------------------------- */

typedef struct heads_options {
    int lengths[CALIB_MAX_LIST];  /* context lengths in tokens (BOS + haystack + needle) */
    int n_lengths;
    int n_depths;                 /* needle depths spread evenly over 0..100 % */
    int greedy;                   /* 0: the answer is fed (teacher forcing); 1: generated */
    int multiplicity;             /* 1: weigh a step by the count of its token in the span */
    int max_new_tokens;           /* greedy decoding only */
} heads_options;

typedef struct heads_result {
    float *scores;   /* [L, Hq] mean span mass per head over the counted trials */
    float *ranking;  /* [L, Hq] heads by decreasing score (ties: lower index) */
    int trials, counted;
} heads_result;

/* The text tokens procedure A needs (its haystacks). */
int calibrate_heads_text_tokens(const heads_options *o);
int calibrate_heads(const calib_env *env, const heads_options *o, heads_result *out, char *err,
                    size_t err_size);
void heads_result_free(heads_result *r);
/* ROUGE-1 recall: the share of the answer's words found in the response, words being
 * lowercased alphanumeric runs and each response word matching once (the reference also
 * Porter-stems). */
double calibrate_rouge1_recall(const char *answer, const char *response);
/* A description of the needles, for the artefact's metadata. */
const char *calibrate_needles_text(void);

/* ---- procedure B: the layer eviction-error profile --------------------------------------- */

typedef struct profile_options {
    int lengths[CALIB_MAX_LIST];  /* prompt length of each group, in tokens (BOS included) */
    int n_groups;
    int prompts;                  /* prompts per group */
    int generate;                 /* greedy tokens generated per prompt */
    int budget;                   /* tokens every layer keeps in the simulation */
    int window, kernel, selection_heads;  /* the CompressKV selection of the simulation */
    double epsilon;               /* in the relative error's denominator */
} profile_options;

typedef struct profile_result {
    float *errors;   /* [n_groups, L] summed relative errors */
    float *profile;  /* [L] normalised per group, averaged, normalised */
    int steps;       /* decode steps measured */
} profile_result;

int calibrate_profile(const calib_env *env, const float *ranking, const profile_options *o,
                      profile_result *out, char *err, size_t err_size);
void profile_result_free(profile_result *r);

/* ---- the reference repository's files (calibrate_convert.c) ------------------------------ */

/* Writes an artefact from a <model>_head_idx.json and, when scores_path is not NULL, the
 * "avg_score" of a <model>_layer_score.jsonl; n_kv_heads > 0 is recorded for the check. */
int calibrate_convert(const char *heads_path, const char *scores_path, int n_kv_heads,
                      const char *out, char *err, size_t err_size);

/* ---- the artefact (calibrate_artefact.c) ------------------------------------------------- */

/* Adds the format, n_kv_heads, the ranking and (when not NULL) the profile to a writer. */
struct st_writer;
int calibrate_add_tensors(struct st_writer *w, const llama_model *model, const float *ranking,
                          const float *profile, char *err, size_t err_size);
/* An in-memory CompressKV artefact holding the ranking (and the profile when not NULL). */
kvp_artefact *calibrate_make_artefact(const llama_model *model, const float *ranking,
                                      const float *profile, char *err, size_t err_size);

#endif
