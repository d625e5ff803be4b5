#!/usr/bin/env python3
"""Checks of deploy/ that no off-the-shelf tool makes; run by
scripts/check-deploy.sh (with the tools virtualenv's Python, which has
PyYAML and jsonschema). Each subcommand prints what it found and exits
non-zero on any finding.

  metric-names SCRAPE          every metric in the rules and the dashboard is in SCRAPE
  rules-coverage               every alert has a firing and a quiet test, and a runbook section
  crd-validate CRD... -- FILE  custom resources of FILE against the CRDs' openAPIV3Schema
  compose-env                  every ${VAR} the compose file needs is in .env.example
  runbook-commands             prints the runbook's checked commands, NUL-separated
"""
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/prometheus/rules.yml"
RULES_TEST = ROOT / "deploy/prometheus/rules_test.yml"
DASHBOARD = ROOT / "deploy/grafana/kiln.json"
RUNBOOK = ROOT / "docs/runbook.md"
COMPOSE = ROOT / "deploy/compose/docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy/compose/.env.example"

# Metrics the rules read from exporters other than Kiln: Kiln has no metric
# for them, so a Kiln scrape cannot show them. Each is named with its source.
EXTERNAL = {
    "probe_success": "blackbox_exporter probing /health/ready (readiness flapping)",
    "redis_memory_used_bytes": "redis_exporter (Redis memory)",
    "redis_memory_max_bytes": "redis_exporter (Redis memory)",
}

KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def metric_names(expr):
    """The metric names a PromQL expression (or a Grafana query) reads."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", s):
        name, call = m.group(1), m.group(2)
        if call or name in KEYWORDS:
            continue
        names.add(name)
    return names


# Labels Prometheus adds to every series it scrapes (not in the exposition).
TARGET_LABELS = {"job", "instance"}


def selector_labels(expr):
    """{metric: {label names its matchers use}} of an expression."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    out = {}
    for m in re.finditer(r"(?<![\w$.])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", s):
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", m.group(2)))
        out.setdefault(m.group(1), set()).update(labels)
    return out


SELECTORS = []  # (metric, labels, where)


def used_metrics():
    """{metric: [where it is used]} over the alert rules and the dashboard."""
    used = {}
    SELECTORS.clear()
    rules = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            what = rule.get("alert") or rule.get("record")
            for n in metric_names(rule["expr"]):
                used.setdefault(n, []).append(f"rules.yml {what}")
            for n, labels in selector_labels(rule["expr"]).items():
                SELECTORS.append((n, labels, f"rules.yml {what}"))
    dash = json.loads(DASHBOARD.read_text())

    def panels(ps):
        for p in ps:
            yield p
            yield from panels(p.get("panels", []))

    for p in panels(dash["panels"]):
        for t in p.get("targets", []):
            for n in metric_names(t["expr"]):
                used.setdefault(n, []).append(f"kiln.json panel {p['title']!r}")
            for n, labels in selector_labels(t["expr"]).items():
                SELECTORS.append((n, labels, f"kiln.json panel {p['title']!r}"))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if v.get("type") == "query" and q:
            m = re.match(r"\s*label_values\(\s*([a-zA-Z_:][\w:]*)", q)
            names = {m.group(1)} if m else metric_names(q)
            for n in names:
                used.setdefault(n, []).append(f"kiln.json variable {v['name']}")
    return used


