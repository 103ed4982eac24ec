"""Windows: lengths, overlap (stride), character spans."""

import pytest

from attviz.precompute.windows import check_window, segment_documents
from attviz.testing import make_documents, make_model, make_tokenizer


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


def test_windows_cover_the_document_with_overlap(tok):
    text = make_documents(1, seed=3, min_words=200, max_words=200)[0][0]
    seg = segment_documents(tok, [text], max_length=24, stride=5)
    full = tok(text, add_special_tokens=False)["input_ids"]
    assert len(seg) > 1 and (seg.lengths <= 24).all()
    assert seg.segment.tolist() == list(range(len(seg)))
    inner = [ids[~sp].tolist() for ids, sp in zip(seg.input_ids, seg.special)]
    for a, b in zip(inner, inner[1:]):
        assert a[-5:] == b[:5]  # consecutive windows share `stride` tokens
    rebuilt = inner[0] + [t for w in inner[1:] for t in w[5:]]
    assert rebuilt == full


def test_spans_point_into_segment_text(tok):
    docs = [t for t, _ in make_documents(5, seed=4, max_words=80)]
    seg = segment_documents(tok, docs, max_length=16, stride=0)
    vocab = tok.convert_ids_to_tokens(list(range(len(tok))))
    for ids, spans, special, text, d in zip(seg.input_ids, seg.spans, seg.special, seg.text,
                                             seg.document):
        assert text in docs[d]
        assert (spans[special] == -1).all()
        for t, (a, b) in zip(ids[~special], spans[~special]):
            assert text[a:b].lower() == vocab[t].removeprefix("##")


def test_check_window_limits(tok):
    model = make_model(["a", "b"], len(tok), max_positions=64)
    check_window(tok, model.config, 64, 10)
    with pytest.raises(ValueError, match="more than the model takes"):
        check_window(tok, model.config, 65, 0)
    with pytest.raises(ValueError, match="--stride"):
        check_window(tok, model.config, 16, 14)


def test_slow_tokenizer_refused():
    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match="fast tokenizer"):
        segment_documents(Slow(), ["x"], 16)


def test_the_test_tokenizer_is_the_same_in_every_process():
    """Tests and their trained models rely on the same token ids in every run."""
    import json
    import subprocess
    import sys

    code = ("import json; from attviz.testing import make_tokenizer; t = make_tokenizer(); "
            "print(json.dumps([sorted(t.get_vocab().items(), key=lambda x: x[1]), "
            "t.tokenize('The striker scored; hello!')]))")
    runs = [json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                      text=True, check=True).stdout) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    vocab, pieces = runs[0]
    assert [w for w, _ in vocab[:5]] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert pieces[:2] == ["the", "striker"] and "##o" in pieces  # a word it lacks: pieces
