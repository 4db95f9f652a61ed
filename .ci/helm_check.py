"""Python half of .ci/helm-check (run with .ci/helm-venv/bin/python).

  sdk CHART OUT [VALUES]     lint (strict) and render the chart with the Helm v4
                             Go SDK (helm-python-sdk); write the manifests to OUT
  validate -k V... FILES     validate rendered manifests: kubernetes-validate in
                             strict mode per Kubernetes version, duplicate YAML
                             keys, the chart's security/probe invariants
  compare A B                the same objects from both Helm implementations
  reject CHART VALUES        the SDK must refuse VALUES (schema/template check)
  dockerfile DOCKERFILE CHART  the image and the chart agree (uid, ports,
                             entrypoint, binary path)

Exits non-zero on any defect.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

RELEASE = "roster"
NAMESPACE = "roster"
# The only kinds without a schema in kubernetes-validate: CRDs of the
# Prometheus Operator. They are checked by hand below instead.
UNSCHEMED = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
# What the monitoring objects carry (paths from the repository root, where
# .ci/helm-check runs): the PrometheusRule's spec is the rules file, the
# dashboard ConfigMap holds the dashboard JSON under this label.
CHART_DIR = Path("helm/roster")
RULES_FILE = CHART_DIR / "alerts" / "roster.rules.yaml"
DASHBOARD_FILE = CHART_DIR / "dashboards" / "roster.json"
DASHBOARD_LABEL = ("grafana_dashboard", "1")
SEVERITIES = {"critical", "warning", "info"}

errors: list[str] = []


def fail(msg: str) -> None:
    errors.append(msg)
    print(f"FAIL {msg}")


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys (the API server would
    keep only one of them, or reject the object)."""


