#!/usr/bin/python3
"""Independent PyTorch (eager, fp32) Llama forward for llama2.c v0 files:
times evaluation windows (forward + log-softmax NLL) and cross-checks
rotbench's NLLs.

Run with /usr/bin/python3 (Debian's python3-torch, python3-numpy).

  torch_eval.py --model FILE --label NAME [--tokens FILE] [--T 512] [--threads 2]
                [--blas-threads N] [--windows N | --min-seconds S] [--check]

--tokens FILE reads windows written by `bench_eval --tokens-out FILE`:
    tokens LABEL T id_0 ... id_{T-1}
    nll LABEL T MEAN nll_1 ... nll_{T-1}
(the window of the given --label and --T); without it, T random ids come from
numpy's default_rng(--seed).  --check computes the window's NLL in float64
from the fp32 logits and, when the file holds rotbench's NLLs for the window,
compares them (relative difference of the mean, max |diff| per token).

The model (same as rotbench's forward, llama2.c layout): RMSNorm eps 1e-5,
RoPE theta 1e4 on interleaved pairs (x[2i], x[2i+1]) of each head, causal GQA
attention (scores / sqrt(head_dim), softmax, then V), SwiGLU FFN
w2(silu(w1 x) * w3 x), final RMSNorm, classifier.  Linears are [out][in].

stdout: one JSON object per measurement; stderr: human-readable lines.
"""
import argparse
import json
import math
import os
import sys
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="llama2.c v0 model file")
    p.add_argument("--label", default=None, help="window label in --tokens (e.g. stories260K)")
    p.add_argument("--tokens", default=None, help="token file from bench_eval --tokens-out")
    p.add_argument("--T", type=int, default=512, help="window length (tokens)")
    p.add_argument("--threads", type=int, default=2, help="torch (OpenMP) threads")
    p.add_argument("--blas-threads", type=int, default=0,
                   help="OpenBLAS threads (default: --threads; $OPENBLAS_NUM_THREADS wins)")
    p.add_argument("--seed", type=int, default=1234, help="seed of random ids without --tokens")
    p.add_argument("--windows", type=int, default=0, help="timed windows (0: use --min-seconds)")
    p.add_argument("--min-seconds", type=float, default=3.0,
                   help="time windows for at least this long (and at least 3)")
    p.add_argument("--check", action="store_true", help="NLL cross-check instead of timing")
    return p.parse_args()


ARGS = parse_args()
# Debian's torch runs its GEMMs on the system BLAS (OpenBLAS, pthread build),
# a thread pool of its own beside torch's OpenMP one, whose size
# torch.set_num_threads does not set: set it here, before the library loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", str(ARGS.blas_threads or ARGS.threads))
os.environ.setdefault("OMP_NUM_THREADS", str(ARGS.threads))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def blas_info():
    """The BLAS torch calls: Debian's libblas.so.3 alternative (OpenBLAS)."""
    import ctypes
    try:
        lib = ctypes.CDLL("libopenblas.so.0")  # the instance already loaded by torch
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        return {"openblas_core": lib.openblas_get_corename().decode(),
                "openblas_config": lib.openblas_get_config().decode(),
                "openblas_threads": lib.openblas_get_num_threads()}
    except (OSError, AttributeError):
        return {"openblas_core": None}