def cmd_metric_names(scrape_file):
    text = Path(scrape_file).read_text()
    samples, labels_of = set(), {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name = re.split(r"[{\s]", line, maxsplit=1)[0]
            samples.add(name)
            m = re.match(r"[^{]*\{(.*)\}", line)
            found = set(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', m.group(1))) if m else set()
            labels_of.setdefault(name, set()).update(found)
    used = used_metrics()
    if not used:
        fail("found no metric name in the rules and the dashboard")
    missing = []
    for name in sorted(used):
        if name in samples:
            print(f"  ok        {name}")
        elif name in EXTERNAL:
            print(f"  external  {name}  ({EXTERNAL[name]}; not verifiable on a Kiln scrape)")
        else:
            missing.append(name)
            print(f"  MISSING   {name}  used in: {', '.join(sorted(set(used[name])))}")
    kiln_used = [n for n in used if n not in EXTERNAL]
    print(f"{len(kiln_used) - len(missing)} of {len(kiln_used)} Kiln metric names found in the live scrape, "
          f"{len(used) - len(kiln_used)} from other exporters")
    if missing:
        fail(f"{len(missing)} metric name(s) used in deploy/ are not exported by Kiln: {' '.join(missing)}")
    bad_labels = []
    for name, labels, where in SELECTORS:
        if name in EXTERNAL or name not in samples:
            continue
        unknown = labels - labels_of.get(name, set()) - TARGET_LABELS
        if unknown:
            bad_labels.append(f"{where}: {name} has no label {', '.join(sorted(unknown))} "
                              f"(it has: {', '.join(sorted(labels_of.get(name, set()))) or 'none'})")
    for b in bad_labels:
        print(f"  WRONG LABEL  {b}", file=sys.stderr)
    if bad_labels:
        fail(f"{len(bad_labels)} selector(s) match on labels the live metrics do not have")
    print(f"{len(SELECTORS)} label selectors use only labels the live metrics have (plus job/instance)")


def runbook_anchors():
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:
            a = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(a)
    return anchors


def runbook_sections():
    """{heading: body} of the runbook's level-2 sections."""
    sections, cur = {}, None
    for line in RUNBOOK.read_text().splitlines():
        m = re.match(r"^## (.*?)\s*$", line)
        if m:
            cur = m.group(1)
            sections[cur] = []
        elif cur:
            sections[cur].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


def cmd_rules_coverage():
    rules = yaml.safe_load(RULES.read_text())
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r]
    tests = yaml.safe_load(RULES_TEST.read_text())
    fires, quiet = set(), set()
    for t in tests["tests"]:
        for case in t.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    anchors = runbook_anchors()
    sections = runbook_sections()
    problems = []
    for r in (r for g in rules["groups"] for r in g["rules"] if "alert" in r):
        a = r["alert"]
        if a not in fires:
            problems.append(f"{a}: no test case where it fires")
        if a not in quiet:
            problems.append(f"{a}: no test case where it stays quiet (exp_alerts: [])")
        url = r.get("annotations", {}).get("runbook_url", "")
        m = re.search(r"/docs/runbook\.md#([\w-]+)$", url)
        if not m:
            problems.append(f"{a}: runbook_url {url!r} does not point into docs/runbook.md")
        elif m.group(1) not in anchors:
            problems.append(f"{a}: runbook_url anchor #{m.group(1)} is not a heading of docs/runbook.md")
        body = sections.get(a)
        if body is None:
            problems.append(f"{a}: docs/runbook.md has no section '## {a}'")
        elif "```sh check" not in body:
            problems.append(f"{a}: its runbook section has no checked command block (```sh check)")
    unknown = (fires | quiet) - set(alerts)
    for u in sorted(unknown):
        problems.append(f"rules_test.yml tests {u}, which rules.yml does not define")
    for p in problems:
        print(f"  {p}", file=sys.stderr)
    if problems:
        fail(f"{len(problems)} coverage problem(s) in the alert rules")
    print(f"{len(alerts)} alerts: each fires in a test, stays quiet in another, and has a runbook section with checked commands")


def strictify(schema):
    """Refuses unknown fields, as the API server's pruning would drop them silently."""
    if isinstance(schema, dict):
        if (schema.get("type") == "object" and "properties" in schema
                and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        for v in schema.values():
            strictify(v)
    elif isinstance(schema, list):
        for v in schema:
            strictify(v)
    return schema


def cmd_crd_validate(args):
    import jsonschema

    sep = args.index("--")
    crds, files = args[:sep], args[sep + 1:]
    schemas = {}
    for c in crds:
        crd = yaml.safe_load(Path(c).read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for v in crd["spec"]["versions"]:
            s = strictify(v["schema"]["openAPIV3Schema"])
            # metadata is the API server's; it validates it itself.
            s.setdefault("properties", {})["metadata"] = {"type": "object"}
            schemas[(f"{group}/{v['name']}", kind)] = s
    checked, errors = 0, []
    for f in files:
        for doc in yaml.safe_load_all(Path(f).read_text()):
            if not doc:
                continue
            key = (doc.get("apiVersion"), doc.get("kind"))
            if key not in schemas:
                continue
            checked += 1
            name = doc.get("metadata", {}).get("name")
            v = jsonschema.Draft7Validator(schemas[key])
            errs = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
            for e in errs:
                errors.append(f"{f}: {key[1]}/{name} at {'.'.join(map(str, e.path)) or '(root)'}: {e.message}")
            if not errs:
                print(f"  ok  {f}: {key[1]}/{name} against the {key[0]} CRD schema")
    for e in errors:
        print(f"  {e}", file=sys.stderr)
    if errors:
        fail(f"{len(errors)} custom resource error(s)")
    if checked == 0:
        fail(f"no custom resource of {', '.join(k[1] for k in schemas)} found in {' '.join(files)}")


def cmd_compose_env():
    text = COMPOSE.read_text()
    need = set(re.findall(r"\$\{([A-Z0-9_]+)(?::?\?[^}]*)\}", text))
    optional = set(re.findall(r"\$\{([A-Z0-9_]+):-[^}]*\}", text))
    listed = set()
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z0-9_]+)=", line)
        if m:
            listed.add(m.group(1))
    missing = sorted((need | optional) - listed)
    if missing:
        fail(f".env.example does not list {' '.join(missing)}, which docker-compose.yml uses")
    # Secrets have no default in the file: each required one is ${VAR:?…}.
    for var in sorted(need):
        if re.search(r"\$\{" + var + r":-", text):
            fail(f"{var} is required in one place and has a default in another")
    # Files the stack mounts exist.
    doc = yaml.safe_load(text)
    base = COMPOSE.parent
    for name, svc in doc["services"].items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0] if isinstance(vol, str) else vol.get("source", "")
            if src.startswith("."):
                if not (base / src).exists():
                    fail(f"service {name} mounts {src}, which does not exist")
                print(f"  ok  {name} mounts {src}")
    print(f"{len(need)} required and {len(optional)} optional variables, all in .env.example; no secret has a default")


def cmd_runbook_commands():
    out, block = [], None
    for line in RUNBOOK.read_text().splitlines():
        if block is None:
            if line.strip() == "```sh check":
                block = []
        elif line.strip() == "```":
            cmd = ""
            for l in block:
                if not l.strip() or l.lstrip().startswith("#"):
                    continue
                cmd += l.rstrip()
                if cmd.endswith("\\"):
                    cmd = cmd[:-1] + " "
                    continue
                out.append(cmd.strip())
                cmd = ""
            block = None
        else:
            block.append(line)
    if not out:
        fail("docs/runbook.md has no ```sh check block")
    sys.stdout.write("".join(c + "\0" for c in out))


def main(argv):
    if not argv:
        fail(__doc__)
    cmd, args = argv[0], argv[1:]
    if cmd == "metric-names":
        cmd_metric_names(*args)
    elif cmd == "rules-coverage":
        cmd_rules_coverage()
    elif cmd == "crd-validate":
        cmd_crd_validate(args)
    elif cmd == "compose-env":
        cmd_compose_env()
    elif cmd == "runbook-commands":
        cmd_runbook_commands()
    else:
        fail(f"unknown subcommand {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
