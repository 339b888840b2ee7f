"""hello: the smallest function; ignores the request."""


def handle(request):
    return {"body": "hello, world!"}
