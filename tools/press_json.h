/* Presses built from JSON: {"press": name, "params": {...}, "artefact": "file.safetensors"},
 * where a press-valued parameter is an object {"name", "params", "artefact"} and "artefact"
 * (optional) names the file a press that needs one is given (kvp_press_set_artefact). This is
 * the format of press.json in the kvpress reference vectors (verify) and of the entries of
 * suite.json (eval). */
#ifndef KVP_TOOL_PRESS_JSON_H
#define KVP_TOOL_PRESS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/json.h"
#include "kvpress/kvpress.h"

/* The artefacts specifications name: each file is loaded once, on first use, and shared by
 * every press built from it (presses only reference their artefact, so the store must outlive
 * them). Relative paths are taken from base_dir (e.g. the suite file's folder). Safe to use
 * from several threads. */
typedef struct press_artefacts press_artefacts;

/* NULL when out of memory; base_dir may be NULL (the current folder). */
press_artefacts *press_artefacts_create(const char *base_dir);
void press_artefacts_free(press_artefacts *store);
/* The artefact at path (relative to the store's folder), loaded now if it was not. */
kvp_artefact *press_artefacts_get(press_artefacts *store, const char *path, char *err,
                                  size_t err_size);
/* Prints a warning for every loaded artefact whose "model_fingerprint" metadata names other
 * weights than `fingerprint` (calibrated on another model); returns how many. */
int press_artefacts_warn_model(press_artefacts *store, uint64_t fingerprint, FILE *out);

/* NULL with a message in err on failure. `artefacts` may be NULL, and then a specification
 * that names an artefact is an error. */
kvp_press *press_from_json(const kvp_json *spec, press_artefacts *artefacts, char *err,
                           size_t err_size);

#endif
