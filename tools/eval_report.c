/* kvpress-tool eval's outputs: the table, JSON (the shape of reference_public.json), CSV, an
 * SVG plot of NLL against compression ratio, and the comparison with a reference file. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval.h"
#include "kvpress/kvpress.h"

/* The reference's entry for a task and key: 1 with *nll set, 0 when it holds an error,
 * -1 when absent. */
static int reference_nll(const kvp_json *ref, eval_task task, const char *key, double *nll) {
    const kvp_json *e = kvp__json_get(kvp__json_get(kvp__json_get(ref, "results"), eval_task_name(task)), key);
    if (!e) return -1;
    const kvp_json *v = kvp__json_get(e, "nll");
    if (v && v->kind == KVP_JSON_NUMBER && isfinite(v->number)) {
        *nll = v->number;
        return 1;
    }
    return 0;
}

/* Distinct entries (after none) and ratios, in suite order. */
typedef struct layout {
    int n_entries, n_ratios;
    const char *entries[256];
    double ratios[64];
} layout;

static void make_layout(const eval_data *d, layout *lo) {
    memset(lo, 0, sizeof *lo);
    for (int c = 1; c < d->n_configs; c++) {
        int found = 0;
        for (int e = 0; e < lo->n_entries && !found; e++) found = !strcmp(lo->entries[e], d->configs[c].entry);
        if (!found && lo->n_entries < 256) lo->entries[lo->n_entries++] = d->configs[c].entry;
        found = 0;
        for (int r = 0; r < lo->n_ratios && !found; r++) found = lo->ratios[r] == d->configs[c].ratio;
        if (!found && lo->n_ratios < 64) lo->ratios[lo->n_ratios++] = d->configs[c].ratio;
    }
}

static int find_config(const eval_data *d, const char *entry, double ratio) {
    for (int c = 1; c < d->n_configs; c++)
        if (!strcmp(d->configs[c].entry, entry) && d->configs[c].ratio == ratio) return c;
    return -1;
}

static void print_cell(const eval_data *d, int c, eval_task task, const kvp_json *ref) {
    if (c < 0) {
        printf(" %-18s", "");
        return;
    }
    char cell[64];
    if (d->errors[c][0]) {
        snprintf(cell, sizeof cell, "error");
    } else {
        double mine = eval_mean_nll(d, c, task), r = 0;
        int have = ref ? reference_nll(ref, task, d->configs[c].key, &r) : -1;
        if (have == 1)
            snprintf(cell, sizeof cell, "%.4f %+.4f%s", mine, mine - r,
                     fabs(mine - r) > d->tolerance ? "!" : "");
        else if (have == 0)
            snprintf(cell, sizeof cell, "%.4f (ref err)", mine);
        else
            snprintf(cell, sizeof cell, "%.4f", mine);
    }
    printf(" %-18s", cell);
}

void eval_print_table(const eval_data *d, const kvp_json *ref) {
    layout lo;
    make_layout(d, &lo);
    for (int t = 0; t < d->n_tasks; t++) {
        eval_task task = d->tasks[t];
        printf("task %s: mean NLL (nats/token) over %d windows%s\n", eval_task_name(task),
               d->n_windows, ref ? "; difference to the reference, '!' beyond the tolerance" : "");
        printf("%-28s", "press");
        for (int r = 0; r < lo.n_ratios; r++) {
            char rs[32], head[40];
            eval_format_ratio(lo.ratios[r], rs, sizeof rs);
            snprintf(head, sizeof head, "r = %s", rs);
            printf(" %-18s", head);
        }
        printf("\n%-28s", "none (no compression)");
        print_cell(d, 0, task, ref);
        printf("\n");
        for (int e = 0; e < lo.n_entries; e++) {
            printf("%-28s", lo.entries[e]);
            for (int r = 0; r < lo.n_ratios; r++) print_cell(d, find_config(d, lo.entries[e], lo.ratios[r]), task, ref);
            printf("\n");
        }
        printf("\n");
    }
    for (int c = 0; c < d->n_configs; c++)
        if (d->errors[c][0]) printf("%s: %s\n", d->configs[c].key, d->errors[c]);
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch == '\n') fputs("\\n", f);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static FILE *open_out(const char *path) {
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "kvpress-tool eval: cannot write %s\n", path);
    return f;
}

static int close_out(FILE *f, const char *path) {
    if (ferror(f) | fclose(f)) {
        fprintf(stderr, "kvpress-tool eval: error writing %s\n", path);
        return -1;
    }
    return 0;
}