def _mapping(loader: StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_docs(text: str, origin: str) -> list[dict]:
    try:
        return [d for d in yaml.load_all(text, Loader=StrictLoader) if d]
    except yaml.YAMLError as e:
        fail(f"{origin}: {e}")
        return []


def ident(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


# ---------------------------------------------------------------- sdk


def cmd_sdk(chart: str, out: str, values_file: str | None) -> None:
    import helm_python as helm

    label = values_file or "default values"
    values = helm.values_from_yaml(Path(values_file).read_text()) if values_file else None
    report = helm.lint(chart, values, strict=True, namespace=NAMESPACE, kube_version="v1.37.0")
    # Severity: 1 info, 2 warning, 3 error; strict lint fails on warnings too.
    for m in report.get("messages", []):
        tag = {1: "INFO", 2: "WARNING", 3: "ERROR"}.get(m.get("severity"), "UNKNOWN")
        print(f"  sdk lint [{tag}] {m.get('path')}: {m.get('error')}")
        if m.get("severity", 0) >= 2 or tag == "UNKNOWN":
            fail(f"helm-python-sdk lint ({label}): {m.get('path')}: {m.get('error')}")
    for e in report.get("errors", []):
        fail(f"helm-python-sdk lint ({label}): {e}")

    with helm.Chart.load(chart) as c:
        chart_name = c.name
        try:
            rendered = c.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm.HelmError as e:
            fail(f"helm-python-sdk render ({label}): {e}")
            return
    notes = rendered.pop(f"{chart_name}/templates/NOTES.txt", "")
    if "grpcurl" not in notes:
        fail(f"NOTES.txt ({label}) does not explain grpcurl access")
    docs = []
    for name in sorted(rendered):
        if rendered[name].strip():
            docs.append(f"---\n# Source: {name}\n{rendered[name].strip()}\n")
    Path(out).write_text("".join(docs))
    print(f"  sdk lint+render ({label}): {len(docs)} template(s) -> {out}")


def cmd_reject(chart: str, values_file: str) -> None:
    import helm_python as helm

    values = helm.values_from_yaml(Path(values_file).read_text())
    with helm.Chart.load(chart) as c:
        try:
            c.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm.HelmError as e:
            print(f"  sdk refused as expected: {str(e).strip().splitlines()[-1]}")
            return
    fail(f"helm-python-sdk accepted values it must refuse: {values_file}")


# ---------------------------------------------------------------- validate


def check_pod_spec(where: str, spec: dict, server: bool) -> None:
    psc = spec.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != 10001:
        fail(f"{where}: pod securityContext must run as non-root uid 10001")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        fail(f"{where}: pod seccompProfile must be RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        fail(f"{where}: automountServiceAccountToken must be false")
    for c in spec.get("containers", []):
        cw = f"{where} container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            fail(f"{cw}: readOnlyRootFilesystem must be true")
        if sc.get("allowPrivilegeEscalation") is not False:
            fail(f"{cw}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            fail(f"{cw}: capabilities must drop ALL")
        if sc.get("runAsNonRoot") is not True:
            fail(f"{cw}: runAsNonRoot must be true")
        res = c.get("resources") or {}
        if not (res.get("requests") and (res.get("limits") or {}).get("memory")):
            fail(f"{cw}: resources need requests and a memory limit")
        if server:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                grpc = (c.get(probe) or {}).get("grpc")
                if not grpc or not isinstance(grpc.get("port"), int):
                    fail(f"{cw}: {probe} must be a native grpc probe")
            if c.get("args") != ["serve"]:
                fail(f"{cw}: args must be [serve]")


def check_invariants(origin: str, docs: list[dict]) -> None:
    by_kind: dict[str, list[dict]] = {}
    for d in docs:
        by_kind.setdefault(d.get("kind"), []).append(d)
    for kind in ("Deployment", "Service", "ConfigMap"):
        if kind not in by_kind:
            fail(f"{origin}: no {kind} rendered")
    for dep in by_kind.get("Deployment", []):
        where = f"{origin} {ident(dep)}"
        spec = dep["spec"]
        ru = (spec.get("strategy") or {}).get("rollingUpdate") or {}
        if spec.get("strategy", {}).get("type") != "RollingUpdate" or ru.get("maxUnavailable") != 0:
            fail(f"{where}: RollingUpdate with maxUnavailable 0 expected")
        pod = spec["template"]["spec"]
        if pod.get("terminationGracePeriodSeconds", 30) < 30:
            fail(f"{where}: terminationGracePeriodSeconds must be at least 30")
        check_pod_spec(where, pod, server=True)
        annotations = spec["template"]["metadata"].get("annotations") or {}
        if "checksum/config" not in annotations:
            fail(f"{where}: checksum/config annotation missing")
    for job in by_kind.get("Job", []):
        where = f"{origin} {ident(job)}"
        hooks = (job["metadata"].get("annotations") or {}).get("helm.sh/hook", "")
        if set(hooks.split(",")) != {"pre-install", "pre-upgrade"}:
            fail(f"{where}: must be a pre-install,pre-upgrade hook")
        if not (job["metadata"].get("annotations") or {}).get("helm.sh/hook-delete-policy"):
            fail(f"{where}: hook-delete-policy missing")
        pod = job["spec"]["template"]["spec"]
        check_pod_spec(where, pod, server=False)
        if [c.get("args") for c in pod["containers"]] != [["migrate"]]:
            fail(f"{where}: must run `roster migrate`")
    dashboards = [cm for cm in by_kind.get("ConfigMap", []) if is_dashboard(cm)]
    for cm in by_kind.get("ConfigMap", []):
        if cm in dashboards:
            continue
        if (cm.get("data") or {}).get("ROSTER_NO_MIGRATE") != "true":
            fail(f"{origin} {ident(cm)}: ROSTER_NO_MIGRATE must be \"true\"")
    for cm in dashboards:
        check_dashboard(f"{origin} {ident(cm)}", cm)
    for rule in by_kind.get("PrometheusRule", []):
        check_prometheus_rule(f"{origin} {ident(rule)}", rule)
    for sa in by_kind.get("ServiceAccount", []):
        if sa.get("automountServiceAccountToken") is not False:
            fail(f"{origin} {ident(sa)}: automountServiceAccountToken must be false")
    services = by_kind.get("Service", [])
    for svc in services:
        for port in svc["spec"].get("ports", []):
            if port.get("name") == "grpc" and port.get("appProtocol") != "grpc":
                fail(f"{origin} {ident(svc)}: grpc port needs appProtocol grpc")
    # ServiceMonitor: no schema (CRD), so at least check it points at a real
    # Service port and at /metrics.
    for sm in by_kind.get("ServiceMonitor", []):
        where = f"{origin} {ident(sm)}"
        if sm.get("apiVersion") != "monitoring.coreos.com/v1":
            fail(f"{where}: apiVersion must be monitoring.coreos.com/v1")
        spec = sm.get("spec") or {}
        want = (spec.get("selector") or {}).get("matchLabels") or {}
        matched = [s for s in services if want and want.items() <= (s["metadata"].get("labels") or {}).items()]
        ports = {p.get("name") for s in matched for p in s["spec"].get("ports", [])}
        for ep in spec.get("endpoints") or [{}]:
            if ep.get("port") not in ports:
                fail(f"{where}: endpoint port {ep.get('port')!r} is on no selected Service")
            if ep.get("path") != "/metrics":
                fail(f"{where}: endpoint path must be /metrics")


def is_dashboard(cm: dict) -> bool:
    """A Grafana dashboard ConfigMap: the sidecar's label, or JSON data."""
    labels = cm.get("metadata", {}).get("labels") or {}
    return DASHBOARD_LABEL[0] in labels or any(k.endswith(".json") for k in (cm.get("data") or {}))


def check_dashboard(where: str, cm: dict) -> None:
    """The dashboard ConfigMap: the sidecar's label, valid JSON equal to the
    chart's dashboard file, and every query on the ${datasource} variable."""
    labels = cm.get("metadata", {}).get("labels") or {}
    key, value = DASHBOARD_LABEL
    if labels.get(key) != value:
        fail(f"{where}: label {key}: {value!r} missing (Grafana's sidecar would not load it)")
    data = cm.get("data") or {}
    if list(data) != ["roster.json"]:
        fail(f"{where}: data must be exactly roster.json, got {sorted(data)}")
    try:
        dash = json.loads(data.get("roster.json", ""))
    except json.JSONDecodeError as e:
        fail(f"{where}: roster.json is not valid JSON: {e}")
        return
    if dash != json.loads(DASHBOARD_FILE.read_text()):
        fail(f"{where}: roster.json differs from {DASHBOARD_FILE}")
    if not dash.get("title") or not dash.get("uid"):
        fail(f"{where}: dashboard needs a title and a uid")
    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list", [])}
    ds = variables.get("datasource") or {}
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        fail(f"{where}: no Prometheus datasource variable named datasource")
    for v in variables.values():
        if v.get("type") == "query" and (v.get("datasource") or {}).get("uid") != "${datasource}":
            fail(f"{where}: variable {v.get('name')!r} does not query ${{datasource}}")
    panels = [p for p in dash.get("panels", []) if p.get("type") != "row"]
    if not panels:
        fail(f"{where}: dashboard has no panels")
    for p in panels:
        targets = p.get("targets") or []
        if not targets or not all(t.get("expr") for t in targets):
            fail(f"{where}: panel {p.get('title')!r} has a target without expr")
        for obj in [p, *targets]:
            if (obj.get("datasource") or {}).get("uid") != "${datasource}":
                fail(f"{where}: panel {p.get('title')!r} does not query ${{datasource}}")
                break


def check_prometheus_rule(where: str, rule: dict) -> None:
    """The PrometheusRule: its spec is the rules file, with named groups of
    alerts that each have an expression, a severity and their annotations."""
    if rule.get("apiVersion") != "monitoring.coreos.com/v1":
        fail(f"{where}: apiVersion must be monitoring.coreos.com/v1")
    spec = rule.get("spec") or {}
    if spec != yaml.safe_load(RULES_FILE.read_text()):
        fail(f"{where}: spec differs from {RULES_FILE}")
    groups = spec.get("groups")
    if not isinstance(groups, list) or not groups:
        fail(f"{where}: spec.groups must be a non-empty list")
        return
    names: set = set()
    for g in groups:
        if not g.get("name") or not g.get("rules"):
            fail(f"{where}: every group needs a name and rules")
            continue
        for r in g["rules"]:
            alert = r.get("alert")
            if not alert or not isinstance(r.get("expr"), str) or not r["expr"].strip():
                fail(f"{where}: group {g['name']}: every rule needs alert and expr ({r})")
                continue
            if alert in names:
                fail(f"{where}: alert {alert} defined twice")
            names.add(alert)
            if (r.get("labels") or {}).get("severity") not in SEVERITIES:
                fail(f"{where}: {alert}: labels.severity must be one of {sorted(SEVERITIES)}")
            ann = r.get("annotations") or {}
            if not ann.get("summary") or not ann.get("description"):
                fail(f"{where}: {alert}: annotations summary and description needed")


def cmd_validate(versions: list[str], files: list[str]) -> None:
    import kubernetes_validate as kv

    for f in files:
        docs = load_docs(Path(f).read_text(), f)
        if not docs:
            fail(f"{f}: no manifests")
            continue
        for doc in docs:
            key = (doc.get("apiVersion"), doc.get("kind"))
            if key in UNSCHEMED:
                print(f"  {f}: {ident(doc)}: CRD without a schema, strict validation skipped (checked below)")
                continue
            for v in versions:
                try:
                    kv.validate(doc, v, strict=True)
                except kv.ValidationError as e:
                    path = ".".join(str(p) for p in e.path)
                    fail(f"{f}: {ident(doc)} against Kubernetes {v}: {path}: {e.message}")
                except kv.SchemaNotFoundError as e:
                    # kubernetes-validate only warns here; an unknown
                    # kind/apiVersion is a defect for us.
                    fail(f"{f}: {ident(doc)}: {e.message}")
        check_invariants(f, docs)
        if not any(f in e for e in errors):
            print(f"  {f}: {len(docs)} object(s) valid (strict) against Kubernetes {', '.join(versions)}")


# ---------------------------------------------------------------- dockerfile


def cmd_dockerfile(dockerfile: str, chart: str) -> None:
    """The chart assumes things about the image: check the Dockerfile's final
    stage says them (instructions joined over line continuations)."""
    lines: list[str] = []
    pending = ""
    for raw in Path(dockerfile).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    stages = [i for i, l in enumerate(lines) if l.upper().startswith("FROM ")]
    if len(stages) < 2:
        fail(f"{dockerfile}: expected a multi-stage build")
        return
    final = lines[stages[-1]:]

    def instr(name: str) -> list[str]:
        return [l.split(None, 1)[1] for l in final if l.split(None, 1)[0].upper() == name]

    values = yaml.safe_load(Path(chart, "values.yaml").read_text())
    uid = values["securityContext"]["runAsUser"]
    users = instr("USER")
    if not users or users[-1].split(":")[0] != str(uid):
        fail(f"{dockerfile}: final USER must be the numeric uid {uid} the chart runs as (got {users})")
    exposed = {p.split("/")[0] for e in instr("EXPOSE") for p in e.split()}
    for port in (values["service"]["grpcPort"], values["service"]["metricsPort"]):
        if str(port) not in exposed:
            fail(f"{dockerfile}: port {port} is not EXPOSEd")
    if instr("ENTRYPOINT") != ['["/usr/local/bin/roster"]']:
        fail(f"{dockerfile}: ENTRYPOINT must be [\"/usr/local/bin/roster\"]")
    if instr("CMD") != ['["serve"]']:
        fail(f"{dockerfile}: CMD must be [\"serve\"]")
    if not any("/usr/local/bin/roster" in c for c in instr("COPY")):
        fail(f"{dockerfile}: the binary must be copied to /usr/local/bin/roster")
    runs = [l for l in lines if l.upper().startswith("RUN ")]
    if not any("cargo build" in r and "--release" in r and "--locked" in r for r in runs):
        fail(f"{dockerfile}: the build must be `cargo build --release --locked`")
    if not errors:
        print(f"  {dockerfile}: uid {uid}, ports, entrypoint and binary path match the chart")


# ---------------------------------------------------------------- compare


def normalized(doc: dict) -> dict:
    """Masks what is random per render: the generated JWT secret and the
    checksum of the Secret that holds it."""
    if doc.get("kind") == "Secret":
        doc = {**doc, "data": {k: "<masked>" for k in (doc.get("data") or {})}}
    if doc.get("kind") == "Deployment":
        ann = doc["spec"]["template"]["metadata"].get("annotations") or {}
        if "checksum/secret" in ann:
            ann["checksum/secret"] = "<masked>"
    return doc


def cmd_compare(a: str, b: str) -> None:
    da = {ident(d): normalized(d) for d in load_docs(Path(a).read_text(), a)}
    db = {ident(d): normalized(d) for d in load_docs(Path(b).read_text(), b)}
    if set(da) != set(db):
        fail(f"{a} vs {b}: objects differ: {sorted(set(da) ^ set(db))}")
    for k in sorted(set(da) & set(db)):
        if da[k] != db[k]:
            fail(f"{a} vs {b}: {k} differs between the two Helm implementations")
    if not any(a in e for e in errors):
        print(f"  {Path(a).name} == {Path(b).name} ({len(da)} objects)")


def main(argv: list[str]) -> int:
    cmd, args = argv[0], argv[1:]
    if cmd == "sdk":
        cmd_sdk(args[0], args[1], args[2] if len(args) > 2 else None)
    elif cmd == "reject":
        cmd_reject(args[0], args[1])
    elif cmd == "validate":
        versions = [args[i + 1] for i, a in enumerate(args) if a == "-k"]
        files = [a for i, a in enumerate(args) if a != "-k" and (i == 0 or args[i - 1] != "-k")]
        cmd_validate(versions, files)
    elif cmd == "dockerfile":
        cmd_dockerfile(args[0], args[1])
    elif cmd == "compare":
        cmd_compare(args[0], args[1])
    else:
        print(__doc__)
        return 2
    if errors:
        print(f"{len(errors)} defect(s) found")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
