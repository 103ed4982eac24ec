"""A lab server (`attviz serve`) over raw HTTP and Bokeh's websocket protocol, no browser:
every route but the login page and static files goes to login, the sign-in cookie, the
websocket refusals, per-group stores, and a session that ends in the middle of an update."""

from __future__ import annotations

import asyncio
import base64
import gc
import re
import time
import weakref

from tornado.web import create_signed_value

from attviz.lab.users import Users
from tests.helpers.lab import (
    USERS,
    LabServer,
    cookies_set,
    goes_to_login,
    post_login,
    request,
    signed_in,
)
from tests.helpers.paths import require
from tests.helpers.served import served_here
from tests.helpers.waiting import until_async
from tests.helpers.wsclient import TOKEN_RE, Refused, Session, picker, server_up, sign_in

PROTECTED = ["/", "/apps", "/apps?store=bbc/news.h5&instance=3",
             "/apps/autoload.js?bokeh-autoload-element=x&bokeh-app-path=/apps",
             "/apps/metadata"]
PUBLIC = ["/static/js/bokeh.min.js", "/static/extensions/panel/panel.min.js"]


def test_every_route_but_login_and_static_files_goes_to_login(lab):
    for path in PROTECTED:
        resp = request(lab, "GET", path)
        assert goes_to_login(resp, path), (path, resp.status, resp.getheader("Location"))
    for path in PUBLIC:
        assert request(lab, "GET", path).status == 200, path
    page = request(lab, "GET", "/login?next=/apps")
    assert page.status == 200
    assert 'name="username"' in page.text and 'name="password"' in page.text
    assert request(lab, "POST", "/apps", {"x": "1"}).status in (302, 403, 405)


def test_sign_in_sets_a_signed_cookie_that_nothing_else_can_make(lab, lab_files):
    wrong = post_login(lab, "alice", "nope")
    assert wrong.status == 401 and "Wrong user name or password." in wrong.text
    assert "user" not in cookies_set(wrong)
    cookie = signed_in(lab, "alice")
    page = request(lab, "GET", "/apps", cookie=cookie)
    assert page.status == 200 and TOKEN_RE.search(page.text)
    # the signed value holds GENERATION:NAME (base64); another name under alice's signature
    value = cookie.split("user=", 1)[1].split(";")[0].strip('"')
    field = value.split("|")[4]
    generation = base64.b64decode(field.split(":", 1)[1]).decode().split(":", 1)[0]
    bob = base64.b64encode(f"{generation}:bob".encode()).decode()
    bob_with_alices_signature = cookie.replace(field, f"{len(bob)}:{bob}")
    assert bob_with_alices_signature != cookie
    forged = ["user=alice", "user=" + create_signed_value("another-secret-entirely", "user",
                                                          "alice").decode(),
              bob_with_alices_signature]
    for bad in forged:
        assert goes_to_login(request(lab, "GET", "/apps", cookie=bad), "/apps"), bad
    # a user removed from the users file is signed out at their next request
    users_file = lab_files[1]
    known = Users.load(users_file)
    known.add("dave", ["nlp"], "daves-passphrase")
    known.save(users_file)
    dave = asyncio.run(sign_in(lab.base, "dave", "daves-passphrase"))
    assert request(lab, "GET", "/apps", cookie=dave).status == 200
    known.remove("dave")
    known.save(users_file)
    assert goes_to_login(request(lab, "GET", "/apps", cookie=dave), "/apps")
    # signing out (a post with the user's sign-out token, as the page's button sends it)
    # forgets the cookie
    token = re.search(r'name="token" value="([^"]+)"',
                      request(lab, "GET", "/logout", cookie=cookie).text).group(1)
    out = request(lab, "POST", "/logout", {"token": token}, cookie=cookie)
    assert goes_to_login(out, "/logout") and "signed_out=1" in out.getheader("Location")
    cleared = cookies_set(out)["user"]
    assert cleared.startswith('user="";') and "expires=" in cleared.lower()


def test_a_websocket_needs_the_cookie_and_a_session_id_the_server_signed(lab):
    from bokeh.util.token import generate_jwt_token, generate_session_id

    cookie = signed_in(lab, "alice")

    async def attempt(cookie: str, token: str | None) -> str:
        s = Session(lab.base, cookie=cookie)
        try:
            await s.connect(token if token is not None else await page_token(cookie))
        except Refused as e:
            return f"refused: {e}"
        finally:
            await s.close()
        return "accepted"

    async def page_token(cookie: str) -> str:
        return TOKEN_RE.search(await Session(lab.base, cookie=cookie).page()).group(1)

    async def run():
        valid = await page_token(cookie)
        unsigned = generate_jwt_token(generate_session_id(secret_key=None, signed=False),
                                      secret_key=None, signed=False)
        other_key = b"a-key-this-server-never-saw-0123456789"
        foreign = generate_jwt_token(generate_session_id(secret_key=other_key, signed=True),
                                     secret_key=other_key, signed=True)
        return {
            "no cookie": await attempt("", valid),
            "forged cookie": await attempt("user=alice", valid),
            "unsigned session id": await attempt(cookie, unsigned),
            "foreign signature": await attempt(cookie, foreign),
            "signed in, issued id": await attempt(cookie, None),
        }

    results = asyncio.run(run())
    assert results["signed in, issued id"] == "accepted"
    assert results["no cookie"].startswith("refused: websocket refused: HTTP 403")
    assert results["forged cookie"].startswith("refused: websocket refused: HTTP 403")
    assert results["unsigned session id"].startswith("refused: no ACK")
    assert results["foreign signature"].startswith("refused: no ACK")
    assert "Invalid token signature" in lab.output()


