"""aggregate: groups JSON records and computes per-group statistics (standard library only).

Request: {"records": [{"region": "eu", "ms": 12.5}, ...], "group_by": "region", "field": "ms"}
Response: {"groups": {"eu": {"count", "sum", "mean", "min", "max", "p50", "p95", "stdev"}, ...},
           "total": N, "skipped": N}
Records without the group key or with a non-numeric field are counted in "skipped".
"""
import math
import statistics


def _percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending, non-empty list (q in 0..100)."""
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[rank - 1]


def handle(request):
    records = request.get("records", [])
    key = request.get("group_by", "key")
    field = request.get("field", "value")
    groups, skipped = {}, 0
    for record in records:
        value = record.get(field) if isinstance(record, dict) else None
        if not isinstance(record, dict) or key not in record or isinstance(value, bool) \
                or not isinstance(value, (int, float)):
            skipped += 1
            continue
        groups.setdefault(str(record[key]), []).append(float(value))
    result = {}
    for name in sorted(groups):
        values = sorted(groups[name])
        result[name] = {
            "count": len(values),
            "sum": math.fsum(values),
            "mean": statistics.fmean(values),
            "min": values[0],
            "max": values[-1],
            "p50": _percentile(values, 50),
            "p95": _percentile(values, 95),
            "stdev": statistics.pstdev(values),
        }
    return {"groups": result, "total": len(records), "skipped": skipped}
