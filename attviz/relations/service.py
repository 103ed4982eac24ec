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
class AblationRequest:
    """Switch ``heads`` ((layer, head) pairs) off and run the model named by the store's
    ``provenance`` on the instances' ``token_ids`` (a list of [tokens] arrays, or a function
    that reads them, called in the worker), a batch of
    ``batch_size`` at a time; ``progress(done, total)`` after each batch; ``current()``
    False stops the job before its next batch (cancelled or superseded)."""

    provenance: dict
    token_ids: list
    heads: list
    batch_size: int = 16
    model_root: str | None = None
    near: str | None = None
    current: Callable[[], bool] = field(default=lambda: True)
    progress: Callable[[int, int], None] | None = None


@dataclass
class Outcome:
    """A request's result (``relations``, or ``ablation``: an
    :class:`attviz.relations.ablation.Ablation` run to the end) or why there is none
    (``message``, one sentence)."""

    relations: object | None = None
    message: str = ""
    model: str = ""
    ablation: object | None = None


def _no_libraries(what: str) -> str:
    missing = missing_libraries()
    if not missing:
        return ""
    return (f"{what} need the model libraries, which this server lacks "
            f"({' and '.join(missing)}): pip install 'attviz[model]'.")


def release_memory() -> None:
    """Give freed heap memory back to the operating system, so that a large request's maps
    do not stay in the server's resident size: glibc's ``malloc_trim``, and where the
    process runs on jemalloc (`attviz serve`, :mod:`attviz.lab.allocator`) a purge of all
    its arenas (``arena.<all>.purge``)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        mallctl = ctypes.CDLL(None).mallctl  # only where jemalloc is loaded
    except (OSError, AttributeError):
        return
    mallctl.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                        ctypes.c_size_t]
    mallctl(b"arena.4096.purge", None, None, None, 0)  # 4096: MALLCTL_ARENAS_ALL


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

    def submit_ablation(self, request: AblationRequest, done: Callable[[Outcome], None]
                        ) -> Future:
        """Run ``request`` in the worker one batch at a time: each batch is a task of its
        own, so requests of other sessions run between them. ``done(outcome)`` is called
        at the end unless the request stopped being current; the future returned resolves
        then (to the outcome, or None when stopped)."""
        finished: Future = Future()

        def end(outcome: Outcome | None) -> None:
            if outcome is None:
                self.dropped += 1
            else:
                done(outcome)
            finished.set_result(outcome)

        def step(job, model_name: str) -> None:
            if not request.current():
                return end(None)
            try:
                job.step()
            except Exception as e:  # noqa: BLE001 - shown in the view; the server goes on
                return end(Outcome(message=_failed(e)))
            finally:
                release_memory()
            if request.progress is not None:
                request.progress(job.done, job.total)
            if job.finished:
                self.runs += 1
                return end(Outcome(ablation=job, model=model_name)
                           if request.current() else None)
            self._executor.submit(step, job, model_name)

        def start() -> None:
            if not request.current():
                return end(None)
            outcome = self._start_ablation(request)
            if outcome.ablation is None:
                return end(outcome)
            step(outcome.ablation, outcome.model)

        self._executor.submit(start)
        return finished

    def _start_ablation(self, request: AblationRequest) -> Outcome:
        message = _no_libraries("Switching heads off needs the model; ablations")
        if message:
            return Outcome(message=message)
        try:
            source = locate(request.provenance, request.model_root, request.near)
            model = self.models.get(source)
            from .ablation import Ablation

            ids = request.token_ids() if callable(request.token_ids) else request.token_ids
            job = Ablation(model, ids, request.heads, request.batch_size)
        except Unavailable as e:
            return Outcome(message=str(e))
        except Exception as e:  # noqa: BLE001 - shown in the view; the server goes on
            return Outcome(message=_failed(e))
        return Outcome(ablation=job, model=source.name)

    def run(self, request: Request) -> Outcome:
        """Compute ``request`` in the calling thread."""
        message = _no_libraries("Relations")
        if message:
            return Outcome(message=message)
        try:
            source = locate(request.provenance, request.model_root, request.near)
            model = self.models.get(source)
            from .compute import run

            rel = run(model, request.token_ids, request.layer, request.target,
                      request.gradient)
        except Unavailable as e:
            return Outcome(message=str(e))
        except Exception as e:  # noqa: BLE001 - shown in the view; the server goes on
            return Outcome(message=_failed(e))
        finally:
            release_memory()
        self.runs += 1
        return Outcome(relations=rel, model=source.name)


def _failed(e: Exception) -> str:
    if type(e).__name__ == "CannotGate":  # attviz.precompute.extract.gates (imports torch)
        return f"The heads of this model cannot be switched off: {e}."
    return (f"The model failed on this instance ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else 'no message'}).")


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
