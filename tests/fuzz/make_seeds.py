#!/usr/bin/env python3
"""Seed corpora for the libFuzzer targets of tests/fuzz.

Usage: make_seeds.py OUTDIR

Writes OUTDIR/<target>/<seed> for every target: small synthetic inputs that
need no data, plus inputs cut from the shared data under $ROTBENCH_DATA
(models/, datasets/; skipped with a note when absent) and from the repo's
own configs/ and results/.  Seeds are small (a few items or lines each):
libFuzzer's speed and its default -max_len follow the largest seed.
Standard library only (CI machines have python3 through meson).
"""
import json
import math
import os
import struct
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DATA = os.environ.get("ROTBENCH_DATA") or os.path.join(REPO, "..", "shared")


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def data_file(rel):
    p = os.path.join(DATA, rel)
    if not os.path.isfile(p):
        print(f"make_seeds: {p} missing, its seeds skipped", file=sys.stderr)
        return None
    return p


def head_lines(rel, n):
    p = data_file(rel)
    if not p:
        return None
    with open(p, "rb") as f:
        return [f.readline() for _ in range(n)]


def model_seeds(out):
    # mode byte 0: the harness pads the payload to what the header implies
    tiny = struct.pack("<7i", 8, 16, 1, 2, 2, 16, 8)
    floats = struct.pack("<16f", *[0.5 - i / 16 for i in range(16)])
    write(out, "model", "tiny_shared", b"\0" + tiny + floats)
    write(out, "model", "tiny_separate", b"\0" + struct.pack("<7i", 8, 16, 1, 2, 1, -16, 8) + floats)
    write(out, "model", "tiny_nan", b"\0" + tiny + floats + struct.pack("<f", math.nan))
    write(out, "model", "raw_short", b"\1" + tiny[:20])
    write(out, "model", "raw_ak42", b"\1" + b"ak42" + struct.pack("<i", 1) + bytes(40))
    p = data_file("models/stories260K/stories260K.bin")
    if p:
        with open(p, "rb") as f:
            head = f.read(28 + 1024)
        write(out, "model", "stories260K_head", b"\0" + head)
        write(out, "model", "stories260K_raw_truncated", b"\1" + head)


def read_tokenizer(path, n_max):
    with open(path, "rb") as f:
        blob = f.read()
    max_len = struct.unpack_from("<i", blob, 0)[0]
    pos, entries = 4, []
    while pos < len(blob) and len(entries) < n_max:
        score, n = struct.unpack_from("<fi", blob, pos)
        entries.append((score, blob[pos + 8:pos + 8 + n]))
        pos += 8 + n
    return max_len, entries


def pack_tokenizer(max_len, entries):
    return struct.pack("<i", max_len) + b"".join(
        struct.pack("<fi", s, len(b)) + b for s, b in entries)


def tokenizer_seeds(out):
    base = [(0.0, b"<unk>"), (0.0, b"<s>"), (0.0, b"</s>")]
    base += [(0.0, b"<0x%02X>" % i) for i in range(8)]
    base += [(-1.0, b" "), (-2.0, b"a"), (-3.0, b" a"), (-4.0, b"ab"), (-5.0, b"\xc3\xa9")]
    write(out, "tokenizer", "tiny", pack_tokenizer(6, base))
    write(out, "tokenizer", "empty_vocab", struct.pack("<i", 4))
    write(out, "tokenizer", "truncated", pack_tokenizer(6, base)[:-3])
    for rel, n, name in (("models/stories260K/tok512.bin", 512, "tok512"),
                         ("models/llama2-tokenizer/tokenizer.bin", 400, "llama2_head")):
        p = data_file(rel)
        if p:
            write(out, "tokenizer", name, pack_tokenizer(*read_tokenizer(p, n)))


def encode_seeds(out):
    texts = [b"", b" ", b"Hello world", b"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
             b"\xff\xfe\x80 broken \xc3", b"a\0b\tc\n\nd", b"   leading and trailing   "]
    lines = head_lines("datasets/tinystories/TinyStories-valid-head.txt", 2) or []
    lines += (head_lines("datasets/wikitext2/wikitext-2-raw-v1.test.joined.txt", 6) or [])[1:]
    texts += [l[:400] for l in lines if l]
    for i, t in enumerate(texts):
        write(out, "tokenizer_encode", f"tok512_{i}", b"\0" + t)
        write(out, "tokenizer_encode", f"llama2_{i}", b"\1" + t)