int eval_write_json(const eval_data *d, const char *path, const char *model, const char *backend) {
    FILE *f = open_out(path);
    if (!f) return -1;
    fprintf(f, "{\n \"generator\": \"kvpress-tool eval, libkvpress %s\",\n \"model\": ", kvp_version_string());
    json_string(f, model);
    fprintf(f, ",\n \"backend\": ");
    json_string(f, backend);
    fprintf(f, ",\n \"windows\": %d,\n \"results\": {", d->n_windows);
    for (int t = 0; t < d->n_tasks; t++) {
        eval_task task = d->tasks[t];
        fprintf(f, "%s\n  \"%s\": {", t ? "," : "", eval_task_name(task));
        for (int c = 0; c < d->n_configs; c++) {
            fprintf(f, "%s\n   ", c ? "," : "");
            json_string(f, d->configs[c].key);
            if (d->errors[c][0]) {
                fprintf(f, ": {\"error\": ");
                json_string(f, d->errors[c]);
                fprintf(f, "}");
                continue;
            }
            fprintf(f, ": {\"nll\": %.17g, \"kept_per_layer\": [", eval_mean_nll(d, c, task));
            for (int l = 0; l < d->n_layers; l++)
                fprintf(f, "%s%.17g", l ? ", " : "",
                        d->kept[(size_t)c * (size_t)d->n_layers + (size_t)l] / d->n_windows);
            fprintf(f, "]}");
        }
        fprintf(f, "\n  }");
    }
    fprintf(f, "\n }\n}\n");
    return close_out(f, path);
}

int eval_write_csv(const eval_data *d, const char *path, const kvp_json *ref) {
    FILE *f = open_out(path);
    if (!f) return -1;
    fprintf(f, "task,key,press,ratio,nll,kept_mean,reference_nll,difference,error\n");
    for (int t = 0; t < d->n_tasks; t++) {
        eval_task task = d->tasks[t];
        for (int c = 0; c < d->n_configs; c++) {
            const eval_config *cf = &d->configs[c];
            double kept = 0;
            for (int l = 0; l < d->n_layers; l++) kept += d->kept[(size_t)c * (size_t)d->n_layers + (size_t)l];
            kept /= (double)d->n_layers * d->n_windows;
            char rs[32];
            eval_format_ratio(cf->ratio, rs, sizeof rs);
            fprintf(f, "%s,%s,%s,%s,", eval_task_name(task), cf->key, cf->entry, rs);
            double r = 0;
            int have = ref ? reference_nll(ref, task, cf->key, &r) : -1;
            if (d->errors[c][0]) {
                /* CSV: quote the message, doubling quotes. */
                fprintf(f, ",,%s,,\"", have == 1 ? "" : "");
                for (const char *s = d->errors[c]; *s; s++) {
                    if (*s == '"') fputc('"', f);
                    fputc(*s == '\n' ? ' ' : *s, f);
                }
                fprintf(f, "\"\n");
                continue;
            }
            double mine = eval_mean_nll(d, c, task);
            fprintf(f, "%.6f,%.2f,", mine, kept);
            if (have == 1) fprintf(f, "%.6f,%+.6f,\n", r, mine - r);
            else fprintf(f, ",,%s\n", have == 0 ? "\"reference failed\"" : "");
        }
    }
    return close_out(f, path);
}

/* ---- SVG ----------------------------------------------------------------------------------- */

static const char *const palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                      "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
                                      "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173"};
#define PALETTE_SIZE (int)(sizeof palette / sizeof palette[0])

static void svg_text(FILE *f, double x, double y, const char *anchor, int size, const char *text) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\">", x, y, anchor, size);
    for (const char *s = text; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
    fputs("</text>\n", f);
}

