import numpy as np
import pytest

from attviz.store import Part, StringArray


def test_string_array_round_trip_with_unicode_and_empty():
    items = ["", "£5 café", "tab\tnew\nline", "<script>alert(1)</script>", ""]
    s = StringArray.from_list(items)
    assert s.to_list() == items
    assert [s[i] for i in range(len(items))] == items
    assert s.offsets[0] == 0 and s.offsets[-1] == len(s.data)
    assert s.take(1, 3).to_list() == items[1:3]


def test_string_array_concat():
    a, b = StringArray.from_list(["x", "yy"]), StringArray.from_list(["", "zzz"])
    assert StringArray.concat([a, b]).to_list() == ["x", "yy", "", "zzz"]


def _part(n_inst=2, tokens=(3, 2), layers=2, heads=3, classes=4, docs=1):
    t = sum(tokens)
    return Part(
        token_count=list(tokens), label=[0] * n_inst, prediction=[1] * n_inst,
        probabilities=np.full((n_inst, classes), 0.25), document=[0] * n_inst,
        segment=list(range(n_inst)), text=StringArray.from_list(["ab"] * n_inst),
        attention=np.zeros((t, layers, heads)), token_id=np.arange(t), span=np.zeros((t, 2)),
        special=np.zeros(t, bool), document_ids=StringArray.from_list(["d"] * docs),
        document_row=list(range(docs)),
    )


def test_part_validates_lengths():
    _part()
    with pytest.raises(ValueError, match="attention"):
        Part(**{**_part().__dict__, "attention": np.zeros((4, 2, 3))})
    with pytest.raises(ValueError, match="document index"):
        Part(**{**_part().__dict__, "document": np.array([0, 1])})


def test_part_concat_shifts_documents():
    p = Part.concat([_part(), _part()])
    assert p.document.tolist() == [0, 0, 1, 1]
    assert p.n_tokens == 10 and len(p.document_ids) == 2
