/* Presses built from JSON: {"press": name, "params": {...}}, where a press-valued parameter
 * is an object {"name", "params"}. This is the format of press.json in the kvpress reference
 * vectors (verify) and of the entries of suite.json (eval). */
#ifndef KVP_TOOL_PRESS_JSON_H
#define KVP_TOOL_PRESS_JSON_H

#include <stddef.h>

#include "core/json.h"
#include "kvpress/kvpress.h"

/* NULL with a message in err on failure. */
kvp_press *press_from_json(const kvp_json *spec, char *err, size_t err_size);

#endif