int eval_write_svg(const eval_data *d, const char *path, const char *title) {
    layout lo;
    make_layout(d, &lo);
    const double panel_w = 420, panel_h = 320, left = 70, top = 50, gap = 90, legend_w = 230;
    double width = left + d->n_tasks * panel_w + (d->n_tasks - 1) * gap + 40 + legend_w;
    double height = top + panel_h + 70;
    double xmax = 0;
    for (int r = 0; r < lo.n_ratios; r++) xmax = fmax(xmax, lo.ratios[r]);
    xmax = xmax > 0 ? xmax : 1;
    FILE *f = open_out(path);
    if (!f) return -1;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height, width, height);
    char buf[512];
    snprintf(buf, sizeof buf, "NLL vs compression ratio: %s, %d windows", title, d->n_windows);
    svg_text(f, width / 2, 24, "middle", 16, buf);
    for (int t = 0; t < d->n_tasks; t++) {
        eval_task task = d->tasks[t];
        double x0 = left + t * (panel_w + gap), y0 = top;
        /* y range over everything plotted in this panel */
        double ymin = INFINITY, ymax = -INFINITY;
        for (int c = 0; c < d->n_configs; c++) {
            double v = eval_mean_nll(d, c, task);
            if (isfinite(v)) {
                ymin = fmin(ymin, v);
                ymax = fmax(ymax, v);
            }
        }
        if (!isfinite(ymin)) ymin = 0, ymax = 1;
        double pad = fmax((ymax - ymin) * 0.08, 0.01);
        ymin -= pad;
        ymax += pad;
#define PX(x) (x0 + (x) / xmax * panel_w)
#define PY(y) (y0 + panel_h - ((y) - ymin) / (ymax - ymin) * panel_h)
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
                   "stroke=\"#444\"/>\n", x0, y0, panel_w, panel_h);
        for (int k = 0; k <= 5; k++) {
            double yv = ymin + (ymax - ymin) * k / 5, xv = xmax * k / 5;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n",
                    x0, PY(yv), x0 + panel_w, PY(yv));
            snprintf(buf, sizeof buf, "%.3f", yv);
            svg_text(f, x0 - 6, PY(yv) + 4, "end", 11, buf);
            snprintf(buf, sizeof buf, "%.2f", xv);
            svg_text(f, PX(xv), y0 + panel_h + 16, "middle", 11, buf);
        }
        snprintf(buf, sizeof buf, "task %s", eval_task_name(task));
        svg_text(f, x0 + panel_w / 2, y0 - 8, "middle", 13, buf);
        svg_text(f, x0 + panel_w / 2, y0 + panel_h + 36, "middle", 12, "compression ratio");
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"12\" "
                   "transform=\"rotate(-90 %.1f %.1f)\">NLL (nats/token)</text>\n",
                x0 - 50, y0 + panel_h / 2, x0 - 50, y0 + panel_h / 2);
        double base = eval_mean_nll(d, 0, task);
        for (int e = 0; e < lo.n_entries; e++) {
            const char *color = palette[e % PALETTE_SIZE];
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
            if (isfinite(base)) fprintf(f, "%.1f,%.1f ", PX(0.0), PY(base));
            for (int r = 0; r < lo.n_ratios; r++) {
                int c = find_config(d, lo.entries[e], lo.ratios[r]);
                double v = c >= 0 ? eval_mean_nll(d, c, task) : NAN;
                if (isfinite(v)) fprintf(f, "%.1f,%.1f ", PX(lo.ratios[r]), PY(v));
            }
            fprintf(f, "\"/>\n");
            for (int r = 0; r < lo.n_ratios; r++) {
                int c = find_config(d, lo.entries[e], lo.ratios[r]);
                double v = c >= 0 ? eval_mean_nll(d, c, task) : NAN;
                if (isfinite(v))
                    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n",
                            PX(lo.ratios[r]), PY(v), color);
            }
        }
#undef PX
#undef PY
    }
    double lx = left + d->n_tasks * panel_w + (d->n_tasks - 1) * gap + 30;
    for (int e = 0; e < lo.n_entries; e++) {
        double ly = top + 10 + e * 20;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"3\"/>\n", lx, ly, lx + 22, ly, palette[e % PALETTE_SIZE]);
        svg_text(f, lx + 28, ly + 4, "start", 12, lo.entries[e]);
    }
    fprintf(f, "</svg>\n");
    return close_out(f, path);
}

/* ---- reference ----------------------------------------------------------------------------- */

int eval_compare_reference(const eval_data *d, const kvp_json *ref,
                           const char *const *not_compared, int n_not_compared) {
    const kvp_json *results = kvp__json_get(ref, "results");
    if (!results || results->kind != KVP_JSON_OBJECT) {
        fprintf(stderr, "kvpress-tool eval: the reference has no \"results\" object\n");
        return -1;
    }
    int compared = 0, skipped = 0, diffs = 0, excluded = 0;
    double worst = 0;
    for (int t = 0; t < d->n_tasks; t++) {
        eval_task task = d->tasks[t];
        const kvp_json *entries = kvp__json_get(results, eval_task_name(task));
        for (int i = 0; entries && entries->kind == KVP_JSON_OBJECT && i < entries->count; i++) {
            const char *key = entries->keys[i];
            double r = 0;
            if (reference_nll(ref, task, key, &r) != 1) {
                skipped++; /* the reference itself failed here */
                continue;
            }
            int c = -1;
            for (int k = 0; k < d->n_configs && c < 0; k++)
                if (!strcmp(d->configs[k].key, key)) c = k;
            if (c < 0) {
                printf("DIFF %s %s: not evaluated (not in the suite); reference %.4f\n",
                       eval_task_name(task), key, r);
                diffs++;
                continue;
            }
            if (d->errors[c][0]) {
                printf("DIFF %s %s: failed (%s); reference %.4f\n", eval_task_name(task), key,
                       d->errors[c], r);
                diffs++;
                continue;
            }
            double mine = eval_mean_nll(d, c, task), diff = mine - r;
            int excluded_entry = 0;
            for (int k = 0; k < n_not_compared; k++)
                excluded_entry |= !strcmp(d->configs[c].entry, not_compared[k]);
            if (excluded_entry) {
                printf("not compared: %s %s: %.4f, reference %.4f (difference %+.4f)\n",
                       eval_task_name(task), key, mine, r, diff);
                excluded++;
                continue;
            }
            compared++;
            worst = fmax(worst, fabs(diff));
            if (!(fabs(diff) <= d->tolerance)) {
                printf("DIFF %s %s: %.4f, reference %.4f (difference %+.4f > %.3f)\n",
                       eval_task_name(task), key, mine, r, diff, d->tolerance);
                diffs++;
            }
        }
    }
    printf("reference: %d compared, %d skipped (reference error), %d not compared, %d different; "
           "largest difference %.4f nats\n", compared, skipped, excluded, diffs, worst);
    return diffs;
}
