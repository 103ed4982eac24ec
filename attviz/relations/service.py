"""The relations of a server process: one worker thread runs every request, off the event
loop, with the models loaded once (at most two kept).

A session submits a :class:`Request` with a callback; a request whose ``current()`` says it
has been superseded (a newer selection of the same session) is dropped before it runs.
Torch is imported by the worker, on the first request.

The worker runs torch with one thread (``ATTVIZ_RELATIONS_THREADS`` to change): the server's
event loop and the browsers share the cores, and on a busy 2-core machine one thread ran a
request 2-15 times faster than two (docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .models import ModelCache, Unavailable, locate, missing_libraries

MAX_MODELS = 2
ENV_THREADS = "ATTVIZ_RELATIONS_THREADS"


@dataclass
class Request:
    """What a session asks for: its instance's token ids ([tokens]) run through the model
    named by the store's ``provenance``, the maps of ``layer`` kept; ``gradient``: also the
    gradient-weighted rollout for class ``target`` (None: the predicted class)."""

    provenance: dict
    token_ids: np.ndarray
    layer: int
    gradient: bool = False
    target: int | None = None
    model_root: str | None = None
    near: str | None = None  # the store's folder, where the model may be too
    current: Callable[[], bool] = field(default=lambda: True)


@dataclass
class Outcome:
    """A request's result (``relations``) or why there is none (``message``, one sentence)."""

    relations: object | None = None
    message: str = ""
    model: str = ""


def release_memory() -> None:
    """Give freed heap memory back to the operating system (glibc), so that a large
    request's maps do not stay in the server's resident size."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class RelationsService:
    """Runs requests one at a time in a worker thread; keeps at most ``max_models`` models."""

    def __init__(self, max_models: int = MAX_MODELS) -> None:
        self.models = ModelCache(max_models)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="attviz-relations",
                                            initializer=_worker_threads)
        self.runs = 0
        self.dropped = 0

    def submit(self, request: Request, done: Callable[[Outcome], None]) -> Future:
        """Run ``request`` in the worker; ``done(outcome)`` is called there unless the
        request was superseded meanwhile."""
        def work() -> None:
            if not request.current():
                self.dropped += 1
                return
            outcome = self.run(request)
            if request.current():
                done(outcome)
            else:
                self.dropped += 1

        return self._executor.submit(work)

    def run(self, request: Request) -> Outcome:
        """Compute ``request`` in the calling thread."""
        missing = missing_libraries()
        if missing:
            return Outcome(message="Relations need the model libraries, which this server "
                           f"lacks ({' and '.join(missing)}): pip install 'attviz[model]'.")
        try:
            source = locate(request.provenance, request.model_root, request.near)
            model = self.models.get(source)
            from .compute import run

            rel = run(model, request.token_ids, request.layer, request.target,
                      request.gradient)
        except Unavailable as e:
            return Outcome(message=str(e))
        except Exception as e:  # noqa: BLE001 - shown in the view; the server goes on
            return Outcome(message=f"The model failed on this instance ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else 'no message'}).")
        finally:
            release_memory()
        self.runs += 1
        return Outcome(relations=rel, model=source.name)


def _worker_threads() -> None:
    """Torch's threads for the worker thread only (OpenMP keeps the setting per thread)."""
    if missing_libraries():
        return
    import torch

    try:
        torch.set_num_threads(max(1, int(os.environ.get(ENV_THREADS, "1"))))
    except ValueError:
        torch.set_num_threads(1)


_service: RelationsService | None = None
_service_lock = threading.Lock()


def service() -> RelationsService:
    """The process's service, made on first use."""
    global _service
    with _service_lock:
        if _service is None:
            _service = RelationsService()
        return _service
