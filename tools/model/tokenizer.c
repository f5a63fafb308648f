/* Score-based BPE with byte fallback (see tokenizer.h).
 *
 * The merge loop of the reference (llama2.c) rescans every adjacent pair after each merge,
 * which is quadratic in the text length. Here the candidate pairs sit in a max-heap ordered
 * by (score, then leftmost position) over a linked list of tokens, with stale entries
 * skipped when popped: the sequence of merges is the same, in n log n. */
#include "tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* The reference only merges pairs scoring above this. */
#define MERGE_SCORE_FLOOR -1e10f

struct tokenizer {
    int vocab_size;
    char *text;          /* every piece, NUL-terminated, back to back */
    size_t *offsets;     /* [vocab_size] start of each piece in text */
    uint32_t *lengths;   /* [vocab_size] */
    float *scores;       /* [vocab_size] */
    uint8_t *types;      /* [vocab_size] TOKEN_* */
    int *sorted;         /* ids sorted by (piece bytes, id), for lookups */
    uint32_t max_len;
    int unk_id, bos_id, eos_id;
    int byte_token[256]; /* id of <0xXX>, or -1 */
    int space_token;     /* id of " ", or -1 */
    char byte_text[512]; /* byte b as a one-byte string at 2b */
};

static int set_err(char *err, size_t err_size, const char *msg, long long a, long long b) {
    if (err && err_size) snprintf(err, err_size, msg, a, b);
    return -1;
}

static int piece_cmp(const tokenizer *t, const char *s, size_t len, int id) {
    size_t l2 = t->lengths[id];
    int c = memcmp(s, t->text + t->offsets[id], len < l2 ? len : l2);
    if (c) return c;
    return (len > l2) - (len < l2);
}

/* A piece with its id, for sorting the vocabulary (qsort has no context argument). */
typedef struct sort_entry {
    const char *s;
    uint32_t len;
    int id;
} sort_entry;

