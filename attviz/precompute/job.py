"""The precompute job: corpus -> model -> store, in durable blocks that a restart skips.

Documents are grouped in corpus order into blocks (attviz/extract/block.py plans and
computes them). Each finished block is written whole to ``OUT.partial/`` (attviz/partial.py);
a restarted job skips finished blocks; when all are done they are assembled into OUT and
the partial folder is removed. Shard ``i`` of ``n`` takes a contiguous range of blocks, so
shards hold whole documents and, concatenated in order, equal the single-process store.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import UserError
from ..store import Store, StoreError, StoreMeta, assemble, codec
from ..version import __version__
from . import pipeline
from .corpus import (
    Corpus,
    CorpusError,
    bad_rows_error,
    read_corpus,
    rows_by_reason,
    skipped_summary,
)
from .extract.block import (
    BATCH_SIZE,
    BLOCK_SIZE,
    BlockSettings,
    plan_blocks,
    shard_blocks,
)
from .labels import UNKNOWN_LABEL, corpus_labels, label_names, model_labels_note
from .layerspec import EXAMPLES as LAYER_EXAMPLES
from .layerspec import parse as parse_layers
from .layerspec import resolve as resolve_layers
from .partial import block_path, partial_folder, prepare
from .pipeline import Blocks
from .windows import check_window


def _arg(help: str, **kw):
    return field(metadata={"help": help, **kw.pop("meta", {})}, **kw)


@dataclass(frozen=True)
class PrecomputeConfig:
    """Everything a precompute run depends on; recorded in the store as provenance."""

    model: str = _arg("model folder or hub id of an AutoModelForSequenceClassification",
                      meta={"required": True})
    data: str = _arg("corpus file: .csv, .tsv, .jsonl or .parquet", meta={"required": True})
    out: str = _arg("store file to write (written under a temporary name, renamed when done)",
                    meta={"required": True})
    text_column: str = _arg("column holding the document text", default="text")
    label_column: str | None = _arg(
        "column holding gold labels (names from the model's id2label, or class indices); "
        "omit for an unlabelled corpus", default=None)
    id_column: str | None = _arg("column holding document ids (default: the row number)",
                                 default=None)
    max_length: int = _arg("tokens per window, special tokens included; longer documents are "
                           "split into several windows (instances)", default=128)
    stride: int = _arg("tokens shared by consecutive windows of a document", default=0)
    batch_size: int = _arg("instances per forward pass (length-sorted)", default=BATCH_SIZE)
    device: str = _arg("auto (CUDA when present), cpu, cuda, cuda:1, ...", default="auto")
    dtype: str = _arg("float32, or float16 / bfloat16 on GPU", default="float32")
    attention: str = _arg("auto (fused kernel with log-sum-exp where the model allows, else "
                          "eager), fused or eager", default="auto")
    streams: str = _arg(
        "forward passes run at once on a CPU, torch's threads split among them: auto (2 "
        "where torch has 2 or more threads, 1 on a GPU) or a number; it changes no number "
        "beyond the last bits of a matrix product, so a restart may use another",
        default="auto")
    entropy: bool = _arg("also store each head's mean row entropy / log(n) per instance (one "
                         "more attention kernel call per layer)", default=False)
    layers: str | None = _arg(
        "store the diagonals of these layers only (the statistics per head and the corpus "
        "profiles still cover every layer): comma-separated layers and ranges, counted from "
        "0, negative from the end (-1 the last layer); A-B from A to B, A- from A to the "
        f"last, e.g. {LAYER_EXAMPLES.replace('  ', ', ')} (-4-: the last four; a spec that "
        "starts with '-' is written --layers=-4-)", default=None)
    precision: int = _arg(
        "bits per stored value: 16 (float16) or 8 (one byte, logarithmic code: within 2.75%% "
        "of the value above 1e-6, within 1e-6 below; half the size)", default=16)
    compression: str = _arg(
        "compression of the store: zstd (Blosc2 and Zstandard; readers need the hdf5plugin "
        "package, which attviz installs), gzip or lzf (HDF5's own, slower or larger), none",
        default=codec.ZSTD)
    importance: bool = _arg("also store each head's importance dL/dg per instance (a gate g "
                            "on the head's output; L the cross-entropy of the gold label, else "
                            "the predicted one): one backward pass per batch, about 2x the "
                            "time", default=False)
    limit: int | None = _arg("use only the first N rows (documents) of the corpus", default=None)
    skip_bad_rows: bool = _arg("leave out rows with empty or undecodable text, bad ids or "
                               "unknown labels (listed in a summary) instead of stopping",
                               default=False)
    block_size: int = _arg("about this many instances per durable block (restart unit)",
                           default=BLOCK_SIZE)
    shard: int | None = _arg("process only shard SHARD (0-based) of --shards", default=None)
    shards: int = _arg("number of shards the corpus is split into (by document)", default=1)
    overwrite: bool = _arg("replace an existing store at --out", default=False)

    @property
    def blocks(self) -> BlockSettings:
        """The settings that shape each block's numbers (the stored layers come with the
        model: :func:`resolve_layers`)."""
        return BlockSettings(self.max_length, self.stride, self.batch_size, self.block_size,
                             precision=self.precision)

    def job_key(self, corpus_sha256: str, model_fp: dict) -> str:
        """Identifies the numbers a run produces; a restart must match it to reuse blocks."""
        # not paths (the content hashes identify corpus and model) nor sharding and streams
        # (they do not change the numbers)
        skip = {"out", "overwrite", "shard", "shards", "data", "streams"}
        if model_fp.get("model_weights_sha256"):
            skip.add("model")
        cfg = {k: v for k, v in asdict(self).items() if k not in skip}
        blob = json.dumps({"config": cfg, "corpus": corpus_sha256, "model": model_fp,
                           "attviz": __version__}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class Result:
    out: Path
    instances: int
    documents: int
    seconds: float
    attention_path: str
    accuracy: float | None
    skipped: list[tuple[int, str]]
    reused_blocks: int = 0
    already_complete: bool = False
    loop_seconds: float = 0.0  # tokenising, extracting, writing and assembling; not loading


# which label the loss of /instances/head_stats/importance is of (a provenance attribute)
IMPORTANCE_LABEL = "gold; predicted where the gold label is -1"


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# A seam for tests: called with (OUT.partial folder, block number) before a block is
# computed (tests pause a run there to kill or requeue it at a known point).
before_block: Callable[[Path, int], None] | None = None


def run(cfg: PrecomputeConfig, progress: bool = True) -> Result:
    """Run (or resume) the precompute described by ``cfg``. Returns a summary.

    Sets no signal handler, so it runs in any thread. Whatever stops it (an exception, a
    kill) leaves the finished blocks in OUT.partial/ for the next run; the ``attviz
    precompute`` command turns SIGTERM into exit status 143.
    """
    from .extract.fingerprint import model_fingerprint

    t_start = time.time()
    out = Path(cfg.out)
    _check_sharding(cfg)
    # Bad rows are set aside here and reported with the bad labels found below, so that one
    # message names every kind of bad row in the file.
    corpus = read_corpus(cfg.data, cfg.text_column, cfg.label_column, cfg.id_column,
                         skip_bad_rows=True, limit=cfg.limit)
    fingerprint = model_fingerprint(cfg.model)  # hashes the weights: once per run
    key = cfg.job_key(corpus.sha256, fingerprint)
    partial = partial_folder(out)
    if out.exists():
        done = _already_done(out, cfg, key, corpus)
        if done is not None:
            return done

    # torch and transformers are loaded only when there is work to do
    from .extract import Extractor, load_model, load_tokenizer, resolve_device, resolve_dtype
    from .extract.streams import resolve_streams

    device = resolve_device(cfg.device)
    resolve_streams(cfg.streams, device)  # a bad --streams stops the run before the model loads
    dtype = resolve_dtype(cfg.dtype, device)
    tokenizer, config = load_tokenizer(cfg.model)
    check_window(tokenizer, config, cfg.max_length, cfg.stride)
    names = label_names(config.id2label)
    corpus, labels = _labelled(corpus, names, cfg)

    model = load_model(cfg.model, device, dtype, config)
    extractor = Extractor(model, tokenizer.pad_token_id, cfg.attention, entropy=cfg.entropy,
                          importance=cfg.importance, streams=cfg.streams)
    meta, stored = _store_meta(cfg, names, extractor, key)
    starts = plan_blocks(corpus.texts, cfg.block_size, cfg.max_length)
    mine = shard_blocks(len(starts) - 1, cfg.shard or 0, cfg.shards)
    prepare(partial, key, asdict(cfg))
    done_blocks = {b for b in mine if block_path(partial, b).exists()}
    work = Blocks(cfg, corpus, labels, starts, mine, partial,
                  background=pipeline.beside(device))
    t_loop, vocab_size = time.time(), len(tokenizer)
    with work.tokenised(tokenizer, done_blocks) as tokenised:
        work.compute(done_blocks, vocab_size, tokenised, extractor, meta, progress,
                     before_block=before_block)

    provenance = _provenance(cfg, corpus, key, model, tokenizer, extractor, device,
                             fingerprint)
    final_meta = StoreMeta(names, extractor.num_layers, extractor.num_heads, provenance,
                           stored_layers=stored)
    # With --overwrite the old store stays until the new one replaces it (atomic rename).
    tally = pipeline.Tally()
    assemble([block_path(partial, b) for b in mine], out, final_meta, _vocab(tokenizer),
             tokenizer_json=_tokenizer_json(tokenizer), precision=cfg.precision,
             compression=cfg.compression, on_part=tally.add)
    shutil.rmtree(partial, ignore_errors=True)
    return Result(out, tally.instances, tally.documents, time.time() - t_start,
                  extractor.description, tally.accuracy, corpus.skipped,
                  reused_blocks=len(done_blocks), loop_seconds=time.time() - t_loop)


def _store_meta(cfg: PrecomputeConfig, names: list[str], extractor, key: str):
    """(the blocks' StoreMeta, the stored layers or None for every layer), announced."""
    _log(f"attviz: attention path: {extractor.description}")
    stored = resolve_layers(cfg.layers, extractor.num_layers)
    if stored is not None:
        _log(f"attviz: storing the diagonals of layers {', '.join(map(str, stored))} of "
             f"{extractor.num_layers}")
    if extractor.gate_problem:
        kind = extractor.model.config.model_type
        _log(f"attviz: --importance: {kind}: {extractor.gate_problem}; the store gets no "
             "importance")
    meta = StoreMeta(names, extractor.num_layers, extractor.num_heads, {"job_key": key},
                     stored_layers=stored)
    return meta, stored


def _check_sharding(cfg: PrecomputeConfig) -> None:
    if cfg.shards < 1:
        raise UserError("--shards must be at least 1")
    if cfg.shard is not None and not 0 <= cfg.shard < cfg.shards:
        raise UserError(f"--shard {cfg.shard} is not in 0..{cfg.shards - 1}")
    if cfg.shards > 1 and cfg.shard is None:
        raise UserError("--shards N needs --shard I (which shard this process computes)")
    if cfg.batch_size < 1 or cfg.block_size < 1:
        raise UserError("--batch-size and --block-size must be at least 1")
    try:
        codec.parse_precision(cfg.precision)
    except ValueError as e:
        raise UserError(str(e)) from None
    if cfg.compression not in codec.COMPRESSIONS:
        raise UserError(f"--compression {cfg.compression}: choose one of "
                        f"{', '.join(codec.COMPRESSIONS)}")
    if cfg.layers is not None:
        parse_layers(cfg.layers)  # a bad spec is named before the model loads


def _already_done(out: Path, cfg: PrecomputeConfig, key: str, corpus: Corpus) -> Result | None:
    """The result of a complete store at ``out`` from the same job; None when ``out`` may be
    replaced (``--overwrite``); raise when it is another job's store."""
    if _existing_store_key(out, cfg) == key and not cfg.overwrite:
        _log(f"attviz: {out} is already complete for these settings; nothing to do")
        # a run killed between writing the store and removing its blocks left them
        shutil.rmtree(partial_folder(out), ignore_errors=True)
        with Store(out) as s:
            return Result(out, s.n_instances, s.n_documents, 0.0,
                          str(s.meta.provenance.get("attention_path", "")), None,
                          corpus.skipped, already_complete=True)
    if not cfg.overwrite:
        raise FileExistsError(f"{out} exists (from other settings); "
                              "pass --overwrite to replace it")
    return None


def _labelled(corpus: Corpus, names: list[str], cfg: PrecomputeConfig):
    """(corpus, labels): the rows whose labels the model knows, or one error naming every
    bad row (without --skip-bad-rows)."""
    corpus, labels = corpus_labels(corpus, names, skip_bad_rows=True)
    if corpus.skipped and not cfg.skip_bad_rows:
        bad_labels = any(reason.startswith(UNKNOWN_LABEL) for _, reason in corpus.skipped)
        raise bad_rows_error(corpus.path, rows_by_reason(corpus.skipped),
                             model_labels_note(names) if bad_labels else "")
    if corpus.skipped:
        _log(f"attviz: {len(corpus.skipped)} row(s) left out (--skip-bad-rows):\n"
             + skipped_summary(corpus.skipped))
    if len(corpus) == 0:
        raise CorpusError(f"{cfg.data}: no documents left to precompute")
    return corpus, labels


def _provenance(cfg: PrecomputeConfig, corpus: Corpus, key: str, model, tokenizer, extractor,
                device, fingerprint: dict) -> dict:
    """What the store records of how it was made."""
    from .extract import model_provenance

    return {
        **model_provenance(cfg.model, model, tokenizer, fingerprint),
        "attviz_version": __version__,
        "attention_path": extractor.description,
        "device": str(device),
        "dtype": cfg.dtype,
        "corpus_path": str(Path(cfg.data).resolve()),
        "corpus_sha256": corpus.sha256,
        "text_column": cfg.text_column,
        "label_column": cfg.label_column or "",
        "id_column": cfg.id_column or "",
        "max_length": cfg.max_length,
        "stride": cfg.stride,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "precompute_config": json.dumps(asdict(cfg), sort_keys=True),
        "job_key": key,
        "shard": -1 if cfg.shard is None else cfg.shard,
        "shards": cfg.shards,
        "skipped_rows": len(corpus.skipped),
        **({"importance_label": IMPORTANCE_LABEL} if extractor.importance else {}),
    }


def _existing_store_key(out: Path, cfg: PrecomputeConfig) -> str | None:
    """The job key of the store at ``out``, if it holds the same shard as ``cfg`` asks for."""
    try:
        with Store(out) as s:
            prov = s.meta.provenance
            same_shard = (int(prov.get("shard", -1)), int(prov.get("shards", 1))) == (
                -1 if cfg.shard is None else cfg.shard, cfg.shards)
            return (str(prov.get("job_key", "")) or None) if same_shard else None
    except (StoreError, ValueError, TypeError):
        return None


def _tokenizer_json(tokenizer) -> bytes | None:
    """tokenizer.json of a fast tokenizer, stored so that queries tokenize without the model."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend.to_str().encode("utf-8") if backend is not None else None


def _vocab(tokenizer) -> list[str]:
    n = len(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(list(range(n)))
    return [t if t is not None else f"[{i}]" for i, t in enumerate(tokens)]

