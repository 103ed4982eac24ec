"""Write tests/data/store-v1.0.h5, the frozen store of format 1.0, and its expected values.

Run once, with the attviz that introduced format 1.0; never re-run for later versions:
the file is kept so that every later attviz is tested against what 1.0 wrote.

    .venv/bin/python tests/data/make_store_v1_0.py

The expected values (store-v1.0.expected.json) are computed from the model directly with
eager attention, not read back from the store.
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


def main() -> None:
    out = HERE / "store-v1.0.h5"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = save_tiny_classifier(tmp / "model", ["neg", "pos", "mixed"], layers=2,
                                         heads=2, hidden=16, max_positions=64)
        docs = make_documents(6, seed=7, max_words=40)
        docs[2] = ("Café <b>£5</b> & \"quotes\" — ünïcödé", "mixed")
        frame = pd.DataFrame({
            "name": [f"doc-{i}" for i in range(len(docs))],
            "review": [t for t, _ in docs],
            "sentiment": ["neg", "pos", "mixed", "", "pos", "neg"],
        })
        corpus = tmp / "reviews.csv"
        frame.to_csv(corpus, index=False)
        cfg = PrecomputeConfig(model=str(model_dir), data=str(corpus), out=str(tmp / "s.h5"),
                               text_column="review", label_column="sentiment", id_column="name",
                               max_length=16, stride=3)
        run(cfg, progress=False)
        shutil.copy(tmp / "s.h5", out)

        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tok = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, attn_implementation="eager").eval()
        enc = tok(frame["review"].tolist(), truncation=True, max_length=16, stride=3,
                  return_overflowing_tokens=True, return_offsets_mapping=True)
        instances = []
        seg_of_doc: dict[int, int] = {}
        for w, d in enumerate(enc["overflow_to_sample_mapping"]):
            ids = enc["input_ids"][w]
            with torch.no_grad():
                o = model(input_ids=torch.tensor([ids]), output_attentions=True)
            diag = torch.stack([torch.diagonal(a[0], dim1=-2, dim2=-1) for a in o.attentions])
            seg_of_doc[d] = seg_of_doc.get(d, -1) + 1
            instances.append({
                "document_id": frame["name"][d],
                "segment": seg_of_doc[d],
                "token_ids": ids,
                "tokens": tok.convert_ids_to_tokens(ids),
                "attention": diag.permute(2, 0, 1).numpy().round(6).tolist(),
                "probabilities": torch.softmax(o.logits[0], -1).numpy().round(7).tolist(),
            })
        expected = {
            "label_names": ["neg", "pos", "mixed"],
            "num_layers": 2,
            "num_heads": 2,
            "labels": [["neg", "pos", "mixed", None, "pos", "neg"][
                int(frame.index[frame["name"] == i["document_id"]][0])] for i in instances],
            "texts": frame["review"].tolist(),
            "instances": instances,
        }
        (HERE / "store-v1.0.expected.json").write_text(json.dumps(expected, indent=0))
    print(f"wrote {out} ({out.stat().st_size} bytes), {len(instances)} instances")
    _ = np


if __name__ == "__main__":
    main()
