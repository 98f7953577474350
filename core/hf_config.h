/* Hugging Face config.json → rb_config.
 *
 * Architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM
 * (q/k/v biases), and RotbenchLlamaForCausalLM / RotbenchQwen2ForCausalLM
 * (rotbench's exports with online transforms, which must carry a "rotbench"
 * object: version 1, saved, online {qk_hadamard, down_hadamard,
 * o_head_hadamard}, split {a, kv}, quant {w, a, kv}); any other is refused
 * by name.  Fields read (defaults as
 * transformers' config classes where a field may be absent):
 *   hidden_size, intermediate_size, num_hidden_layers, num_attention_heads,
 *   vocab_size (required); num_key_value_heads (= heads); head_dim
 *   (= hidden/heads); rms_norm_eps (1e-6); rope_theta (10000);
 *   rope_scaling (null | {rope_type or type: "default", "linear" (factor),
 *   "llama3" (factor, low_freq_factor, high_freq_factor,
 *   original_max_position_embeddings)}; others refused by name);
 *   max_position_embeddings (Llama 2048, Mistral 131072, Qwen2 32768);
 *   tie_word_embeddings (false); attention_bias / mlp_bias (Llama: refused
 *   when true, since they also bias o_proj / the MLP); hidden_act ("silu"
 *   only); torch_dtype (informational); sliding_window (Mistral/Qwen2 with
 *   use_sliding_window: caps the usable context, the forward has none).
 */
#ifndef RB_HF_CONFIG_H
#define RB_HF_CONFIG_H

#include <stddef.h>

#include "base/error.h"
#include "core/model.h"
#include "core/saved_meta.h"

typedef struct rb_hf_config {
    rb_config cfg;            /* seq_len = the usable context (see sliding_window) */
    char architecture[64];
    int tie_word_embeddings;
    char torch_dtype[32];     /* "" when absent */
    int max_position_embeddings;
    rb_saved_meta saved;      /* the "rotbench" object (core/saved_meta.h); present = 0 without */
} rb_hf_config;

/* Parses json[0..len) (what names the file in errors: RB_EFORMAT for
 * malformed JSON or a field of the wrong type or range, RB_EUNSUPPORTED for
 * an architecture, rope_scaling type or activation rotbench does not
 * implement, each naming the field and the value).  The result is checked
 * with rb_config_validate. */
int rb_hf_config_parse(const char *json, size_t len, const char *what, rb_hf_config *out,
                       rb_error *err);

#endif
