"""Bokeh's property defaults, computed once: every read of a property that was not set (when
a model is made, and for each property when a model is serialised) makes its default
anew: the class's overridden defaults merged over its whole MRO, the default copied and
validated, and whether it may be unstable asked of every nested property type. That was
half of the server's CPU for a page open or a first corpus view (py-spy), for values that
never change.

:func:`install` (once per process) keeps, on each property object, what those steps give
for it: whether its default may be unstable (a function of the property alone), and its
default per model class where that default is an immutable value (None, a number, a
string, a tuple of those): mutable defaults (lists, dicts, models, functions that make
them) are made anew as before, and a default that the document's theme overrides is
looked up as before. Each class's merged overridden defaults are kept per class.
"""

from __future__ import annotations

import weakref
from typing import Any

_installed = False
ORIGINALS: dict[str, Any] = {}  # what install replaced, by "Class.method" (for tests)
_IMMUTABLE = (type(None), bool, int, float, str, bytes)


def _immutable(value: Any) -> bool:
    if isinstance(value, tuple):
        return all(_immutable(v) for v in value)
    return isinstance(value, _IMMUTABLE)  # str subclasses too: Bokeh's enum values


def install() -> None:
    """Put the caches in place (once per process; later calls do nothing)."""
    global _installed
    if _installed:
        return
    from bokeh.core import has_props
    from bokeh.core.property import bases, instance

    _cache_unstable(bases.Property, bases.ParameterizedProperty, bases.ContainerProperty,
                    instance.Object)
    _cache_themed_default(bases.Property)
    _cache_overridden_defaults(has_props.HasProps)
    _installed = True


def _cache_unstable(*classes: type) -> None:
    """``_may_have_unstable_default`` of each class kept on the property object (under a key
    per class: a subclass's method calls its base's)."""
    for cls in classes:
        original = cls.__dict__["_may_have_unstable_default"]
        ORIGINALS[f"{cls.__name__}._may_have_unstable_default"] = original
        key = f"_attviz_unstable_{cls.__module__}.{cls.__qualname__}"

        def cached(self, original=original, key=key) -> bool:
            found = self.__dict__.get(key)
            if found is None:
                found = self.__dict__[key] = bool(original(self))
            return found

        cls._may_have_unstable_default = cached


def _cache_themed_default(cls: type) -> None:
    original = ORIGINALS["Property.themed_default"] = cls.themed_default

    def themed_default(self, owner, name, theme_overrides, *, no_eval=False):
        if theme_overrides is not None and name in theme_overrides:
            return original(self, owner, name, theme_overrides, no_eval=no_eval)
        cache = self.__dict__.get("_attviz_defaults")
        if cache is None:
            cache = self.__dict__["_attviz_defaults"] = weakref.WeakKeyDictionary()
        per_class = cache.get(owner)
        if per_class is None:
            per_class = cache[owner] = {}
        hit = per_class.get((name, no_eval), _MISSING)
        if hit is not _MISSING:
            return hit
        value = original(self, owner, name, None, no_eval=no_eval)
        if _immutable(value):
            per_class[(name, no_eval)] = value
        return value

    cls.themed_default = themed_default


def _cache_overridden_defaults(cls: type) -> None:
    original = ORIGINALS["HasProps._overridden_defaults"] = (
        cls.__dict__["_overridden_defaults"].__func__)
    merged: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _overridden_defaults(klass) -> dict[str, Any]:
        found = merged.get(klass)
        if found is None:
            found = merged[klass] = original(klass)
        return found  # read only (Property.themed_default is its one caller)

    cls._overridden_defaults = classmethod(_overridden_defaults)


class _Missing:
    pass


_MISSING = _Missing()
