"""Python half of .ci/observability-check (run with .ci/venv/bin/python).

  names SCRAPE DASHBOARD RULES   every metric the dashboard's queries (panels
                                 and template variables) and the alert rules
                                 name must be in the scraped /metrics text;
                                 histogram series (_bucket, _sum, _count)
                                 count as their family, and `up` (Prometheus'
                                 own) is allowed. Prints what is missing.
  dashboard-rules DASHBOARD OUT  write the dashboard's queries (Grafana
                                 variables filled in) as recording rules, for
                                 `promtool check rules` to parse
  lint PROMTOOL_OUTPUT           promtool check metrics' lint output minus the
                                 problems we accept (see below); prints the
                                 rest and fails on any.

Exits non-zero on a defect.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

# Series Prometheus makes itself for every target.
PROMETHEUS_OWN = {"up"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
# PromQL words that are not metric names when not followed by "(".
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan", "start", "end",
}
# Every lint problem promtool check metrics reports fails the check (the
# server describes every series: src/telemetry.rs).


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression (Grafana variables allowed)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\$\{[^}]*\}|\$\w+", " ", s)          # $__rate_interval, ${var}
    s = re.sub(r"\{[^}]*\}", " ", s)                   # label matchers
    s = re.sub(r"\[[^\]]*\]", " ", s)                  # range and subquery windows
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", s):
        word = m.group(0)
        if word.lower() in KEYWORDS or s[m.end():].lstrip().startswith("("):
            continue  # a keyword, a function or an aggregation
        names.add(word)
    return names


def variable_query_names(query: str) -> set[str]:
    """Metric names in a Grafana Prometheus variable query."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query, re.S)
    if m:
        return metric_names(m.group(1))
    if re.fullmatch(r"\s*label_values\(\s*\w+\s*\)\s*", query):
        return set()
    m = re.fullmatch(r"\s*(?:query_result|metrics)\((.*)\)\s*", query, re.S)
    return metric_names(m.group(1)) if m else metric_names(query)


def dashboard_names(path: Path) -> dict[str, set[str]]:
    """{metric name: where it is used} over the dashboard's panels (rows
    included) and query variables."""
    dash = json.loads(path.read_text())
    used: dict[str, set[str]] = {}

    def walk(panels: list[dict]) -> None:
        for p in panels:
            for t in p.get("targets") or []:
                for n in metric_names(t.get("expr", "")):
                    used.setdefault(n, set()).add(f"panel {p.get('title')!r}")
            walk(p.get("panels") or [])

    walk(dash.get("panels") or [])
    for v in (dash.get("templating") or {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        for n in variable_query_names(q):
            used.setdefault(n, set()).add(f"variable ${v.get('name')}")
    return used


def dashboard_queries(path: Path) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and query variable, with Grafana's
    variables replaced by values PromQL accepts."""
    dash = json.loads(path.read_text())
    out: list[tuple[str, str]] = []

    def fill(expr: str) -> str:
        expr = re.sub(r"\$__(rate_interval|interval|range)\b", "5m", expr)
        return re.sub(r"\$\{\w+(:\w+)?\}|\$\w+", ".*", expr)

    def walk(panels: list[dict]) -> None:
        for p in panels:
            for t in p.get("targets") or []:
                out.append((f"panel {p.get('title')!r} {t.get('refId')}", fill(t.get("expr", ""))))
            walk(p.get("panels") or [])

    walk(dash.get("panels") or [])
    for v in (dash.get("templating") or {}).get("list", []):
        if v.get("type") == "query":
            q = v.get("query")
            q = q.get("query", "") if isinstance(q, dict) else (q or "")
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q, re.S)
            if m:
                out.append((f"variable ${v.get('name')}", fill(m.group(1))))
    return out


def cmd_dashboard_rules(dashboard: str, out: str) -> int:
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr, "labels": {"from": where}}
        for i, (where, expr) in enumerate(dashboard_queries(Path(dashboard)))
    ]
    Path(out).write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, sort_keys=False))
    print(f"  {len(rules)} dashboard queries -> {out}")
    return 0


def rules_names(path: Path) -> dict[str, set[str]]:
    used: dict[str, set[str]] = {}
    for g in yaml.safe_load(path.read_text())["groups"]:
        for r in g["rules"]:
            what = r.get("alert") or r.get("record")
            for n in metric_names(r["expr"]):
                used.setdefault(n, set()).add(f"rule {what}")
    return used


def scraped_families(text: str) -> tuple[dict[str, str], set[str]]:
    """({family: type} from # TYPE lines, {sample names})."""
    types, samples = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
        elif line and not line.startswith("#"):
            samples.add(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0))
    return types, samples


def exported(name: str, types: dict[str, str], samples: set[str]) -> bool:
    if name in samples:
        return True
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) in ("histogram", "summary"):
            return True
    # A histogram family named without a suffix (not valid PromQL on its own,
    # but harmless to accept).
    return types.get(name) in ("histogram", "summary") and any(
        s.startswith(name + "_") for s in samples
    )


def cmd_names(scrape: str, dashboard: str, rules: str) -> int:
    types, samples = scraped_families(Path(scrape).read_text())
    used: dict[str, set[str]] = {}
    for source in (dashboard_names(Path(dashboard)), rules_names(Path(rules))):
        for n, where in source.items():
            used.setdefault(n, set()).update(where)
    missing = {
        n: where for n, where in used.items()
        if n not in PROMETHEUS_OWN and not exported(n, types, samples)
    }
    print(f"  {len(used)} metric name(s) used by {Path(dashboard).name} and {Path(rules).name}; "
          f"{len(types)} metric families scraped")
    for n in sorted(used):
        mark = "MISSING" if n in missing else ("prometheus" if n in PROMETHEUS_OWN else "ok")
        print(f"    {mark:10} {n}")
    if missing:
        print("observability-check: used but not exported by the running server:")
        for n in sorted(missing):
            print(f"  {n}  (in {', '.join(sorted(missing[n]))})")
        return 1
    return 0


def cmd_lint(output: str) -> int:
    bad = [line for line in Path(output).read_text().splitlines() if line.strip()]
    print(f"  promtool check metrics: {len(bad)} problem(s)")
    for line in bad:
        print(f"    {line}")
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["names"] and len(argv) == 4:
        return cmd_names(*argv[1:])
    if argv[:1] == ["dashboard-rules"] and len(argv) == 3:
        return cmd_dashboard_rules(*argv[1:])
    if argv[:1] == ["lint"] and len(argv) == 2:
        return cmd_lint(argv[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
