"""A lab server without a server: the users file and its hashes, `attviz users`, the access
file, the store catalog of a signed-in user, and the `panel serve` command `attviz serve`
starts."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
from types import SimpleNamespace

import pytest

from attviz.cli import main
from attviz.errors import UserError
from attviz.explore.catalog import StoreCatalog
from attviz.explore.state import Explorer
from attviz.lab.access import Access
from attviz.lab.serve import HOOKS, derived_key, panel_command
from attviz.lab.users import Users, hash_password, verify_password
from tests.helpers.paths import ROOT

ACCESS = '[groups]\nnlp = ["bbc", "shared"]\nhate = ["tweets"]\n'


def attviz(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "attviz.cli", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=60)


# -- users ---------------------------------------------------------------------------------------

def test_hashes_are_salted_slow_and_verify():
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$32768$8$1$")  # a fresh salt each time
    assert verify_password("correct horse", a) and verify_password("correct horse", b)
    assert not verify_password("correct horsf", a)
    assert not verify_password("correct horse", "scrypt$broken")
    assert not verify_password("correct horse", "md5$" + a[7:])


def test_users_add_reads_stdin_and_never_writes_the_password(tmp_path):
    users = tmp_path / "users.json"
    r = attviz("users", "add", "alice", "--users", str(users), "--group", "nlp",
               stdin="s3cret-passphrase\n")
    assert r.returncode == 0, r.stderr
    r = attviz("users", "add", "bob", "--users", str(users), "--group", "nlp", "--group",
               "hate", stdin="another-passphrase\n")
    assert r.returncode == 0, r.stderr
    text = users.read_text()
    assert "s3cret-passphrase" not in text and "another-passphrase" not in text
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["users.json"]  # no temporary left
    known = Users.load(users)
    assert known.check("alice", "s3cret-passphrase").groups == ("nlp",)
    assert known.check("bob", "another-passphrase").groups == ("nlp", "hate")
    assert known.check("alice", "another-passphrase") is None
    assert known.check("nobody", "s3cret-passphrase") is None
    listed = attviz("users", "list", "--users", str(users)).stdout
    assert "alice\tnlp\tpassword" in listed and "scrypt" not in listed
    r = attviz("users", "remove", "bob", "--users", str(users))
    assert r.returncode == 0 and set(Users.load(users).users) == {"alice"}


@pytest.mark.parametrize("args,stdin,words", [
    (["add", "alice", "--group", "nlp"], "short\n", "at least 8"),
    (["add", "alice", "--group", "nlp"], "", "no password on stdin"),
    (["add", "alice", "--group", "n l p"], "long-enough-pw\n", "group"),
    (["add", " alice", "--group", "nlp"], "long-enough-pw\n", "user name"),
    (["add", "a\nb", "--group", "nlp"], "long-enough-pw\n", "control character"),
    (["add", "carol", "--group", "nlp"], "long-enough-pw\n", "exists already"),
    (["remove", "nobody"], None, "no user 'nobody'"),
])
def test_users_bad_input_is_one_line_and_changes_nothing(tmp_path, args, stdin, words):
    users = tmp_path / "users.json"
    Users({}).save(users)
    known = Users.load(users)
    known.add("carol", ["nlp"], "carols-passphrase")
    known.save(users)
    before = users.read_bytes()
    r = attviz("users", *args, "--users", str(users), stdin=stdin)
    assert r.returncode == 2 and words in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert users.read_bytes() == before


def test_update_replaces_password_and_groups(tmp_path):
    users = tmp_path / "users.json"
    known = Users()
    known.add("alice", ["nlp"], "first-passphrase")
    known.save(users)
    r = attviz("users", "add", "alice", "--users", str(users), "--group", "hate", "--update",
               stdin="second-passphrase\n")
    assert r.returncode == 0 and "updated alice" in r.stdout
    known = Users.load(users)
    assert known.check("alice", "first-passphrase") is None
    assert known.check("alice", "second-passphrase").groups == ("hate",)


def test_a_malformed_users_file_is_named(tmp_path):
    users = tmp_path / "users.json"
    users.write_text(json.dumps({"format": "attviz-users", "version": 1,
                                 "users": {"x": {"groups": "nlp"}}}))
    with pytest.raises(UserError, match="entry of user 'x'"):
        Users.load(users)
    users.write_text("{")
    with pytest.raises(UserError, match="not a readable attviz users file"):
        Users.load(users)


# -- access ---------------------------------------------------------------------------------------

@pytest.fixture
def lab_root(tmp_path, tiny_store):
    root = tmp_path / "stores"
    for rel in ("bbc/a.h5", "bbc/deeper/b.h5", "shared/s.h5", "tweets/t.h5", "top.h5"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_store, root / rel)
    (tmp_path / "access.toml").write_text(ACCESS)
    return root


def test_access_maps_groups_to_folders(lab_root):
    access = Access.load(lab_root.parent / "access.toml", lab_root)
    scope = access.scope("alice", ["nlp"])
    assert scope.folders == ((lab_root / "bbc").resolve(), (lab_root / "shared").resolve())
    assert scope.allows(lab_root / "bbc" / "deeper" / "b.h5")
    assert not scope.allows(lab_root / "tweets" / "t.h5") and not scope.allows(lab_root)
    assert not scope.allows(lab_root / "bbc" / ".." / "top.h5")
    assert access.scope("eve", ["unknown"]).folders == ()
    assert access.scope(None, ["nlp"]).folders == ()  # nobody signed in: nothing


@pytest.mark.parametrize("text,words", [
    ('[groups]\nnlp = ["../elsewhere"]\n', "not inside the store root"),
    ('[groups]\nnlp = "bbc"\n', "list of folder names"),
    ('[group]\nnlp = ["bbc"]\n', "one table, [groups]"),
    ('[groups\n', "not a readable access file"),
])
def test_a_bad_access_file_is_named(lab_root, text, words):
    path = lab_root.parent / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=words.replace("[", r"\[")):
        Access.load(path, lab_root)


def test_a_users_catalog_lists_and_opens_only_their_groups_stores(lab_root, caplog):
    scope = Access.load(lab_root.parent / "access.toml", lab_root).scope("alice", ["nlp"])
    assert StoreCatalog(lab_root, scope).names() == ["bbc/a.h5", "bbc/deeper/b.h5",
                                                     "shared/s.h5"]
    ex = Explorer(root=lab_root, scope=scope)
    assert ex.store_name == "bbc/a.h5" and ex.error == ""
    assert ex.param.store_name.objects == ["bbc/a.h5", "bbc/deeper/b.h5", "shared/s.h5"]
    with caplog.at_level(logging.WARNING, logger="attviz.explore"):
        assert not ex.request_store("tweets/t.h5")
    refused = ex.error
    assert "user 'alice'" in caplog.text and "tweets/t.h5" in caplog.text
    # the same sentence as for a path outside the root, whether or not the store exists
    for other in ("../outside.h5", "tweets/missing.h5"):
        assert not ex.request_store(other)
        assert ex.error == refused.replace("tweets/t.h5", other)
    assert ex.request_store("shared/s.h5") and ex.error == ""
    # a widget value naming another store: refused by the picker, and by the catalog too
    with pytest.raises(ValueError):
        ex.store_name = "tweets/t.h5"
    ex.param.store_name.objects = [*ex.param.store_name.objects, "tweets/t.h5"]
    ex.store_name = "tweets/t.h5"
    assert ex.opened is None and ex.error == refused


def test_without_a_user_or_groups_nothing_is_listed(lab_root):
    access = Access.load(lab_root.parent / "access.toml", lab_root)
    nobody = Explorer(root=lab_root, scope=access.scope(None, []))
    assert nobody.opened is None and "Sign-in is required" in nobody.error
    stranger = Explorer(root=lab_root, scope=access.scope("eve", ["unknown"]))
    assert stranger.opened is None and "No stores for eve" in stranger.error
    everyone = Explorer(root=lab_root)  # no access file: the root as before
    assert len(everyone.param.store_name.objects) == 5


# -- attviz serve ---------------------------------------------------------------------------------

def serve_args(lab_root, users, **extra):
    args = dict(root=str(lab_root), users=str(users), access=str(lab_root.parent / "access.toml"),
                port=5999, address="127.0.0.1", num_procs=2, cookie_secret=None,
                oauth_provider=None, allow_websocket_origin=["lab.example.org"],
                check_unused_sessions=5000, unused_session_lifetime=30000, apps=None,
                use_xheaders=False, idle_timeout=20.0, body_timeout=30.0,
                panel_args=["--", "--log-level", "debug"])
    args.update(extra)
    return SimpleNamespace(**args)


@pytest.fixture
def users_file(tmp_path):
    users = tmp_path / "users.json"
    known = Users()
    known.add("alice", ["nlp"], "alices-passphrase")
    known.save(users)
    return users


def test_serve_starts_panel_with_sign_in_and_keeps_the_secret_off_the_command_line(
        lab_root, users_file, monkeypatch):
    secret = "a-cookie-secret-of-some-length"
    monkeypatch.setenv("ATTVIZ_COOKIE_SECRET", secret)
    cmd, env = panel_command(serve_args(lab_root, users_file))
    assert cmd[1:7] == ["-m", "attviz.lab.launch", "--idle-timeout", "20.0", "--body-timeout",
                        "30.0"]
    assert cmd[7] == str(ROOT / "apps")
    joined = " ".join(cmd)
    assert f"--auth-module {HOOKS}" in joined and "--num-procs 2" in joined
    assert "--unused-session-lifetime 30000" in joined and "--check-unused-sessions 5000" in joined
    assert "--allow-websocket-origin lab.example.org" in joined
    assert joined.endswith(f"--log-level debug --args --root {lab_root.resolve()}")
    assert secret not in joined
    assert env["PANEL_COOKIE_SECRET"] == secret and "ATTVIZ_COOKIE_SECRET" not in env
    assert env["BOKEH_SIGN_SESSIONS"] == "true" and env["ATTVIZ_SIGN_IN"] == "password"
    assert env["BOKEH_SECRET_KEY"] == derived_key(secret, "bokeh sessions") != secret
    assert env["ATTVIZ_USERS"] == str(users_file.resolve())
    assert env["ATTVIZ_ACCESS"] == str((lab_root.parent / "access.toml").resolve())
    oauth, _ = panel_command(serve_args(lab_root, users_file, oauth_provider="github"))
    assert "--oauth-provider github" in " ".join(oauth) and "--auth-module" not in oauth


def test_serve_refuses_to_start_without_a_cookie_secret(lab_root, users_file, monkeypatch,
                                                        capsys):
    monkeypatch.delenv("ATTVIZ_COOKIE_SECRET", raising=False)
    base = ["serve", "--root", str(lab_root), "--users", str(users_file), "--access",
            str(lab_root.parent / "access.toml")]
    assert main(base) == 2
    assert "needs a cookie secret" in capsys.readouterr().err
    assert main([*base, "--cookie-secret", "short"]) == 2
    assert "at least 16" in capsys.readouterr().err
    (lab_root.parent / "access.toml").write_text('[groups]\nnlp = ["../x"]\n')
    assert main([*base, "--cookie-secret", "long-enough-secret-here"]) == 2
    assert "not inside the store root" in capsys.readouterr().err


def test_the_design_notes_name_every_lab_module():
    design = (ROOT / "docs" / "design.md").read_text()
    for path in sorted((ROOT / "attviz" / "lab").glob("*.py")):
        if path.name == "__init__.py":
            continue
        assert f"`{path.name}`" in design, f"docs/design.md does not name attviz/lab/{path.name}"
        assert path.read_text().startswith('"""'), path.name  # a docstring naming its job


