#!/usr/bin/env python3
"""Renders helm/contrail with real Helm (helm-python-sdk: Helm v4 as a library) for each
scenario below, lints the chart strictly, validates every rendered manifest against the
Kubernetes schemas (kubernetes-validate, strict: unknown fields are errors), checks what each
mode must contain, and writes each scenario's rendered tempo.yaml to OUT_DIR/<scenario>.yaml so
the caller can run `contrail -config.verify` on it.

Usage: check_chart.py OUT_DIR        (exit 0 = every check passed; failures are printed)
Needs: pip install helm-python-sdk kubernetes-validate pyyaml (scripts/test.sh installs them).
"""

import os
import sys

import yaml
from helm_python import chart as helm_chart
import kubernetes_validate

CHART = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "contrail")
KUBERNETES_VERSION = "1.33.0"
# Kinds from CRDs that the Kubernetes schemas do not describe.
CRD_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}

S3 = {
    "backend": "s3",
    "s3": {
        "bucket": "traces",
        "endpoint": "s3.eu-west-1.amazonaws.com",
        "region": "eu-west-1",
        "existingSecret": "contrail-s3",
    },
}
SCENARIOS = {
    "single-default": {},
    "single-s3": {"storage": S3, "serviceMonitor": {"enabled": True}},
    "distributed-s3": {"mode": "distributed", "storage": S3},
    "distributed-gcs": {
        "mode": "distributed",
        "storage": {"backend": "gcs", "gcs": {"bucket": "traces", "existingSecret": "gcs-key"}},
    },
    "distributed-azure": {
        "mode": "distributed",
        "multitenancyEnabled": True,
        "storage": {
            "backend": "azure",
            "azure": {
                "containerName": "traces",
                "storageAccountName": "acct",
                "existingSecret": "azure-key",
            },
        },
    },
}
# values that must be refused with a message naming the problem
INVALID = {
    "bad-mode": ({"mode": "cluster"}, "mode must be single or distributed"),
    "distributed-local": ({"mode": "distributed"}, "needs an object store"),
    "s3-without-bucket": ({"storage": {"backend": "s3"}}, "storage.s3.bucket is required"),
}


def render(values):
    chart = helm_chart.Chart.load(CHART)
    rendered = chart.render(values, name="ct", namespace="observability", is_install=True)
    documents = []
    for template, text in sorted(rendered.items()):
        if template.endswith("NOTES.txt"):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                documents.append((template, document))
    return documents


def kinds(documents):
    return sorted(f"{doc['kind']}/{doc['metadata']['name']}" for _, doc in documents)


def check_scenario(name, values, out_dir, failures):
    documents = render(values)
    for template, document in documents:
        key = (document.get("apiVersion"), document.get("kind"))
        if key in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            failures.append(f"{name}: {template} {key[1]}: {error.message} at {list(error.path)}")
    present = kinds(documents)
    mode = values.get("mode", "single")
    if mode == "single":
        expected = ["StatefulSet/ct-contrail", "Service/ct-contrail", "PodDisruptionBudget/ct-contrail"]
    else:
        expected = [
            "Deployment/ct-contrail-distributor",
            "Deployment/ct-contrail-querier",
            "Deployment/ct-contrail-compactor",
            "StatefulSet/ct-contrail-ingester",
            "Service/ct-contrail-ingester-headless",
            "Service/ct-contrail-distributor",
            "Service/ct-contrail-querier",
            "PodDisruptionBudget/ct-contrail-ingester",
        ]
    for item in expected:
        if item not in present:
            failures.append(f"{name}: missing {item} (rendered: {present})")
    for _, document in documents:
        if document["kind"] == "Service" and document["metadata"]["name"].endswith("-headless"):
            if document["spec"].get("clusterIP") != "None":
                failures.append(f"{name}: {document['metadata']['name']} is not headless")
    configs = [doc for _, doc in documents if doc["kind"] == "ConfigMap"]
    if len(configs) != 1:
        failures.append(f"{name}: expected one ConfigMap, got {len(configs)}")
        return
    tempo_yaml = configs[0]["data"]["tempo.yaml"]
    config = yaml.safe_load(tempo_yaml)
    backend = config["storage"]["trace"]["backend"]
    wanted_backend = values.get("storage", {}).get("backend", "local")
    if backend != wanted_backend:
        failures.append(f"{name}: config backend {backend}, values say {wanted_backend}")
    with open(os.path.join(out_dir, f"{name}.yaml"), "w", encoding="utf-8") as out:
        out.write(tempo_yaml)


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    failures = []
    lint = helm_chart.lint(CHART, strict=True)
    lint_messages = list(lint.get("errors", [])) + [m for m in lint.get("messages", []) if m.get("severity", 0) >= 2]
    for message in lint_messages:
        failures.append(f"lint: {message}")
    for name, values in SCENARIOS.items():
        try:
            check_scenario(name, values, out_dir, failures)
        except Exception as error:  # a render failure is a failed check, with Helm's message
            failures.append(f"{name}: render failed: {error}")
    for name, (values, message) in INVALID.items():
        try:
            render(values)
            failures.append(f"{name}: rendered, but should fail with '{message}'")
        except Exception as error:
            if message not in str(error):
                failures.append(f"{name}: failed with '{error}', expected '{message}'")
    for failure in failures:
        print(f"FAIL {failure}")
    print(f"{len(SCENARIOS)} scenarios, {len(INVALID)} invalid value sets, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