static int cmp_entries(const void *a, const void *b) {
    const sort_entry *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    if (!c) c = (x->len > y->len) - (x->len < y->len);
    return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* The lowest id whose piece is exactly s[0:len], or -1. */
static int lookup(const tokenizer *t, const char *s, size_t len) {
    int lo = 0, hi = t->vocab_size; /* first index with piece >= s */
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (piece_cmp(t, s, len, t->sorted[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < t->vocab_size && piece_cmp(t, s, len, t->sorted[lo]) == 0) return t->sorted[lo];
    return -1;
}

/* "<0xAB>" -> 0xAB, or -1. */
static int byte_piece_value(const char *s, size_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
                : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

int tokenizer_create(int vocab_size, const char *const *pieces, const uint32_t *lengths,
                     const float *scores, const int32_t *types, int unk_id, int bos_id, int eos_id,
                     tokenizer **out, char *err, size_t err_size) {
    *out = NULL;
    if (vocab_size <= 0 || vocab_size > (1 << 24))
        return set_err(err, err_size, "tokenizer: vocabulary size %lld outside [1, 2^24]", vocab_size, 0);
    int ids[3] = {unk_id, bos_id, eos_id};
    for (int i = 0; i < 3; i++)
        if (ids[i] < -1 || ids[i] >= vocab_size)
            return set_err(err, err_size, "tokenizer: special token id %lld outside the vocabulary of %lld",
                           ids[i], vocab_size);
    size_t total = 0;
    for (int i = 0; i < vocab_size; i++) {
        if (lengths[i] > 1024)
            return set_err(err, err_size, "tokenizer: piece %lld is %lld bytes long (limit 1024)", i, lengths[i]);
        if (memchr(pieces[i], 0, lengths[i]))
            return set_err(err, err_size, "tokenizer: piece %lld contains a NUL byte", i, 0);
        if (!isfinite(scores[i]))
            return set_err(err, err_size, "tokenizer: piece %lld has a score that is not finite", i, 0);
        total += (size_t)lengths[i] + 1;
    }
    tokenizer *t = calloc(1, sizeof *t);
    if (!t) return set_err(err, err_size, "tokenizer: out of memory", 0, 0);
    t->vocab_size = vocab_size;
    t->text = malloc(total);
    t->offsets = malloc(sizeof *t->offsets * (size_t)vocab_size);
    t->lengths = malloc(sizeof *t->lengths * (size_t)vocab_size);
    t->scores = malloc(sizeof *t->scores * (size_t)vocab_size);
    t->types = malloc((size_t)vocab_size);
    t->sorted = malloc(sizeof *t->sorted * (size_t)vocab_size);
    if (!t->text || !t->offsets || !t->lengths || !t->scores || !t->types || !t->sorted) {
        tokenizer_free(t);
        return set_err(err, err_size, "tokenizer: out of memory", 0, 0);
    }
    t->unk_id = unk_id;
    t->bos_id = bos_id;
    t->eos_id = eos_id;
    for (int b = 0; b < 256; b++) {
        t->byte_token[b] = -1;
        t->byte_text[2 * b] = (char)b;
        t->byte_text[2 * b + 1] = 0;
    }
    size_t pos = 0;
    for (int i = 0; i < vocab_size; i++) {
        t->offsets[i] = pos;
        memcpy(t->text + pos, pieces[i], lengths[i]);
        t->text[pos + lengths[i]] = 0;
        pos += (size_t)lengths[i] + 1;
        t->lengths[i] = lengths[i];
        if (lengths[i] > t->max_len) t->max_len = lengths[i];
        t->scores[i] = scores[i];
        int bv = byte_piece_value(pieces[i], lengths[i]);
        if (types) {
            t->types[i] = (uint8_t)(types[i] >= 1 && types[i] <= 6 ? types[i] : TOKEN_NORMAL);
        } else {
            t->types[i] = i == unk_id ? TOKEN_UNKNOWN
                          : (i == bos_id || i == eos_id) ? TOKEN_CONTROL
                          : bv >= 0 ? TOKEN_BYTE : TOKEN_NORMAL;
        }
        if (bv >= 0 && t->byte_token[bv] < 0) t->byte_token[bv] = i;
    }
    sort_entry *entries = malloc(sizeof *entries * (size_t)vocab_size);
    if (!entries) {
        tokenizer_free(t);
        return set_err(err, err_size, "tokenizer: out of memory", 0, 0);
    }
    for (int i = 0; i < vocab_size; i++)
        entries[i] = (sort_entry){t->text + t->offsets[i], t->lengths[i], i};
    qsort(entries, (size_t)vocab_size, sizeof *entries, cmp_entries);
    for (int i = 0; i < vocab_size; i++) t->sorted[i] = entries[i].id;
    free(entries);
    t->space_token = lookup(t, " ", 1);
    *out = t;
    return 0;
}

void tokenizer_free(tokenizer *t) {
    if (!t) return;
    free(t->text);
    free(t->offsets);
    free(t->lengths);
    free(t->scores);
    free(t->types);
    free(t->sorted);
    free(t);
}

int tokenizer_load_llama2c(const uint8_t *data, size_t size, int vocab_size, tokenizer **out,
                           char *err, size_t err_size) {
    *out = NULL;
    if (vocab_size <= 0 || vocab_size > (1 << 24))
        return set_err(err, err_size, "tokenizer: vocabulary size %lld outside [1, 2^24]", vocab_size, 0);
    if (size < 4) return set_err(err, err_size, "tokenizer: file truncated (%lld bytes, no header)", (long long)size, 0);
    int32_t max_len;
    memcpy(&max_len, data, 4);
    if (max_len <= 0 || max_len > 1024)
        return set_err(err, err_size, "tokenizer: max_token_length %lld outside [1, 1024]", max_len, 0);
    const char **pieces = malloc(sizeof *pieces * (size_t)vocab_size);
    uint32_t *lengths = malloc(sizeof *lengths * (size_t)vocab_size);
    float *scores = malloc(sizeof *scores * (size_t)vocab_size);
    int rc = -1;
    if (!pieces || !lengths || !scores) {
        set_err(err, err_size, "tokenizer: out of memory", 0, 0);
        goto done;
    }
    size_t pos = 4;
    for (int i = 0; i < vocab_size; i++) {
        if (size - pos < 8) {
            set_err(err, err_size, "tokenizer: file truncated at piece %lld of %lld", i, vocab_size);
            goto done;
        }
        int32_t len;
        memcpy(&scores[i], data + pos, 4);
        memcpy(&len, data + pos + 4, 4);
        pos += 8;
        if (len < 0 || len > max_len) {
            set_err(err, err_size, "tokenizer: piece %lld has length %lld (outside [0, max_token_length])", i, len);
            goto done;
        }
        if (size - pos < (size_t)len) {
            set_err(err, err_size, "tokenizer: file truncated in piece %lld of %lld", i, vocab_size);
            goto done;
        }
        pieces[i] = (const char *)data + pos;
        lengths[i] = (uint32_t)len;
        pos += (size_t)len;
    }
    if (pos != size) {
        set_err(err, err_size, "tokenizer: %lld bytes left after %lld pieces (wrong vocabulary size?)",
                (long long)(size - pos), vocab_size);
        goto done;
    }
    /* llama2.c's convention: 0 <unk>, 1 BOS, 2 EOS. */
    rc = tokenizer_create(vocab_size, pieces, lengths, scores, NULL, 0, vocab_size > 1 ? 1 : -1,
                          vocab_size > 2 ? 2 : -1, out, err, err_size);
done:
    free(pieces);
    free(lengths);
    free(scores);
    return rc;
}

int tokenizer_load_llama2c_file(const char *path, int vocab_size, tokenizer **out, char *err,
                                size_t err_size) {
    uint8_t *data;
    size_t size;
    *out = NULL;
    if (read_file(path, (size_t)1 << 30, &data, &size, err, err_size)) return -1;
    int rc = tokenizer_load_llama2c(data, size, vocab_size, out, err, err_size);
    free(data);
    if (rc && err && err_size) {
        char tmp[320];
        snprintf(tmp, sizeof tmp, "%s", err);
        snprintf(err, err_size, "%s: %s", path, tmp);
    }
    return rc;
}

int tokenizer_vocab_size(const tokenizer *t) { return t->vocab_size; }
int tokenizer_bos(const tokenizer *t) { return t->bos_id; }
int tokenizer_eos(const tokenizer *t) { return t->eos_id; }

const char *tokenizer_piece(const tokenizer *t, int token) {
    return token >= 0 && token < t->vocab_size ? t->text + t->offsets[token] : NULL;
}

size_t tokenizer_decode(const tokenizer *t, int prev, int token, const char **bytes) {
    *bytes = "";
    if (token < 0 || token >= t->vocab_size || t->types[token] == TOKEN_CONTROL) return 0;
    const char *s = t->text + t->offsets[token];
    size_t len = t->lengths[token];
    int bv = byte_piece_value(s, len);
    if (bv >= 0) {
        *bytes = &t->byte_text[2 * bv];
        return 1;
    }
    /* SentencePiece drops the dummy-prefix space of the first word. */
    if (prev == t->bos_id && len > 0 && s[0] == ' ') {
        s++;
        len--;
    }
    *bytes = s;
    return len;
}

/* ---- encoding ------------------------------------------------------------------------------ */

typedef struct merge {
    float score;
    int left, right;   /* node indices; the pair is valid while both keep their versions */
    unsigned vl, vr;
    int id;            /* the merged token */
} merge;

typedef struct merge_heap {
    merge *items;
    size_t count, cap;
} merge_heap;

/* a ranks before b: higher score, then further left. */
static int before(const merge *a, const merge *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static int heap_push(merge_heap *h, merge m) {
    if (h->count == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        merge *ni = realloc(h->items, sizeof *ni * ncap);
        if (!ni) return -1;
        h->items = ni;
        h->cap = ncap;
    }
    size_t i = h->count++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(&m, &h->items[parent])) break;
        h->items[i] = h->items[parent];
        i = parent;
    }
    h->items[i] = m;
    return 0;
}

static merge heap_pop(merge_heap *h) {
    merge top = h->items[0], last = h->items[--h->count];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->count) break;
        if (c + 1 < h->count && before(&h->items[c + 1], &h->items[c])) c++;
        if (!before(&h->items[c], &last)) break;
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->count) h->items[i] = last;
    return top;
}

typedef struct encode_state {
    const tokenizer *t;
    int32_t *tok;
    int *next, *prev;
    unsigned *version;
    char *joined;      /* room for two pieces */
    merge_heap heap;
} encode_state;

/* Queues the pair (a, b) if their joined piece is in the vocabulary. */
static int consider(encode_state *s, int a, int b) {
    if (a < 0 || b < 0) return 0;
    const tokenizer *t = s->t;
    uint32_t la = t->lengths[s->tok[a]], lb = t->lengths[s->tok[b]];
    memcpy(s->joined, t->text + t->offsets[s->tok[a]], la);
    memcpy(s->joined + la, t->text + t->offsets[s->tok[b]], lb);
    int id = lookup(t, s->joined, (size_t)la + lb);
    if (id < 0 || !(t->scores[id] > MERGE_SCORE_FLOOR)) return 0;
    merge m = {t->scores[id], a, b, s->version[a], s->version[b], id};
    return heap_push(&s->heap, m);
}

int tokenizer_encode(const tokenizer *t, const char *text, int add_bos, int add_eos,
                     int32_t **tokens, int *n_tokens, char *err, size_t err_size) {
    *tokens = NULL;
    *n_tokens = 0;
    size_t text_len = strlen(text);
    if (text_len > (size_t)1 << 28) return set_err(err, err_size, "tokenizer: text too long", 0, 0);
    size_t cap = text_len + 3;
    encode_state s = {.t = t};
    s.tok = malloc(sizeof *s.tok * cap);
    s.next = malloc(sizeof *s.next * cap);
    s.prev = malloc(sizeof *s.prev * cap);
    s.version = calloc(cap, sizeof *s.version);
    s.joined = malloc(2 * (size_t)t->max_len + 1);
    int32_t *result = NULL;
    int rc = -1, n = 0;
    if (!s.tok || !s.next || !s.prev || !s.version || !s.joined) goto oom;

    /* Characters (up to 4 bytes of UTF-8) become pieces, or their bytes. */
    if (text_len > 0 && t->space_token >= 0) s.tok[n++] = t->space_token;
    char cp[5];
    size_t cp_len = 0;
    for (size_t i = 0; i < text_len; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((c & 0xC0) != 0x80) cp_len = 0;
        cp[cp_len++] = (char)c;
        unsigned char nx = i + 1 < text_len ? (unsigned char)text[i + 1] : 0;
        if ((nx & 0xC0) == 0x80 && cp_len < 4) continue;
        int id = lookup(t, cp, cp_len);
        if (id >= 0) {
            s.tok[n++] = id;
        } else {
            for (size_t k = 0; k < cp_len; k++) {
                int b = t->byte_token[(unsigned char)cp[k]];
                s.tok[n++] = b >= 0 ? b : (t->unk_id >= 0 ? t->unk_id : 0);
            }
        }
        cp_len = 0;
    }
    for (int i = 0; i < n; i++) {
        s.prev[i] = i - 1;
        s.next[i] = i + 1 < n ? i + 1 : -1;
    }
    for (int i = 0; i + 1 < n; i++)
        if (consider(&s, i, i + 1)) goto oom;
    while (s.heap.count) {
        merge m = heap_pop(&s.heap);
        if (s.version[m.left] != m.vl || s.version[m.right] != m.vr || s.next[m.left] != m.right)
            continue; /* one side changed since this pair was queued */
        int a = m.left, b = m.right;
        s.tok[a] = m.id;
        s.version[a]++;
        s.version[b]++;
        s.next[a] = s.next[b];
        if (s.next[b] >= 0) s.prev[s.next[b]] = a;
        s.next[b] = s.prev[b] = -1;
        if (consider(&s, s.prev[a], a) || consider(&s, a, s.next[a])) goto oom;
    }
    result = malloc(sizeof *result * cap);
    if (!result) goto oom;
    int count = 0;
    if (add_bos && t->bos_id >= 0) result[count++] = t->bos_id;
    for (int i = n > 0 ? 0 : -1; i >= 0; i = s.next[i]) result[count++] = s.tok[i];
    if (add_eos && t->eos_id >= 0) result[count++] = t->eos_id;
    *tokens = result;
    *n_tokens = count;
    rc = 0;
    goto done;
oom:
    set_err(err, err_size, "tokenizer: out of memory", 0, 0);
done:
    free(s.tok);
    free(s.next);
    free(s.prev);
    free(s.version);
    free(s.joined);
    free(s.heap.items);
    return rc;
}
