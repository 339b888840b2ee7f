"""echo: returns the request unchanged (round-trip checks of the request path)."""


def handle(request):
    return request
