#!/usr/bin/env bash
# The README's table of Hadamard transforms per model: for each model's
# hidden size (R1, residual), FFN size (R4, before down_proj), head_dim (R2,
# R3) and head count (the head-wise Hadamard before o_proj), what
# `rotbench hadamard --size N` says.  Sizes are the models' Hugging Face
# config.json fields hidden_size, intermediate_size, num_attention_heads
# (head_dim = hidden_size / num_attention_heads).
#
# usage: tools/hadamard_model_table.sh [ROTBENCH]   (default build/app/rotbench)
# Prints Markdown on stdout.
set -euo pipefail
exe=${1:-build/app/rotbench}

models=(
  # name                hidden  FFN    heads
  "Llama-2-7B           4096    11008  32"
  "Llama-2-13B          5120    13824  40"
  "Llama-2-70B          8192    28672  64"
  "Llama-3-8B           4096    14336  32"
  "Llama-3-70B          8192    28672  64"
  "Llama-3.2-1B         2048    8192   32"
  "Llama-3.2-3B         3072    8192   24"
  "Mistral-7B-v0.1      4096    14336  32"
  "Qwen2.5-0.5B         896     4864   14"
  "Qwen2.5-1.5B         1536    8960   12"
  "Qwen2.5-3B           2048    11008  16"
  "Qwen2.5-7B           3584    18944  28"
  "Qwen2.5-14B          5120    13824  40"
  "Qwen2.5-32B          5120    27648  40"
  "Qwen2.5-72B          8192    29568  64"
)

# One cell: "k · 2^m (construction)", "2^m (Sylvester)", or why none.
cell() {
  local n=$1 text
  if text=$("$exe" hadamard --size "$n"); then
    text=${text#"$n = "}
    case "$text" in
      *", "*) echo "${text%%, *} (${text#*, * = })" ;;
      *) echo "$text" ;;
    esac
  else
    local below above
    below=$("$exe" hadamard --size "$n" --json | grep -o '"nearest_below":[0-9]*' | cut -d: -f2 || true)
    above=$("$exe" hadamard --size "$n" --json | grep -o '"nearest_above":[0-9]*' | cut -d: -f2 || true)
    echo "**none** (nearest $below, $above)"
  fi
}

echo "| model | hidden (R1) | FFN (R4) | head_dim (R2, R3) | heads (head-wise) |"
echo "|---|---|---|---|---|"
for row in "${models[@]}"; do
  read -r name hidden ffn heads <<<"$row"
  hd=$((hidden / heads))
  echo "| $name | $hidden: $(cell "$hidden") | $ffn: $(cell "$ffn") | $hd: $(cell "$hd") | $heads: $(cell "$heads") |"
done
