/* Where data comes from: the data directory and the named models and corpora
 * inside it (layout of ../shared, see datasets/MANIFEST.md).
 *
 * Data directory resolution, first match wins:
 *   1. an explicit directory (the --data-dir flag), if given;
 *   2. $ROTBENCH_DATA, if set;
 *   3. ../shared relative to the current directory, if it exists;
 *   4. ../shared relative to the source tree rotbench was built from.
 */
#ifndef RB_DATASETS_REGISTRY_H
#define RB_DATASETS_REGISTRY_H

#include <stddef.h>

#include "base/error.h"

/* RB_DATA_ZEROSHOT: multiple-choice task files scored by eval/zeroshot.h. */
typedef enum rb_data_kind {
    RB_DATA_CORPUS, RB_DATA_MODEL, RB_DATA_TOKENIZER, RB_DATA_ZEROSHOT
} rb_data_kind;

typedef struct rb_data_entry {
    const char *name;      /* "wikitext2", "stories260K", ... */
    rb_data_kind kind;
    const char *rel_path;  /* relative to the data directory */
    const char *sha256;    /* expected content hash */
    const char *tokenizer; /* models: the entry name of their tokenizer */
} rb_data_entry;

/* Resolves the data directory into buf; RB_EIO naming every place tried when
 * none exists.  explicit_dir may be NULL. */
int rb_data_dir(const char *explicit_dir, char *buf, size_t cap, rb_error *err);

/* Looks up a named entry of the given kind; NULL if unknown. */
const rb_data_entry *rb_data_find(const char *name, rb_data_kind kind);

/* Names of all entries of a kind, comma separated, for error messages. */
void rb_data_names(rb_data_kind kind, char *buf, size_t cap);

/* Resolves `name_or_path`: an existing file path is used as is; otherwise a
 * named entry of `kind` inside the data directory.  Clear error otherwise. */
int rb_data_resolve(const char *name_or_path, rb_data_kind kind, const char *explicit_dir,
                    char *buf, size_t cap, rb_error *err);

/* The default model name when none is given. */
#define RB_DEFAULT_MODEL "stories260K"

#endif
