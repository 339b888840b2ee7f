"""raiser: e2e test function — raises on {"raise": msg}, returns {"big": n} as n bytes, else echoes."""


def handle(request):
    if isinstance(request, dict) and "raise" in request:
        raise ValueError("boom " + str(request["raise"]))
    if isinstance(request, dict) and "big" in request:
        return "x" * int(request["big"])
    return request