# -- the server's memory allocator ----------------------------------------------------------------

def test_jemalloc_goes_before_what_the_user_preloads_and_their_malloc_conf_wins(monkeypatch):
    from attviz.lab import allocator

    monkeypatch.setattr(allocator, "find_jemalloc", lambda: "/lib/libjemalloc.so.2")
    env, said = allocator.allocator_env("auto", {"LD_PRELOAD": "/opt/libfoo.so", "A": "1"})
    assert env["LD_PRELOAD"] == "/lib/libjemalloc.so.2 /opt/libfoo.so"
    assert env["PYTHONMALLOC"] == "malloc" and env["A"] == "1"
    assert env["MALLOC_CONF"] == allocator.MALLOC_CONF and "background_thread:true" in env[
        "MALLOC_CONF"]
    assert said.startswith("jemalloc (/lib/libjemalloc.so.2)")
    again, _ = allocator.allocator_env("jemalloc", {**env, "MALLOC_CONF": "narenas:2"})
    assert again["LD_PRELOAD"] == env["LD_PRELOAD"]  # not preloaded twice
    assert again["MALLOC_CONF"] == "narenas:2"


def test_without_jemalloc_auto_keeps_pythons_allocator_and_jemalloc_refuses(monkeypatch):
    from attviz.lab import allocator

    monkeypatch.setattr(allocator, "find_jemalloc", lambda: None)
    env, said = allocator.allocator_env("auto", {"LD_PRELOAD": "/opt/libfoo.so"})
    assert env == {"LD_PRELOAD": "/opt/libfoo.so"} and "libjemalloc2" in said
    with pytest.raises(UserError, match="apt-get install libjemalloc2"):
        allocator.allocator_env("jemalloc", {})
    monkeypatch.setattr(allocator, "find_jemalloc", lambda: "/lib/libjemalloc.so.2")
    assert allocator.allocator_env("python", {"B": "2"})[0] == {"B": "2"}
    with pytest.raises(UserError, match="choose one of auto, jemalloc, python"):
        allocator.allocator_env("tcmalloc", {})


