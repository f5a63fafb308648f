/* Builds safetensors artefacts in tests (float32 tensors and string metadata), the format
 * kvp_artefact_load reads and tools/artefacts writes. */
#ifndef KVP_TEST_ARTEFACT_WRITE_H
#define KVP_TEST_ARTEFACT_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "kvpress/kvpress.h"

typedef struct artefact_writer artefact_writer;

artefact_writer *aw_new(void);
void aw_free(artefact_writer *w);
/* Adds a float32 tensor (copied); shape has ndim entries. */
void aw_tensor(artefact_writer *w, const char *name, int ndim, const int64_t *shape,
               const float *data);
void aw_meta(artefact_writer *w, const char *key, const char *value);
/* The file image (malloc'd). */
unsigned char *aw_image(const artefact_writer *w, size_t *size);
/* Loads the image as an artefact (the test fails if that does not work). */
kvp_artefact *aw_load(const artefact_writer *w);
/* Writes the image to a file; 0 on success. */
int aw_save(const artefact_writer *w, const char *path);

#endif
