/* GGUF files (versions 2 and 3, little-endian): parse and validate.
 *
 * Layout: "GGUF", uint32 version, uint64 tensor count, uint64 key-value
 * count; the key-value pairs (string key, uint32 value type, value); the
 * tensor infos (string name, uint32 n_dims, uint64 ne[n_dims] — ne[0] the
 * fastest-varying —, uint32 ggml type, uint64 offset); padding to
 * general.alignment (default 32); the tensor data, to which the offsets are
 * relative.  A string is a uint64 length and that many bytes (no NUL).  An
 * array is a uint32 element type, a uint64 count and the elements.
 *
 * rb_gguf_parse validates everything before anything is trusted: the magic
 * and version, the counts against the bytes left, every string length,
 * every value type, array nesting (at most 4 deep), the alignment (a power
 * of two), every tensor's dimensions (1..4, each ≥ 1, no overflow), type
 * (one ggml knows; its block size must divide ne[0]), offset (aligned, data
 * within the file) and that no two tensors overlap or share a name.
 *
 * Ownership: an rb_gguf owns its tables and, when opened from a path, the
 * mapping; keys, names and values point into the file image.
 */
#ifndef RB_GGUF_H
#define RB_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

typedef enum rb_gguf_type {
    RB_GGUF_U8 = 0, RB_GGUF_I8 = 1, RB_GGUF_U16 = 2, RB_GGUF_I16 = 3, RB_GGUF_U32 = 4,
    RB_GGUF_I32 = 5, RB_GGUF_F32 = 6, RB_GGUF_BOOL = 7, RB_GGUF_STRING = 8, RB_GGUF_ARRAY = 9,
    RB_GGUF_U64 = 10, RB_GGUF_I64 = 11, RB_GGUF_F64 = 12, RB_GGUF_TYPE_COUNT
} rb_gguf_type;

/* ggml tensor types rotbench reads (the others are named in errors only). */
enum { RB_GGML_F32 = 0, RB_GGML_F16 = 1, RB_GGML_Q4_0 = 2, RB_GGML_Q8_0 = 8, RB_GGML_BF16 = 30 };

typedef struct rb_gguf_kv {
    const char *key;           /* not NUL-terminated */
    size_t key_len;
    rb_gguf_type type;
    rb_gguf_type elem_type;    /* arrays */
    uint64_t count;            /* arrays: elements; strings: bytes */
    const unsigned char *value; /* the value (a string's bytes; an array's first element) */
} rb_gguf_kv;

typedef struct rb_gguf_tensor {
    const char *name;          /* not NUL-terminated */
    size_t name_len;
    uint32_t n_dims;
    uint64_t ne[4];            /* ne[0] fastest */
    uint32_t type;             /* ggml type */
    uint64_t n;                /* elements */
    uint64_t offset;           /* absolute offset in the file */
    uint64_t bytes;
} rb_gguf_tensor;

typedef struct rb_gguf {
    char path[1024];
    const unsigned char *data; /* file image */
    uint64_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_start;
    rb_gguf_kv *kv;
    size_t n_kv;
    rb_gguf_tensor *t;
    size_t n_t;
    void *map;
} rb_gguf;

/* Parses buf[0..size) (borrowed).  RB_EFORMAT naming `what`, the field and
 * the value for anything malformed; RB_EUNSUPPORTED for GGUF v1. */
int rb_gguf_parse(const unsigned char *buf, uint64_t size, const char *what, rb_gguf *out,
                  rb_error *err);
/* mmaps path read-only and parses it. */
int rb_gguf_open(const char *path, rb_gguf *out, rb_error *err);
void rb_gguf_close(rb_gguf *g);

/* The name of ggml type t ("Q4_K"), or NULL when ggml has no such type. */
const char *rb_ggml_type_name(uint32_t t);

/* Lookups: NULL / 0 when the key is absent. */
const rb_gguf_kv *rb_gguf_find(const rb_gguf *g, const char *key);
const rb_gguf_tensor *rb_gguf_find_tensor(const rb_gguf *g, const char *name);
/* The value of an integer-typed key (any width, bool included) in *out:
 * 1 when found, 0 when absent, -1 when present with another type. */
int rb_gguf_get_int(const rb_gguf *g, const char *key, int64_t *out);
/* The value of an F32/F64 (or integer) key. */
int rb_gguf_get_float(const rb_gguf *g, const char *key, double *out);
/* A string key: its bytes and length (not NUL-terminated). */
int rb_gguf_get_string(const rb_gguf *g, const char *key, const char **s, size_t *len);
/* The elements of a string array: s[i], len[i] for i < kv->count (the
 * caller's arrays); 0 when kv is not an array of strings. */
int rb_gguf_array_strings(const rb_gguf_kv *kv, const char **s, size_t *len);

/* The vocabulary a GGUF file embeds (tokenizer.ggml.*), field for field what
 * core/tokenizer.h's rb_vocab_desc (branch tok) takes: kind
 * (tokenizer.ggml.model: "llama" = SentencePiece scores, "gpt2" = BPE
 * merges), pre (tokenizer.ggml.pre), the tokens with their lengths, scores
 * and token types, the merges, bos/eos/unk ids (-1 when absent) and
 * add_bos (tokenizer.ggml.add_bos_token: 1, 0, or -1 when absent).  Pointers
 * point into the file image (strings not NUL-terminated) or into arrays
 * owned by the rb_gguf_vocab (rb_gguf_vocab_free). */
typedef struct rb_gguf_vocab {
    char kind[32], pre[64];
    int n_tokens;
    const char **tokens;
    size_t *token_lens;
    float *scores;          /* NULL when the file has none */
    int32_t *token_types;   /* NULL when the file has none */
    int n_merges;
    const char **merges;
    size_t *merge_lens;
    int bos_id, eos_id, unk_id;
    int add_bos;
} rb_gguf_vocab;

/* Reads the vocabulary: RB_EFORMAT naming the key when tokenizer.ggml.tokens
 * is missing or a key has the wrong type or length (scores and token_type
 * must have one entry per token; ids must be tokens). */
int rb_gguf_vocab_read(const rb_gguf *g, rb_gguf_vocab *v, rb_error *err);
void rb_gguf_vocab_free(rb_gguf_vocab *v);

#endif
