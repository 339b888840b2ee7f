# The standard library a Python function writer expects to find (issue 17): each module is used,
# not only imported, and the results are returned for the caller to check:
#   sqlite3   an in-memory database: create, insert, aggregate
#   ssl       OpenSSL linked, a default client context (verification on, hostname checked)
#   zoneinfo  Europe/Paris from the image's tzdata: +02:00 in July, +01:00 in January
#   decimal   the C implementation (_decimal): 0.1 + 0.2 == 0.3 exactly, 50 digits of 1/7
#   hashlib   sha256, sha3_256 and blake2b of b"snapfaas"
# Run as a script (scripts/build-rootfs.sh does, chrooted into the new image, reading it on stdin)
# it checks the results itself and exits 1 naming what failed.
import datetime
import decimal
import hashlib
import json
import sqlite3
import ssl
import sys
import zoneinfo


def handle(request):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (name TEXT, n INTEGER)")
    db.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("b", 2), ("c", 39)])
    total, count = db.execute("SELECT SUM(n), COUNT(*) FROM t").fetchone()
    db.close()

    context = ssl.create_default_context()
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    utc = datetime.timezone.utc
    summer = datetime.datetime(2024, 7, 1, 12, 0, tzinfo=utc).astimezone(paris)
    winter = datetime.datetime(2024, 1, 15, 12, 0, tzinfo=utc).astimezone(paris)

    with decimal.localcontext() as ctx:
        ctx.prec = 50
        seventh = str(decimal.Decimal(1) / decimal.Decimal(7))
    data = b"snapfaas"
    return {
        "sqlite3": {"sum": total, "count": count, "version": sqlite3.sqlite_version},
        "ssl": {"openssl": ssl.OPENSSL_VERSION, "verify_mode": int(context.verify_mode),
                "check_hostname": context.check_hostname},
        "zoneinfo": {"summer": summer.isoformat(), "winter": winter.isoformat(), "tzname": summer.tzname()},
        "decimal": {"sum": str(decimal.Decimal("0.1") + decimal.Decimal("0.2")),
                    "seventh": seventh, "c_implementation": _has_c_decimal()},
        "hashlib": {"sha256": hashlib.sha256(data).hexdigest(), "sha3_256": hashlib.sha3_256(data).hexdigest(),
                    "blake2b": hashlib.blake2b(data, digest_size=16).hexdigest()},
        "echo": request,
    }


def _has_c_decimal():
    try:
        import _decimal  # noqa: F401  (the libmpdec-backed module; _pydecimal is the slow fallback)
        return True
    except ImportError:
        return False


def failures(result):
    """What in `result` is not what a working standard library gives (empty: all well)."""
    want = {
        ("sqlite3", "sum"): 42, ("sqlite3", "count"): 3,
        ("ssl", "verify_mode"): int(ssl.CERT_REQUIRED), ("ssl", "check_hostname"): True,
        ("zoneinfo", "summer"): "2024-07-01T14:00:00+02:00", ("zoneinfo", "winter"): "2024-01-15T13:00:00+01:00",
        ("zoneinfo", "tzname"): "CEST",
        ("decimal", "sum"): "0.3", ("decimal", "seventh"): "0." + "142857" * 8 + "14",
        ("decimal", "c_implementation"): True,
        ("hashlib", "sha256"): "fea9f03b2f4b43c04f763d9d948f845f1e8f0a43eae1a21b582b30c72e07a6b8",
    }
    return [f"{a}.{b}: {result[a][b]!r} (want {v!r})" for (a, b), v in want.items() if result[a][b] != v]


if __name__ == "__main__":
    got = handle({})
    bad = failures(got)
    print(json.dumps(got))
    if bad:
        print("stdlib: " + "; ".join(bad), file=sys.stderr)
        sys.exit(1)
