"""Loaded first by a Python started with tests.helpers.probing.env(): records what a server
registers and imports, for tests that look at it from outside (see tests/helpers/probing.py).

Every Tornado application built in the process writes its routes (pattern, handler class) to
``routes-PID.json`` in the folder the environment names; SIGUSR1 writes the names of the
imported modules to ``modules-PID.json`` there."""

import os

_DIR = os.environ.get("ATTVIZ_TEST_PROBE", "").strip()

if _DIR:
    import json
    import signal
    import sys

    import tornado.web

    def _write(name, data):
        tmp = os.path.join(_DIR, f".{name}.tmp")
        with open(tmp, "w") as f:
            json.dump(data, f)
        os.replace(tmp, os.path.join(_DIR, name))

    _init = tornado.web.Application.__init__

    def _recording_init(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        rules = []
        for rule in self.wildcard_router.rules:
            target = rule.target
            name = f"{target.__module__}.{target.__qualname__}" if isinstance(target, type) \
                else repr(target)
            rules.append([rule.matcher.regex.pattern, name])
        _write(f"routes-{os.getpid()}.json", rules)

    tornado.web.Application.__init__ = _recording_init

    def _modules(signum, frame):  # noqa: ARG001
        _write(f"modules-{os.getpid()}.json", sorted(sys.modules))

    signal.signal(signal.SIGUSR1, _modules)
