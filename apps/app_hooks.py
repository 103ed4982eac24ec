"""Bokeh's request hook of the explorer app: what a page request adds to its session's token
(the signed-in user of the lab server, attviz.lab.identity; nothing without sign-in)."""

from attviz.lab.identity import request_identity


def process_request(request):
    return request_identity(request)
