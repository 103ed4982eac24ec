"""Bokeh's property defaults computed once (attviz.explore.bokehdefaults): for every Bokeh and
Panel model class and every property, the kept values are Bokeh's own."""

from __future__ import annotations

import panel as pn  # noqa: F401 - Panel's model classes are registered too
from bokeh.model import Model

from attviz.explore import bokehdefaults as B


def classes() -> list[type]:
    return sorted(set(Model.model_class_reverse_map.values()), key=lambda c: c.__qualname__)


def same(a, b) -> bool:
    if isinstance(a, Model) or isinstance(b, Model):  # made anew each time
        return type(a) is type(b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
        return True  # nan
    return type(a) is type(b) and a == b


def test_kept_defaults_are_bokehs_own():
    B.install()
    original = B.ORIGINALS["Property.themed_default"]
    merged = B.ORIGINALS["HasProps._overridden_defaults"]
    checked = kept = 0
    for cls in classes():
        assert cls._overridden_defaults() == merged(cls)
        for name in cls.properties():
            prop = cls.lookup(name).property
            for _ in range(2):  # the second read comes from the cache where there is one
                got = prop.themed_default(cls, name, None)
                want = original(prop, cls, name, None)
                assert same(got, want), (cls, name, got, want)
            kept += (name, False) in prop.__dict__.get("_attviz_defaults", {}).get(cls, {})
            checked += 1
    assert checked > 5000 and kept > checked // 4  # most defaults are plain values


def test_mutable_defaults_are_made_anew_and_theme_overrides_still_apply():
    from bokeh.models import Plot

    B.install()
    prop = Plot.lookup("renderers").property
    a, b = prop.themed_default(Plot, "renderers", None), prop.themed_default(Plot, "renderers",
                                                                              None)
    assert a == b == [] and a is not b  # a list: each model its own
    width = Plot.lookup("width").property
    assert width.themed_default(Plot, "width", None) == 600
    assert width.themed_default(Plot, "width", {"width": 321}) == 321  # a theme's value


def test_unstable_flags_are_bokehs_own():
    B.install()
    originals = {k.split(".")[0]: v for k, v in B.ORIGINALS.items()
                 if k.endswith("_may_have_unstable_default")}
    for cls in classes():
        for name in cls.properties():
            prop = cls.lookup(name).property
            owner = next(c for c in type(prop).__mro__ if c.__name__ in originals
                         and "_may_have_unstable_default" in c.__dict__)
            assert prop._may_have_unstable_default() == originals[owner.__name__](prop)