def test_a_forked_server_process_gets_its_own_password_checking_threads():
    import multiprocessing

    from attviz.lab import signin

    parent = signin.workers()
    assert parent.submit(lambda: 7).result(timeout=10) == 7  # its threads exist here
    child = multiprocessing.get_context("fork").Process(target=_check_in_a_worker)
    child.start()
    child.join(30)
    assert child.exitcode == 0  # a copied pool would never run the task: a timeout, exit 1
    assert signin.workers() is parent


def _check_in_a_worker() -> None:
    from attviz.lab import signin

    try:
        ok = signin.workers().submit(lambda: 7).result(timeout=10) == 7
    except Exception:
        ok = False
    os._exit(0 if ok else 1)


def test_release_memory_gives_jemallocs_freed_pages_back_at_once(tmp_path):
    from attviz.lab.allocator import allocator_env, find_jemalloc
    from tests.helpers.paths import require

    require("libjemalloc", find_jemalloc() is not None, "apt-get install libjemalloc2")
    script = tmp_path / "purge.py"
    script.write_text(
        "import psutil\n"
        "from attviz.lab.allocator import in_use\n"
        "from attviz.relations.service import release_memory\n"
        "p = psutil.Process()\n"
        "junk = [bytes(100) + str(i).encode() for i in range(1_000_000)]\n"
        "del junk\n"
        "freed = p.memory_info().rss\n"
        "release_memory()\n"
        "print(in_use(), freed - p.memory_info().rss)\n")
    env, _ = allocator_env("jemalloc", dict(os.environ, PYTHONPATH=str(ROOT)))
    env.pop("MALLOC_CONF")  # no background thread: pages stay until purged
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out[0] == "jemalloc"
    assert int(out[1]) > 40 * 2**20  # of ~150 MB freed, most went back with the purge
