#!/usr/bin/python3
"""Checks an lm-eval output directory written by `rotbench eval --output-format
lm-eval --log-samples` the way lm-evaluation-harness writes and reads one
(EleutherAI/lm-evaluation-harness at 4e7e0d47f33bc71070c1d38394bafbb52b117163:
lm_eval/evaluator.py, lm_eval/loggers/evaluation_tracker.py, lm_eval/utils.py
get_results_filenames / get_sample_results_filenames / get_file_task_name /
get_file_datetime), with Python's own json and hashlib as the reference.

usage: lmeval_samples_check.py DIR RECORD.json
RECORD.json is rotbench's own record (`--json`).  Prints one line per task and
exits 1 on the first list of problems."""
import hashlib
import json
import math
import os
import sys

KEYS = ["doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter",
        "metrics", "doc_hash", "prompt_hash", "target_hash"]


def sha(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def lm_name(t):
    return "lambada_openai" if t == "lambada" else t


def dataset_docs(path, n, task):
    """The first n docs as lm-eval's task would see them, from the data file."""
    if task == "hellaswag":  # llama.cpp's layout: 6 lines per item
        lines = open(path, encoding="utf-8").read().split("\n")
        return [{"query": lines[6 * i], "choices": lines[6 * i + 2:6 * i + 6],
                 "gold": int(lines[6 * i + 1])} for i in range(n)]
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()][:n]
    if task == "piqa":  # gold from the labels file, as HF piqa's "label"
        labels = open(path[:-len(".jsonl")] + "-labels.lst").read().split()
        for i, r in enumerate(rows):
            r["label"] = int(labels[i])
    return rows