def sweep_seeds(out):
    d = os.path.join(REPO, "configs")
    for name in sorted(os.listdir(d)):
        if name.endswith(".json"):
            with open(os.path.join(d, name), "rb") as f:
                write(out, "sweep_config", name, f.read())
    write(out, "sweep_config", "minimal",
          '{"name": "m", "results": "r.jsonl", "base": {"model": "x.bin"}, '
          '"axes": [{"name": "bits", "values": [{"label": "4", "args": {"w-bits": 4}}]}]}')
    write(out, "sweep_config", "profile",
          '{"name": "m", "results": "r.jsonl", "base": {"max-tokens": 8192}, '
          '"axes": [{"name": "bits", "values": [{"label": "4", "args": {"w-bits": 4}}, '
          '{"label": "8", "args": {"pipeline": "rtn"}}]}, '
          '{"name": "seed", "values": [{"label": "1", "args": {"seed": 1}}, {"label": "2"}]}], '
          '"exclude": [{"bits": "4", "seed": ["2"]}], '
          '"tables": [{"name": "t", "rows": "bits", "cols": "seed", "where": {"seed": "2"}}], '
          '"profiles": {"ci": {"base": {"max-tokens": 1024, "ctx": false}, "keep": {"seed": ["1"]}, '
          '"values": {"bits": {"8": {"pipeline": "gptq"}}}, "results": "ci.jsonl"}}}')


def records_seeds(out):
    d = os.path.join(REPO, "results")
    for name in sorted(os.listdir(d)):
        if name.endswith(".jsonl"):
            with open(os.path.join(d, name), "rb") as f:
                lines = [f.readline() for _ in range(3)]
            write(out, "records", name, b"".join(lines))
            write(out, "records", name + ".torn", b"".join(lines)[:-20])
    write(out, "records", "mixed", b'{"ppl": 1.5, "labels": {"method": "rtn"}}\n[1]\nnot json\n'
                                   b'{"ppl": null}\n{"ppl": 2')


def orthogonal_files():
    # identity, a signed permutation, and a normalized Hadamard: all orthogonal
    def eye(n):
        return [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]

    def perm(n):
        return [[(-1.0 if i % 2 else 1.0) if j == (i + 3) % n else 0.0 for j in range(n)]
                for i in range(n)]

    def hadamard(n):
        h = [[1.0]]
        while len(h) < n:
            h = [r + r for r in h] + [r + [-x for x in r] for r in h]
        s = 1 / math.sqrt(n)
        return [[x * s for x in r] for r in h]

    for name, mk in (("identity", eye), ("perm", perm), ("hadamard", hadamard)):
        vals = [x for r in mk(8) for x in r] + [x for _ in range(2) for r in mk(4) for x in r]
        yield name, b"RBSPINR1" + struct.pack("<3i", 8, 4, 2) + struct.pack(f"<{len(vals)}d", *vals)


def rotation_seeds(out):
    for name, f in orthogonal_files():
        write(out, "rotations", name, b"\0" + f)
        write(out, "rotations", name + "_raw", b"\1" + f)
    name, f = next(orthogonal_files())
    write(out, "rotations", "nan", b"\0" + f[:100] + struct.pack("<d", math.nan) + f[108:])
    write(out, "rotations", "bad_magic", b"\1RBSPINR2" + f[8:])
    write(out, "rotations", "wrong_shape", b"\0" + f[:8] + struct.pack("<3i", 8, 2, 2) + f[20:])