def test_each_user_sees_and_opens_only_their_groups_stores(lab):
    async def run():
        alice = Session(lab.base, cookie=await sign_in(lab.base, "alice", USERS["alice"][1]))
        await alice.open()
        bob = Session(lab.base, cookie=await sign_in(lab.base, "bob", USERS["bob"][1]))
        await bob.open()
        seen = {"alice": [v for v, _ in alice.attr(picker(alice), "options")],
                "bob": [v for v, _ in bob.attr(picker(bob), "options")],
                "alice header": alice.text_with("av-user"), "bob header": bob.text_with("av-user")}
        # a widget value naming another group's store: the same refusal as ?store=
        await alice.set(picker(alice), "value", "tweets/tweets.h5")
        await alice.wait_for(lambda: "refused" in (alice.text_with("av-error") or ""))
        seen["widget"] = alice.text_with("av-error")
        for s in (alice, bob):
            await s.close()
        refused = {}
        for store in ("tweets/tweets.h5", "../stores/tweets/tweets.h5", "/etc/passwd"):
            s = Session(lab.base, cookie=alice.cookie, query=f"?store={store}")
            await s.open()
            refused[store] = s.text_with("av-error")
            await s.close()
        return seen, refused

    seen, refused = asyncio.run(run())
    assert seen["alice"] == ["bbc/news.h5", "shared/common.h5"]
    assert seen["bob"] == ["tweets/tweets.h5"]
    assert "alice" in seen["alice header"] and "bob" in seen["bob header"]
    sentence = refused["tweets/tweets.h5"]
    assert "tweets/tweets.h5: not inside the store folder" in sentence and "refused" in sentence
    assert seen["widget"] == sentence
    for store, text in refused.items():
        assert text == sentence.replace("tweets/tweets.h5", store, 1), store
    log = lab.output()
    assert "refused store 'tweets/tweets.h5' to user 'alice'" in log
    assert "refused store '/etc/passwd' to user 'alice'" in log


def test_a_client_gone_in_the_middle_of_an_update_leaves_no_session_behind(tiny_store):
    """The app served in this process, so that its sessions' objects can be watched."""
    from attviz.explore.app import build_app
    from attviz.explore.state import Explorer

    sessions: list[weakref.ref] = []

    def app():
        ex = Explorer(store=tiny_store)
        sessions.append(weakref.ref(ex))
        return build_app(explorer=ex)

    def others_alive(keep) -> int:
        gc.collect()
        return sum(r() is not None for r in sessions if r is not keep)

    async def run(base: str):
        await server_up(base)
        # the first page of a process sets up what every session shares (and moves it out
        # of the garbage collector's sight, with that session): count the ones after it
        del sessions[:]
        gone = Session(base)
        await gone.open()
        nxt = next(m for m in gone.find(None, "label") if gone.attr(m, "label") == "next ›")
        layer = next(m for m in gone.find(None, "title") if gone.attr(m, "title") == "layer")
        await gone.click(nxt)
        await gone.set(layer, "value", 0)
        gone.drop()  # the server is still working on both
        stays = Session(base)
        await stays.open()
        keep = sessions[-1]
        before = stays.text_with("av-instance")
        await stays.click(next(m for m in stays.find(None, "label")
                               if stays.attr(m, "label") == "next ›"))
        await stays.wait_for(lambda: stays.text_with("av-instance") != before)
        await until_async(lambda: others_alive(keep) == 0, "the dropped session is cleaned up",
                          timeout=30)
        assert keep() is not None and not stays.closed  # the connected one is kept
        await stays.close()
        await until_async(lambda: others_alive(None) == 0, "the closed session is cleaned up",
                          timeout=30)

    with served_here(app) as base:
        asyncio.run(run(base))


def test_a_server_of_several_processes_signs_in_and_stops_all_of_them(lab_files):
    import psutil

    server = LabServer(*lab_files, num_procs=2)
    try:
        tree = [server.proc.pid] + [p.pid for p in
                                    psutil.Process(server.proc.pid).children(recursive=True)]
        assert len(tree) >= 4  # attviz serve, panel's parent, its 2 forked processes
        assert request(server, "GET", "/login").status == 200
        for _ in range(4):  # new connections: the kernel spreads them over both processes
            cookie = signed_in(server, "alice")  # the password is checked in a worker thread
            assert request(server, "GET", "/apps", cookie=cookie).status == 200
    finally:
        server.stop()
    assert server.proc.returncode == 128 + 15  # SIGTERM
    deadline = time.time() + 20
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
              for p in tree):
        assert time.time() < deadline, "a server process outlived attviz serve"
        time.sleep(0.1)


def test_the_server_processes_use_jemalloc_where_installed_and_pythons_own_when_asked(
        lab, lab_files):
    import psutil

    from attviz.lab.allocator import find_jemalloc, in_use

    require("libjemalloc", find_jemalloc() is not None, "apt-get install libjemalloc2")
    assert in_use(lab.proc.pid) == "jemalloc"
    assert psutil.Process(lab.proc.pid).environ()["PYTHONMALLOC"] == "malloc"
    assert "memory: jemalloc" in lab.output()
    own = LabServer(*lab_files, "--allocator", "python")
    try:
        assert request(own, "GET", "/login").status == 200
        assert in_use(own.proc.pid) == "python"
        assert "PYTHONMALLOC" not in psutil.Process(own.proc.pid).environ()
    finally:
        own.stop()
