"""The sign-in page of a lab server: a form posting ``username``, ``password`` and the form's
token to ``login``, with an optional notice (wrong password, signed out); and the sign-out
page, a button posting the user's sign-out token to ``logout``. Self-contained: no scripts,
no files from elsewhere; every value is escaped."""

from __future__ import annotations

import html
from string import Template

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>attviz: sign in</title>
<style>
  body { margin: 0; font: 15px system-ui, sans-serif; background: #f3f5f8; color: #1d2733; }
  .av-header { background: #1f4e79; color: white; font: 600 22px system-ui, sans-serif;
               padding: 10px 18px; }
  .av-header span { font-weight: 400; font-size: 15px; opacity: 0.8; margin-left: 10px; }
  main { max-width: 360px; margin: 72px auto; background: white; border: 1px solid #d7dde5;
         border-radius: 8px; padding: 26px 30px 30px; box-shadow: 0 2px 10px rgba(0,0,0,.06); }
  h1 { font-size: 20px; margin: 0 0 18px; }
  label { display: block; margin: 14px 0 5px; font-weight: 600; }
  input[type=text], input[type=password] { width: 100%; box-sizing: border-box; padding: 9px 10px;
         font-size: 15px; border: 1px solid #b9c2cd; border-radius: 5px; }
  input:focus { outline: 2px solid #1f4e79; outline-offset: 0; }
  button { margin-top: 22px; width: 100%; padding: 10px; font-size: 15px; font-weight: 600;
           color: white; background: #1f4e79; border: 0; border-radius: 5px; cursor: pointer; }
  .av-notice { padding: 10px 12px; border-radius: 5px; margin-bottom: 6px; }
  .av-notice.bad { background: #f8d7da; color: #842029; border: 1px solid #f5c2c7; }
  .av-notice.ok { background: #e7f1e9; color: #1e5130; border: 1px solid #bcd9c3; }
</style>
</head>
<body>
<div class="av-header">attviz <span>self-attention explorer</span></div>
<main>
$body
</main>
</body>
</html>
""")

SIGN_IN = Template("""<h1>Sign in</h1>
$notice
<form method="post" action="$action">
  <input type="hidden" name="next" value="$next">
  <input type="hidden" name="form_token" value="$form_token">
  <label for="username">User name</label>
  <input type="text" id="username" name="username" value="$username"
         autocomplete="username" $user_focus required>
  <label for="password">Password</label>
  <input type="password" id="password" name="password" autocomplete="current-password"
         $password_focus required>
  <button type="submit">Sign in</button>
</form>""")

SIGN_OUT = Template("""<h1>Sign out</h1>
<p>Signed in as <b>$user</b>. Signing out ends the sign-in of every browser of this user.</p>
<form method="post" action="$action">
  <input type="hidden" name="token" value="$token">
  <button type="submit" class="av-signout">Sign out</button>
</form>""")

NOTICES = {
    "wrong": ("bad", "Wrong user name or password."),
    "throttled": ("bad", "Too many failed sign-ins; try again in a few minutes."),
    "expired": ("bad", "This sign-in form has expired; please sign in again."),
    "signed-out": ("ok", "You are signed out."),
}


def login_page(action: str, next_url: str, form_token: str, username: str = "",
               notice: str | None = None) -> str:
    """The page, posting to ``action``; after sign-in the browser goes to ``next_url``."""
    text = ""
    if notice in NOTICES:
        kind, message = NOTICES[notice]
        text = f'<div class="av-notice {kind}" role="alert">{html.escape(message)}</div>'
    focus = ("", "autofocus") if username else ("autofocus", "")  # the field to type in
    return PAGE.substitute(body=SIGN_IN.substitute(
        notice=text, action=html.escape(action), next=html.escape(next_url),
        form_token=html.escape(form_token), username=html.escape(username),
        user_focus=focus[0], password_focus=focus[1]))


def signout_page(action: str, user: str, token: str) -> str:
    """A button posting ``token`` to ``action`` (the sign-out of ``user``)."""
    return PAGE.substitute(body=SIGN_OUT.substitute(
        action=html.escape(action), user=html.escape(user), token=html.escape(token)))