class Llama:
    """Weights of a llama2.c v0 file, as torch tensors (views of one array)."""

    def __init__(self, path):
        with open(path, "rb") as f:
            hdr = np.frombuffer(f.read(28), dtype=np.int32)
            data = np.fromfile(f, dtype=np.float32)
        dim, hidden, L, H, KV, vocab, seq_len = (int(v) for v in hdr)
        shared = vocab > 0
        vocab = abs(vocab)
        hd = dim // H
        self.dim, self.hidden, self.L, self.H, self.KV = dim, hidden, L, H, KV
        self.vocab, self.seq_len, self.hd = vocab, seq_len, hd
        self.eps, self.theta = 1e-5, 10000.0
        w = torch.from_numpy(data)
        off = 0

        def take(*shape):
            nonlocal off
            n = math.prod(shape)
            if off + n > w.numel():
                raise SystemExit(f"{path}: file too short for its header")
            t = w[off:off + n].view(*shape)
            off += n
            return t

        self.emb = take(vocab, dim)
        self.attn_norm = take(L, dim)
        self.wq = take(L, H * hd, dim)
        self.wk = take(L, KV * hd, dim)
        self.wv = take(L, KV * hd, dim)
        self.wo = take(L, dim, H * hd)
        self.ffn_norm = take(L, dim)
        self.w1 = take(L, hidden, dim)
        self.w2 = take(L, dim, hidden)
        self.w3 = take(L, hidden, dim)
        self.final_norm = take(dim)
        take(seq_len, hd // 2)  # RoPE tables of the file: recomputed below in float64
        take(seq_len, hd // 2)
        self.cls = self.emb if shared else take(vocab, dim)
        if off != w.numel():
            raise SystemExit(f"{path}: {w.numel() - off} floats past the expected payload")
        self.rope_T = 0

    def rope_tables(self, T):
        if self.rope_T < T:
            i = torch.arange(0, self.hd, 2, dtype=torch.float64)
            freq = self.theta ** (-i / self.hd)
            ang = torch.arange(T, dtype=torch.float64)[:, None] * freq[None, :]
            self.cos = ang.cos().float()[:, None, :]  # [T][1][hd/2]
            self.sin = ang.sin().float()[:, None, :]
            self.mask = torch.full((T, T), float("-inf")).triu(1)
            self.rope_T = T
        return self.cos[:T], self.sin[:T], self.mask[:T, :T]

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    @staticmethod
    def rope(x, cos, sin):  # x [T][heads][hd], pairs (x[2i], x[2i+1])
        xr, xi = x.unflatten(-1, (-1, 2)).unbind(-1)
        return torch.stack((xr * cos - xi * sin, xr * sin + xi * cos), dim=-1).flatten(-2)

    def forward(self, tokens):
        """tokens: int64 [T] → logits [T][vocab] (fp32)."""
        T, H, KV, hd = tokens.numel(), self.H, self.KV, self.hd
        cos, sin, mask = self.rope_tables(T)
        x = self.emb[tokens]
        scale = 1.0 / math.sqrt(hd)
        for l in range(self.L):
            h = self.rmsnorm(x, self.attn_norm[l])
            q = self.rope(F.linear(h, self.wq[l]).view(T, H, hd), cos, sin)
            k = self.rope(F.linear(h, self.wk[l]).view(T, KV, hd), cos, sin)
            v = F.linear(h, self.wv[l]).view(T, KV, hd)
            if KV != H:  # head h reads kv head h // (H / KV)
                k = k.repeat_interleave(H // KV, dim=1)
                v = v.repeat_interleave(H // KV, dim=1)
            q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)  # [H][T][hd]
            s = torch.baddbmm(mask, q, k.transpose(1, 2), alpha=scale)
            o = torch.bmm(s.softmax(-1), v).transpose(0, 1).reshape(T, H * hd)
            x = x + F.linear(o, self.wo[l])
            h = self.rmsnorm(x, self.ffn_norm[l])
            x = x + F.linear(F.silu(F.linear(h, self.w1[l])) * F.linear(h, self.w3[l]),
                             self.w2[l])
        return F.linear(self.rmsnorm(x, self.final_norm), self.cls)


def read_window(path, label, T):
    tokens = ref = None
    with open(path) as f:
        for line in f:
            p = line.split()
            if len(p) < 3 or p[1] != label or int(p[2]) != T:
                continue
            if p[0] == "tokens":
                tokens = [int(v) for v in p[3:]]
            elif p[0] == "nll":
                ref = (float(p[3]), [float(v) for v in p[4:]])
    if tokens is None or len(tokens) != T:
        raise SystemExit(f"{path}: no window '{label}' of {T} tokens")
    return tokens, ref


def emit(rec):
    print(json.dumps(rec), flush=True)


def main():
    a = ARGS
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    m = Llama(a.model)
    load_s = time.perf_counter() - t0
    label = a.label or os.path.basename(a.model)
    ref = None
    if a.tokens:
        ids, ref = read_window(a.tokens, label, a.T)
    else:
        ids = np.random.default_rng(a.seed).integers(0, m.vocab, a.T).tolist()
    tokens = torch.tensor(ids, dtype=torch.int64)
    if tokens.min() < 0 or tokens.max() >= m.vocab:
        raise SystemExit("token ids outside the vocabulary")
    base = {"bench": "torch", "model": label, "T": a.T, "threads": a.threads,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"), **blas_info()}

    with torch.inference_mode():
        if a.check:
            logits = m.forward(tokens)
            lp = torch.log_softmax(logits[:-1].double(), dim=-1)
            nll = -lp.gather(1, tokens[1:, None]).squeeze(1)
            mean = float(nll.mean())
            rec = dict(base, kind="nll_check", mean_nll=mean)
            msg = f"torch {label} T={a.T}: mean NLL {mean:.9f}"
            if ref is not None:
                rmean, rtok = ref
                rel = abs(mean - rmean) / abs(rmean)
                maxd = float((nll - torch.tensor(rtok, dtype=torch.float64)).abs().max())
                rec.update(rotbench_mean_nll=rmean, rel_diff=rel, max_abs_token_diff=maxd)
                msg += (f", rotbench {rmean:.9f}: relative difference {rel:.2e}, "
                        f"max per-token |diff| {maxd:.2e}")
            print(msg, file=sys.stderr)
            emit(rec)
            return

        def window():
            t0 = time.perf_counter()
            logits = m.forward(tokens)
            t1 = time.perf_counter()
            nll = F.cross_entropy(logits[:-1], tokens[1:], reduction="none")
            mean = float(nll.mean())
            return t1 - t0, time.perf_counter() - t0, mean

        window()  # warm-up
        tf, tw = [], []
        start = time.perf_counter()
        while (len(tw) < a.windows if a.windows
               else len(tw) < 3 or time.perf_counter() - start < a.min_seconds):
            f, w, mean = window()
            tf.append(f)
            tw.append(w)
    fwd, win = float(np.median(tf)), float(np.median(tw))
    emit(dict(base, kind="forward", windows=len(tw), ms_per_window=win * 1e3,
              ms_per_window_best=min(tw) * 1e3, forward_ms=fwd * 1e3,
              nll_ms=(win - fwd) * 1e3, tokens_per_s=a.T / win,
              tokens_per_s_best=a.T / min(tw),
              forward_tokens_per_s=a.T / fwd, mean_nll=mean, load_s=load_s))
    print(f"torch {label} T={a.T} (OpenBLAS {base['openblas_core']}, "
          f"{base.get('openblas_threads')} BLAS threads, {a.threads} torch threads, "
          f"OMP_WAIT_POLICY {base['omp_wait_policy']}): "
          f"{len(tw)} windows, {win * 1e3:.2f} ms/window "
          f"(forward {fwd * 1e3:.2f}), {a.T / win:.0f} tokens/s, mean NLL {mean:.6f}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