def task_seeds(out):
    hs = head_lines("datasets/hellaswag/hellaswag_val_full.txt", 12)
    if hs:
        write(out, "task_hellaswag", "two_items", b"".join(hs))
        write(out, "task_hellaswag", "one_item_no_newline", b"".join(hs[:6]).rstrip(b"\n"))
        write(out, "task_hellaswag", "short", b"".join(hs[:5]))
    piqa = head_lines("datasets/piqa/valid.jsonl", 3)
    labels = head_lines("datasets/piqa/valid-labels.lst", 3)
    if piqa and labels:
        write(out, "task_piqa", "three", b"".join(piqa) + b"\0" + b"".join(labels))
        write(out, "task_piqa", "labels_short", b"".join(piqa) + b"\0" + b"".join(labels[:2]))
    for task, rel in (("arc_easy", "datasets/arc_easy/ARC-Easy-test.jsonl"),
                      ("arc_challenge", "datasets/arc_challenge/ARC-Challenge-test.jsonl")):
        lines = head_lines(rel, 3)
        if not lines:
            continue
        write(out, "task_arc_easy", task + "_hf", b"".join(lines))
        ai2 = []  # the same items in AI2's layout {question {stem, choices [...]}}
        for l in lines:
            o = json.loads(l)
            ch = [{"text": t, "label": lab}
                  for t, lab in zip(o["choices"]["text"], o["choices"]["label"])]
            ai2.append(json.dumps({"id": o["id"], "question": {"stem": o["question"], "choices": ch},
                                   "answerKey": o["answerKey"]}) + "\n")
        write(out, "task_arc_easy", task + "_ai2", "".join(ai2))
    obqa = head_lines("datasets/openbookqa/test.jsonl", 3)
    if obqa:
        write(out, "task_openbookqa", "ai2", b"".join(obqa))
        hf = []  # HF layout: question_stem, choices {text, label}
        for l in obqa:
            o = json.loads(l)
            ch = o["question"]["choices"]
            hf.append(json.dumps({"id": o["id"], "question_stem": o["question"]["stem"],
                                  "choices": {"text": [c["text"] for c in ch],
                                              "label": [c["label"] for c in ch]},
                                  "answerKey": o["answerKey"]}) + "\n")
        write(out, "task_openbookqa", "hf", "".join(hf))
    for task, rel in (("boolq", "datasets/boolq/dev.jsonl"),
                      ("winogrande", "datasets/winogrande/dev.jsonl"),
                      ("lambada", "datasets/lambada/lambada_test.jsonl")):
        lines = head_lines(rel, 3)
        if lines:
            write(out, "task_" + task, "three", b"".join(lines))
            write(out, "task_" + task, "trailing", lines[0].rstrip(b"\n") + b" trailing\n")


def gguf_model_seeds(out):
    """stories260K.gguf (written by llama.cpp) for the whole-file GGUF target."""
    p = data_file("models/stories260K/stories260K.gguf")
    if p:
        with open(p, "rb") as f:
            write(out, "gguf_model", "stories260K.gguf", f.read())


def hf_dir_entry(index, data):
    """One file of fuzz_hf_dir's input: which (index into its names), length, bytes."""
    return bytes([index]) + struct.pack("<I", len(data)) + data


def hf_dir_seeds(out):
    """stories260K-hf as fuzz_hf_dir's list of files: the whole directory, the
    same split into two shards with an index, and config.json alone."""
    d = os.path.join(DATA, "models/stories260K-hf")
    if not os.path.isfile(os.path.join(d, "config.json")):
        print(f"make_seeds: {d} missing, its seeds skipped", file=sys.stderr)
        return
    files = {}
    for i, name in enumerate(["config.json", "model.safetensors", "model.safetensors.index.json",
                              "model-00001-of-00002.safetensors",
                              "model-00002-of-00002.safetensors", "tokenizer.json",
                              "tokenizer_config.json"]):
        p = os.path.join(d, name)
        if os.path.exists(p):
            with open(p, "rb") as f:
                files[name] = (i, f.read())
    whole = b"".join(hf_dir_entry(i, b) for i, b in files.values())
    write(out, "hf_dir", "stories260K-hf", whole)
    write(out, "hf_dir", "config-only", hf_dir_entry(*files["config.json"]))
    # two shards: the tensors split in name order, offsets rebased
    st = files["model.safetensors"][1]
    n = struct.unpack("<Q", st[:8])[0]
    header = json.loads(st[8:8 + n])
    header.pop("__metadata__", None)
    names = sorted(header, key=lambda k: header[k]["data_offsets"][0])
    half = len(names) // 2
    shards, weight_map = [], {}
    for s, group in enumerate((names[:half], names[half:])):
        h, blobs, at = {}, [], 0
        for k in group:
            b0, b1 = header[k]["data_offsets"]
            h[k] = {"dtype": header[k]["dtype"], "shape": header[k]["shape"],
                    "data_offsets": [at, at + b1 - b0]}
            blobs.append(st[8 + n + b0:8 + n + b1])
            at += b1 - b0
            weight_map[k] = "model-%05d-of-00002.safetensors" % (s + 1)
        hj = json.dumps(h).encode()
        hj += b" " * (-len(hj) % 8)
        shards.append(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
    index = json.dumps({"metadata": {}, "weight_map": weight_map}).encode()
    sharded = (hf_dir_entry(*files["config.json"]) + hf_dir_entry(2, index) +
               hf_dir_entry(3, shards[0]) + hf_dir_entry(4, shards[1]))
    write(out, "hf_dir", "stories260K-hf-sharded", sharded)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    for make in (model_seeds, tokenizer_seeds, encode_seeds, sweep_seeds, records_seeds,
                 rotation_seeds, task_seeds, gguf_model_seeds, hf_dir_seeds):
        make(out)


if __name__ == "__main__":
    main()
