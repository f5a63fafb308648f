#include "npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t size, const char *path, const char *what) {
    snprintf(err, size, "%s: %s", path, what);
    return -1;
}

int npy_load(const char *path, npy_array *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, err_size, path, "cannot open");
    unsigned char pre[10];
    int rc = -1;
    char *header = NULL;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        fail(err, err_size, path, "not a .npy file");
        goto done;
    }
    size_t hlen;
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8);
    } else if (pre[6] == 2 || pre[6] == 3) {
        unsigned char extra[2];
        if (fread(extra, 1, 2, f) != 2) {
            fail(err, err_size, path, "truncated header");
            goto done;
        }
        hlen = (size_t)pre[8] | ((size_t)pre[9] << 8) | ((size_t)extra[0] << 16) |
               ((size_t)extra[1] << 24);
    } else {
        fail(err, err_size, path, "unsupported .npy version");
        goto done;
    }
    if (hlen > 1 << 20) {
        fail(err, err_size, path, "header too large");
        goto done;
    }
    header = malloc(hlen + 1);
    if (!header || fread(header, 1, hlen, f) != hlen) {
        fail(err, err_size, path, "truncated header");
        goto done;
    }
    header[hlen] = 0;
    const char *descr = strstr(header, "'descr':");
    const char *fortran = strstr(header, "'fortran_order':");
    const char *shape = strstr(header, "'shape':");
    if (!descr || !fortran || !shape) {
        fail(err, err_size, path, "malformed header");
        goto done;
    }
    size_t esize;
    const char *dt = strchr(descr + 8, '\'');
    if (dt && strncmp(dt, "'<f4'", 5) == 0) {
        out->type = NPY_F32;
        esize = 4;
    } else if (dt && strncmp(dt, "'<i4'", 5) == 0) {
        out->type = NPY_I32;
        esize = 4;
    } else if (dt && strncmp(dt, "'<i8'", 5) == 0) {
        out->type = NPY_I64;
        esize = 8;
    } else if (dt && (strncmp(dt, "'|u1'", 5) == 0 || strncmp(dt, "'|b1'", 5) == 0)) {
        out->type = NPY_U8;
        esize = 1;
    } else {
        fail(err, err_size, path, "unsupported dtype (need <f4, <i4, <i8, |u1 or |b1)");
        goto done;
    }
    const char *fo = fortran + 16;
    while (*fo == ' ') fo++;
    if (strncmp(fo, "True", 4) == 0) {
        fail(err, err_size, path, "Fortran order is not supported");
        goto done;
    }
    const char *p = strchr(shape, '(');
    if (!p) {
        fail(err, err_size, path, "malformed shape");
        goto done;
    }
    p++;
    out->count = 1;
    while (*p && *p != ')') {
        while (*p == ' ' || *p == ',') p++;
        if (*p == ')') break;
        char *end;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || out->ndim >= 8) {
            fail(err, err_size, path, "malformed shape");
            goto done;
        }
        out->shape[out->ndim++] = v;
        out->count *= v;
        p = end;
    }
    size_t bytes = (size_t)out->count * esize;
    out->data = malloc(bytes ? bytes : 1);
    if (!out->data || fread(out->data, 1, bytes, f) != bytes) {
        fail(err, err_size, path, "truncated data");
        free(out->data);
        out->data = NULL;
        goto done;
    }
    rc = 0;
done:
    free(header);
    fclose(f);
    return rc;
}

void npy_free(npy_array *a) {
    if (!a) return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

int npy_save_f32(const char *path, const float *data, int ndim, const int64_t *shape) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    char header[256];
    int len = snprintf(header, sizeof header, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        len += snprintf(header + len, sizeof header - (size_t)len, "%lld,%s", (long long)shape[i],
                        i + 1 < ndim ? " " : "");
        count *= shape[i];
    }
    len += snprintf(header + len, sizeof header - (size_t)len, "), }");
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    int hlen = len + pad + 1;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);
    int ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)len, f) == (size_t)len;
    for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    ok = ok && fwrite(data, sizeof(float), (size_t)count, f) == (size_t)count;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}
