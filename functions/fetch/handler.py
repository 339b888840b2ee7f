"""fetch: GETs request["url"] with urllib and returns {"status", "length"} (or {"error"}).

Networking after a snapshot restore: TCP connections opened before the snapshot are dead in the
restored VM (the peer and the NAT in front of it no longer know them). A handler that keeps a
connection across requests must expect that and reconnect. request["reuse"] shows the pattern:
the module opens a keep-alive connection at import time (before the function's snapshot point) to
the host:port in the optional file preconnect.txt next to this file, and the first request that
reuses it after a restore sees it fail and reconnects ({"reconnected": true, "stale_error": ...}).
"""
import http.client
import os
import time
import urllib.parse
import urllib.request

_HERE = os.path.dirname(os.path.abspath(__file__))
_conn = None  # the keep-alive connection opened at import time (None: none)
_conn_target = None


def _preconnect():
    global _conn, _conn_target
    try:
        with open(os.path.join(_HERE, "preconnect.txt")) as f:
            target = f.read().strip()
    except OSError:
        return
    host, _, port = target.rpartition(":")
    try:
        conn = http.client.HTTPConnection(host, int(port), timeout=3)
        conn.connect()
    except (OSError, ValueError):
        return  # no network (or no server) when the snapshot was built: nothing to keep
    _conn, _conn_target = conn, (host, int(port))


_preconnect()


def _get(conn, path):
    conn.request("GET", path, headers={"Connection": "keep-alive"})
    resp = conn.getresponse()
    return resp.status, len(resp.read())


def _reuse(url):
    global _conn, _conn_target
    parts = urllib.parse.urlsplit(url)
    target = (parts.hostname, parts.port or 80)
    path = parts.path or "/"
    stale_error = None
    if _conn is not None and _conn_target == target:
        try:
            status, length = _get(_conn, path)
            return {"status": status, "length": length, "reconnected": False}
        except (OSError, http.client.HTTPException) as e:
            stale_error = f"{type(e).__name__}: {e}"
            _conn.close()
    _conn = http.client.HTTPConnection(target[0], target[1], timeout=10)
    _conn_target = target
    status, length = _get(_conn, path)
    return {"status": status, "length": length, "reconnected": stale_error is not None, "stale_error": stale_error}


def handle(request):
    url = request["url"]
    start = time.monotonic()
    try:
        if request.get("reuse"):
            out = _reuse(url)
        else:
            with urllib.request.urlopen(url, timeout=request.get("timeout", 10)) as r:
                out = {"status": r.status, "length": len(r.read())}
    except Exception as e:  # the caller wants a clear answer, not a traceback
        out = {"error": f"{type(e).__name__}: {e}"}
    out["ms"] = round((time.monotonic() - start) * 1000, 3)
    return out
