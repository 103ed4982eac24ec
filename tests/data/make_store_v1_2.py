"""Write tests/data/store-v1.2.h5, the frozen store of format 1.2, and its expected values.

Run with the attviz that defines format 1.2 (again whenever 1.2 gains a dataset before it
is released); never re-run for later versions: the file is kept so that every later
attviz is tested against what 1.2 wrote.

    .venv/bin/python tests/data/make_store_v1_2.py

What 1.2 adds, all in one store: a 3-layer model precomputed with ``--layers 0,2`` (the
root attribute ``stored_layers``), ``--precision 8`` (log8 codes in /attention/self and
the profiles' means) and the default compression (Blosc2 and Zstandard filters of
hdf5plugin), with ``--entropy`` (every statistic per head, of every layer). The expected
values (store-v1.2.expected.json) are computed from the model directly with eager
attention, for every layer, not read back from the store.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from attviz.precompute.job import PrecomputeConfig, run
from attviz.testing import make_documents, save_tiny_classifier

HERE = Path(__file__).resolve().parent


def _stats(m: np.ndarray, special: list[bool]) -> dict:
    """[layers, heads] statistics of one instance from its maps [layers, heads, n, n]."""
    n = m.shape[-1]
    diag = np.diagonal(m, axis1=-2, axis2=-1)
    use = ~np.array(special) if not all(special) else np.ones(n, bool)
    h = -(m * np.log(np.maximum(m, 1e-300))).sum(-1)
    return {
        "self_mean": diag[..., use].mean(-1), "self_max": diag[..., use].max(-1),
        "first_mass": m[..., :, 0].mean(-1), "last_mass": m[..., :, n - 1].mean(-1),
        "entropy": (h / np.log(n)).mean(-1) if n > 1 else np.zeros(m.shape[:2]),
    }


def main() -> None:
    out = HERE / "store-v1.2.h5"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = save_tiny_classifier(tmp / "model", ["neg", "pos", "mixed"], layers=3,
                                         heads=2, hidden=16, max_positions=64, seed=11)
        docs = make_documents(7, seed=8, max_words=40)
        docs[3] = ("Café <b>£5</b> & \"quotes\" — ünïcödé", "mixed")
        frame = pd.DataFrame({
            "name": [f"doc-{i}" for i in range(len(docs))],
            "review": [t for t, _ in docs],
            "sentiment": ["neg", "pos", "mixed", "", "pos", "neg", "mixed"],
        })
        corpus = tmp / "reviews.csv"
        frame.to_csv(corpus, index=False)
        cfg = PrecomputeConfig(model=str(model_dir), data=str(corpus), out=str(tmp / "s.h5"),
                               text_column="review", label_column="sentiment", id_column="name",
                               max_length=16, stride=3, entropy=True, layers="0,2",
                               precision=8)
        run(cfg, progress=False)
        shutil.copy(tmp / "s.h5", out)

        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, attn_implementation="eager").eval()
        enc = tok(frame["review"].tolist(), truncation=True, max_length=16, stride=3,
                  return_overflowing_tokens=True, return_offsets_mapping=True,
                  return_special_tokens_mask=True)
        instances = []
        seg_of_doc: dict[int, int] = {}
        for w, d in enumerate(enc["overflow_to_sample_mapping"]):
            ids = enc["input_ids"][w]
            with torch.no_grad():
                o = model(input_ids=torch.tensor([ids]), output_attentions=True)
            maps = torch.stack([a[0] for a in o.attentions]).double().numpy()
            stats = _stats(maps, [bool(x) for x in enc["special_tokens_mask"][w]])
            seg_of_doc[d] = seg_of_doc.get(d, -1) + 1
            instances.append({
                "document_id": frame["name"][d],
                "segment": seg_of_doc[d],
                "token_ids": ids,
                "tokens": tok.convert_ids_to_tokens(ids),
                "attention": np.diagonal(maps, axis1=-2, axis2=-1).transpose(2, 0, 1)
                             .round(8).tolist(),  # every layer
                "probabilities": torch.softmax(o.logits[0], -1).numpy().round(7).tolist(),
                "stats": {k: v.round(6).tolist() for k, v in stats.items()},
            })
        expected = {
            "label_names": ["neg", "pos", "mixed"],
            "num_layers": 3,
            "num_heads": 2,
            "stored_layers": [0, 2],
            "precision": 8,
            "labels": [["neg", "pos", "mixed", None, "pos", "neg", "mixed"][
                int(frame.index[frame["name"] == i["document_id"]][0])] for i in instances],
            "texts": frame["review"].tolist(),
            "instances": instances,
        }
        (HERE / "store-v1.2.expected.json").write_text(json.dumps(expected, indent=0))
    print(f"wrote {out} ({out.stat().st_size} bytes), {len(instances)} instances")


if __name__ == "__main__":
    main()
