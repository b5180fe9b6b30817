#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks that the HTTP API's documents agree with each other and the code.

- docs/openapi.json parses, is OpenAPI 3.1, has every route of the API with
  its method, and every $ref in it resolves; when the Python package
  openapi-spec-validator is installed it validates the whole document, and
  jsonschema checks each schema against JSON Schema 2020-12.
- Every error code of include/jobd/error.h is in the document's ErrorCode
  and has an HTTP status in docs/http.md's table, and so does every
  ErrorCode.
- Every metric of docs/http.md's table, written out as a scrape, passes
  `promtool check metrics` (Prometheus's own naming linter), and the Grafana
  dashboard uses only those metrics, in queries `promtool check rules`
  accepts.
- The web page names only files of its own folder and routes of the
  document, and labels every form field.

Usage: check_http_docs.py SOURCE_ROOT
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROUTES = [
    ("get", "/v1/health/live"), ("get", "/v1/health/ready"),
    ("get", "/v1/openapi.json"), ("get", "/v1/plugins"),
    ("post", "/v1/plugins/{name}/call"), ("post", "/v1/plugins/{name}/jobs"),
    ("get", "/v1/jobs"), ("get", "/v1/jobs/{id}"),
    ("get", "/v1/jobs/{id}/result"), ("post", "/v1/jobs/{id}/cancel"),
    ("get", "/v1/jobs/{id}/events"), ("get", "/v1/jobs/{id}/arrays/{array}"),
    ("get", "/metrics"),
]
# Codes that the HTTP side answers and error.h does not have yet: users and
# tokens (unauthorized, forbidden), worker processes (plugin_crashed,
# unavailable, out_of_memory).
PLANNED_CODES = {"unauthorized", "forbidden", "plugin_crashed", "unavailable",
                 "out_of_memory"}

failures = []


def check(ok, what):
    print(("ok     " if ok else "FAILED ") + what)
    if not ok:
        failures.append(what)


def read(root, path):
    with open(os.path.join(root, path), encoding="utf-8") as f:
        return f.read()


def resolve(doc, pointer):
    node = doc
    for part in pointer.lstrip("#/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def refs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from refs(v)


def check_openapi(root):
    doc = json.loads(read(root, "docs/openapi.json"))
    check(str(doc.get("openapi", "")).startswith("3.1."), "openapi.json is OpenAPI 3.1")
    paths = doc.get("paths", {})
    for method, path in ROUTES:
        check(method in paths.get(path, {}), "openapi.json has %s %s" % (method.upper(), path))
    jobs = paths.get("/v1/plugins/{name}/jobs", {}).get("post", {}).get("responses", {})
    check("Location" in jobs.get("202", {}).get("headers", {}), "a submitted job answers 202 with Location")
    events = paths.get("/v1/jobs/{id}/events", {}).get("get", {})
    check("text/event-stream" in events.get("responses", {}).get("200", {}).get("content", {}),
          "the events route answers text/event-stream")
    check(any(p.get("name") == "Last-Event-ID" for p in events.get("parameters", [])),
          "the events route takes Last-Event-ID")
    busy = resolve(doc, "#/components/responses/Busy") or {}
    check("Retry-After" in busy.get("headers", {}), "busy answers carry Retry-After")
    check(resolve(doc, "#/components/securitySchemes/bearer/scheme") == "bearer", "Bearer auth is declared")
    bad = sorted({r for r in refs(doc) if not r.startswith("#/") or resolve(doc, r) is None})
    check(not bad, "every $ref resolves" + (": " + ", ".join(bad) if bad else ""))

    try:
        from openapi_spec_validator import validate
    except ImportError:
        print("skip   openapi-spec-validator is not installed")
    else:
        try:
            validate(doc)
            check(True, "openapi-spec-validator accepts openapi.json")
        except Exception as e:  # the validator's own error types vary
            check(False, "openapi-spec-validator: %s" % str(e).splitlines()[0])
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        print("skip   jsonschema is not installed")
    else:
        for name, schema in doc["components"]["schemas"].items():
            try:
                Draft202012Validator.check_schema(schema)
                ok = True
            except Exception:
                ok = False
            check(ok, "schema %s is valid JSON Schema 2020-12" % name)
    return doc


def check_errors(root, doc):
    header = read(root, "include/jobd/error.h")
    codes = {m.lower() for m in re.findall(r"\bJOBD_E_([A-Z_]+?)\s*=", header)}
    check(len(codes) >= 18, "read %d codes from error.h" % len(codes))
    enum = set(resolve(doc, "#/components/schemas/ErrorCode/enum") or [])
    missing = sorted(codes - enum)
    check(not missing, "ErrorCode has every code of error.h" + (": missing " + ", ".join(missing) if missing else ""))
    extra = sorted(enum - codes - PLANNED_CODES)
    check(not extra, "ErrorCode has no unknown code" + (": " + ", ".join(extra) if extra else ""))
    status = {}
    for line in read(root, "docs/http.md").splitlines():
        m = re.match(r"\| ((?:`[a-z_]+`(?:, )?)+) \| (\d{3}) \|", line)
        if m:
            for code in re.findall(r"`([a-z_]+)`", m.group(1)):
                status[code] = int(m.group(2))
    nostatus = sorted(enum - set(status))
    check(not nostatus, "http.md gives every code a status" + (": missing " + ", ".join(nostatus) if nostatus else ""))
    want = {"busy": 429, "unauthorized": 401, "forbidden": 403, "not_found": 404,
            "too_large": 413, "unavailable": 503, "shutting_down": 503,
            "bad_request": 400, "bad_json": 400, "timeout": 504}
    wrong = sorted(c for c, s in want.items() if status.get(c) != s)
    check(not wrong, "the statuses the API promises" + (": wrong for " + ", ".join(wrong) if wrong else ""))


def metrics_table(root):
    rows = []
    for line in read(root, "docs/http.md").splitlines():
        m = re.match(r"\| `(jobd_[a-z_]+)` \| (counter|gauge|histogram) \|([^|]*)\|", line)
        if m:
            labels = re.findall(r"`([a-z_]+)`", m.group(3))
            rows.append((m.group(1), m.group(2), labels))
    return rows


def check_metrics(root):
    rows = metrics_table(root)
    check(len(rows) >= 15, "read %d metrics from http.md" % len(rows))
    names = {r[0] for r in rows}
    for needed in ["jobd_calls_total", "jobd_call_duration_seconds", "jobd_queue_depth",
                   "jobd_workers_busy", "jobd_worker_restarts_total",
                   "jobd_plugin_quarantines_total", "jobd_connections",
                   "jobd_store_bytes", "jobd_user_calls"]:
        check(needed in names, "http.md documents %s" % needed)
    scrape = []
    for name, kind, labels in rows:
        lab = ",".join('%s="x"' % l for l in labels)
        scrape += ["# HELP %s Documented in docs/http.md." % name, "# TYPE %s %s" % (name, kind)]
        if kind == "histogram":
            for le in ["0.1", "1", "+Inf"]:
                scrape.append('%s_bucket{%s} 1' % (name, ",".join(filter(None, [lab, 'le="%s"' % le]))))
            scrape += ["%s_sum%s 0.5" % (name, "{%s}" % lab if lab else ""),
                       "%s_count%s 1" % (name, "{%s}" % lab if lab else "")]
        else:
            scrape.append("%s%s 1" % (name, "{%s}" % lab if lab else ""))
    promtool = shutil.which("promtool")
    if not promtool:
        print("skip   promtool is not installed (Debian: prometheus)")
    else:
        r = subprocess.run([promtool, "check", "metrics"], input="\n".join(scrape) + "\n",
                           capture_output=True, text=True)
        check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
              "promtool check metrics accepts every documented metric" +
              ("\n" + r.stdout + r.stderr if r.returncode or r.stdout.strip() else ""))

    dash = json.loads(read(root, "docs/grafana-dashboard.json"))
    exprs = []
    for p in dash.get("panels", []):
        for t in p.get("targets", []):
            exprs.append(t["expr"])
    check(len(exprs) >= 10, "the dashboard has %d queries" % len(exprs))
    used = set()
    for e in exprs:
        for n in re.findall(r"\bjobd_[a-z_]+", e):
            used.add(re.sub(r"_(bucket|sum|count)$", "", n) if re.sub(r"_(bucket|sum|count)$", "", n) in names else n)
    unknown = sorted(used - names)
    check(not unknown, "the dashboard uses only documented metrics" + (": " + ", ".join(unknown) if unknown else ""))
    if promtool:
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
            f.write("groups:\n- name: dashboard\n  rules:\n")
            for i, e in enumerate(exprs):
                e = e.replace("$__rate_interval", "5m").replace("$instance", ".*").replace("$plugin", ".*")
                f.write("  - record: dashboard:q%d\n    expr: %s\n" % (i, json.dumps(e)))
        r = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
        os.unlink(f.name)
        check(r.returncode == 0, "promtool parses every dashboard query" + ("\n" + r.stdout + r.stderr if r.returncode else ""))


def check_web(root, doc):
    html = read(root, "web/index.html")
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    check(srcs and all(re.fullmatch(r"[a-z]+\.(js|css)", s) for s in srcs),
          "index.html loads only its own files: " + ", ".join(srcs))
    for s in srcs:
        check(os.path.exists(os.path.join(root, "web", s)), "web/%s exists" % s)
    fields = re.findall(r'<(?:input|select|textarea)\b[^>]*\bid="([^"]+)"', html)
    labelled = set(re.findall(r'<label for="([^"]+)"', html))
    check(fields and set(fields) <= labelled, "every form field has a label")
    js = read(root, "web/app.js")
    check(not re.search(r"https?://", js + html), "no address outside the server")
    # Each path piece the page writes ('/v1/jobs/', '/events', ...) must be
    # part of a route of the document: catches a misspelt or undocumented route.
    pieces = {m.split("?")[0] for m in re.findall(r"'(/[a-z0-9/._-]*)", js)} - {"/"}
    check(len(pieces) >= 6, "found %d path pieces in app.js" % len(pieces))
    for piece in sorted(pieces):
        check(any(piece in path for path in doc["paths"]), "app.js path %s is in openapi.json" % piece)


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    doc = check_openapi(root)
    check_errors(root, doc)
    check_metrics(root)
    check_web(root, doc)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
