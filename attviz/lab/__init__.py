"""Serving attviz to a lab: the users file and its password hashes (users.py), which groups
see which store folders (access.py), sign-in for the server (signin.py, the login page in
loginpage.py), who a browser session belongs to (session.py) and `attviz serve` (serve.py)."""