def main():
    d, record_path = sys.argv[1], sys.argv[2]
    rec = json.load(open(record_path, encoding="utf-8"))
    errors = []

    def expect(cond, msg):
        if not cond:
            errors.append(msg)

    # the way lm-eval's tools find the files of an output directory
    files = [os.path.join(d, f).replace(os.sep, "/") for f in os.listdir(d)]
    results = [f for f in files if "/results_" in f and ".json" in f]
    samples = [f for f in files if "/samples_" in f and ".json" in f]
    expect(len(results) == 1, f"want one results file, got {results}")
    res_path = results[0]
    res = json.load(open(res_path, encoding="utf-8"))
    date = os.path.basename(res_path)[len("results_"):-len(".json")]
    by_task = {}
    for f in samples:
        name = os.path.basename(f)
        task = name[name.find("_") + 1:name.rfind("_")]           # get_file_task_name
        stamp = name[name.rfind("_") + 1:].replace(".jsonl", "")  # get_file_datetime
        expect(stamp == date, f"{name}: date id {stamp} is not the results file's {date}")
        by_task[task] = f
    expect(set(by_task) == set(res["results"]),
           f"samples files for {sorted(by_task)}, results for {sorted(res['results'])}")
    data = rec["data"] if isinstance(rec["data"], list) else [rec["data"]]
    for (task, t), path in zip(rec["tasks"].items(), data):
        name = lm_name(task)
        if name not in by_task:
            errors.append(f"no samples file for {name}")
            continue
        raw = open(by_task[name], encoding="utf-8").read()
        lines = raw.split("\n")
        expect(lines[-1] == "", f"{name}: the file does not end with a newline")
        lines = lines[:-1]
        n = t["n_items"]
        expect(len(lines) == n, f"{name}: {len(lines)} lines for {n} items")
        docs = dataset_docs(path, n, task)
        metric_names = None
        sums = {}
        lls = []
        hashes = ""
        for i, line in enumerate(lines):
            s = json.loads(line)
            where = f"{name} line {i + 1}"
            # byte for byte what json.dumps(sample, ensure_ascii=False) writes
            expect(json.dumps(s, ensure_ascii=False) == line, f"{where}: not json.dumps' text")
            expect(list(s)[:len(KEYS)] == KEYS, f"{where}: keys {list(s)}")
            expect(type(s["doc_id"]) is int and s["doc_id"] == i, f"{where}: doc_id")
            expect(s["doc"] == docs[i], f"{where}: doc differs from the dataset's item")
            expect(list(s["doc"]) == list(docs[i]), f"{where}: doc key order")
            expect(type(s["target"]) is str, f"{where}: target is not a string")
            args = s["arguments"]
            k = len(args)
            expect(list(args) == [f"gen_args_{c}" for c in range(k)], f"{where}: arguments")
            for a in args.values():
                expect(list(a) == ["arg_0", "arg_1"] and all(type(v) is str for v in a.values()),
                       f"{where}: an argument is not {{arg_0: str, arg_1: str}}")
            expect(len(s["resps"]) == k and len(s["filtered_resps"]) == k,
                   f"{where}: {k} requests, {len(s['resps'])} resps")
            for r, fr in zip(s["resps"], s["filtered_resps"]):
                expect(type(r) is list and len(r) == 1 and r[0] == fr, f"{where}: resps nesting")
                expect(type(fr) is list and len(fr) == 2 and fr[1] in ("True", "False"),
                       f"{where}: filtered_resps entry {fr}")
                expect(repr(float(fr[0])) == fr[0], f"{where}: {fr[0]} is not str(float)")
            expect(s["filter"] == "none", f"{where}: filter")
            if metric_names is None:
                metric_names = s["metrics"]
            expect(s["metrics"] == metric_names, f"{where}: metrics {s['metrics']}")
            expect(list(s)[len(KEYS):] == metric_names, f"{where}: metric members")
            for m in metric_names:
                sums[m] = sums.get(m, []) + [s[m]]
            # the hashes as lm-eval computes them
            expect(s["doc_hash"] == sha(json.dumps(s["doc"], indent=2, ensure_ascii=False)),
                   f"{where}: doc_hash")
            expect(s["prompt_hash"] == sha(args["gen_args_0"]["arg_0"]), f"{where}: prompt_hash")
            expect(s["target_hash"] == sha(str(s["target"])), f"{where}: target_hash")
            hashes += s["doc_hash"] + s["prompt_hash"] + s["target_hash"]
            lls.append(float(s["filtered_resps"][0][0]))
            # the target as lm-eval's task yaml defines it
            doc = s["doc"]
            if task == "lambada":
                want = " " + doc["text"].split(" ")[-1]
            elif task == "winogrande":
                want = doc["sentence"][doc["sentence"].index("_") + 1:].strip()
            else:
                want = None
            if want is not None:
                expect(s["target"] == want, f"{where}: target {s['target']!r}, want {want!r}")
            else:
                expect(s["target"].isdigit() and int(s["target"]) < k, f"{where}: target")
        expect(res.get("task_hashes", {}).get(name) == sha(hashes), f"{name}: task_hashes")
        want_metrics = (["perplexity", "acc"] if task == "lambada"
                        else ["acc"] if task in ("boolq", "winogrande") else ["acc", "acc_norm"])
        expect(metric_names == want_metrics, f"{name}: metrics {metric_names}")
        r = res["results"][name]
        for m, v in sums.items():
            want_type = int if (task == "lambada" and m == "acc") else float
            expect(all(type(x) is want_type for x in v), f"{name}: {m} values are not {want_type}")
            if m == "perplexity":  # lm-eval's perplexity aggregation: exp(-mean ll)
                ppl = math.exp(-sum(v) / len(v))
                expect(abs(ppl - t["ppl"]) <= 1e-12 * t["ppl"], f"{name}: ppl {ppl} vs {t['ppl']}")
                continue
            mean = sum(v) / len(v)  # lm-eval's mean aggregation
            expect(mean == r[f"{m},none"], f"{name}: mean {m} {mean} vs results {r[f'{m},none']}")
            expect(mean == t[m], f"{name}: mean {m} {mean} vs the record's {t[m]}")
        print(f"{name}: {len(lines)} samples, {' '.join(f'{m}={sum(v)/len(v):.4f}' for m, v in sums.items())}")
    if errors:
        print("\n".join(errors[:40]))
        sys.exit(1)


main()
