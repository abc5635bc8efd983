#!/usr/bin/env python3
"""Renders every overlay under deploy/k8s/overlays and checks it.

- Each Kubernetes object against the API schemas (kubernetes-validate,
  strict: unknown fields fail), for the oldest and newest versions we
  support.
- Each KEDA object against KEDA's schema (@kubernetes-models/keda, through
  scripts/keda_validate.js).
- What Marquee needs of the objects: probes, grace periods above the
  worker's shutdown timeout, resources, scrape annotations, a PDB per
  Deployment, two schedulers, and a ScaledObject per worker Deployment that
  watches exactly the ready lists of the queues that Deployment consumes.

`--json OVERLAY` prints one rendered overlay as a JSON array instead (the
Rust test reads the watched keys from it and compares them with a running
worker's). Run through `just k8s-check` (tools from scripts/k8s-tools.sh).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
TOOLS = ROOT / ".tools"
KUBERNETES_VERSIONS = ["1.27.0", "1.33.0"]
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
# config/default.toml's worker.shutdown_timeout_seconds.
DEFAULT_SHUTDOWN_TIMEOUT = 30
DEFAULT_KEY_PREFIX = "marquee"


def render(overlay):
    kubectl = os.environ.get("KUBECTL", "kubectl")
    out = subprocess.run(
        [kubectl, "kustomize", str(OVERLAYS / overlay)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def ready_list(prefix, queue):
    """The key Marquee keeps a queue's ready tasks in (core::redis)."""
    return "{%s:queue:%s}:active" % (prefix, queue)


class Checks:
    def __init__(self, overlay):
        self.overlay = overlay
        self.failures = []

    def expect(self, ok, what):
        if not ok:
            self.failures.append(f"{self.overlay}: {what}")


def of_kind(objects, kind):
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def config_value(objects, key, default):
    for config in of_kind(objects, "ConfigMap").values():
        if key in config.get("data", {}):
            return config["data"][key]
    return default


def scaled_targets(scaled):
    return {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()}


def queues_of(container):
    args = container.get("args", [])
    if "--queues" in args:
        return args[args.index("--queues") + 1].split(",")
    return []


def check_schemas(objects, checks):
    import kubernetes_validate

    for obj in objects:
        if obj["kind"] in KEDA_KINDS:
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                checks.expect(False, f"{obj['kind']}/{obj['metadata']['name']} on {version}: {error.message}")
    keda = [obj for obj in objects if obj["kind"] in KEDA_KINDS]
    node_path = TOOLS / "keda" / "node_modules"
    result = subprocess.run(
        ["node", str(ROOT / "scripts" / "keda_validate.js")],
        input=json.dumps(keda),
        capture_output=True,
        text=True,
        env={**os.environ, "NODE_PATH": str(node_path)},
    )
    checks.expect(result.returncode == 0, f"KEDA schema: {result.stdout}{result.stderr}")


def check_marquee(objects, checks):
    deployments = of_kind(objects, "Deployment")
    scaled = of_kind(objects, "ScaledObject")
    budgets = of_kind(objects, "PodDisruptionBudget")
    prefix = config_value(objects, "MARQUEE__REDIS__KEY_PREFIX", DEFAULT_KEY_PREFIX)
    shutdown = int(config_value(objects, "MARQUEE__WORKER__SHUTDOWN_TIMEOUT_SECONDS", DEFAULT_SHUTDOWN_TIMEOUT))
    mode = config_value(objects, "MARQUEE__REDIS__MODE", "standalone")
    trigger = "redis-cluster" if mode == "cluster" else "redis"

    checks.expect(not of_kind(objects, "Secret"), "no Secret in the manifests: applying them would reset the real ones")
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] in scaled_targets(scaled):
            checks.expect("replicas" not in obj["spec"], f"{obj['metadata']['name']}: no replicas (KEDA owns them)")
    api = deployments.get("marquee-api")
    checks.expect(api is not None, "an API Deployment")
    if api:
        container = api["spec"]["template"]["spec"]["containers"][0]
        checks.expect(container.get("readinessProbe", {}).get("httpGet", {}).get("path") == "/health/ready", "API readiness on /health/ready")
        checks.expect(container.get("livenessProbe", {}).get("httpGet", {}).get("path") == "/health/live", "API liveness on /health/live")
    scheduler = deployments.get("marquee-scheduler")
    checks.expect(scheduler is not None and scheduler["spec"]["replicas"] == 2, "two schedulers")
    jobs = of_kind(objects, "Job")
    checks.expect(
        any(j["spec"]["template"]["spec"]["containers"][0].get("args") == ["marquee-api", "migrate"] for j in jobs.values()),
        "a migrations Job",
    )

    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]
        containers = pod["spec"]["containers"]
        for container in containers:
            requests = container.get("resources", {}).get("requests", {})
            checks.expect("cpu" in requests and "memory" in requests, f"{name}: cpu and memory requests")
        annotations = pod["metadata"].get("annotations", {})
        ports = {p["containerPort"] for c in containers for p in c.get("ports", [])}
        checks.expect(annotations.get("prometheus.io/scrape") == "true", f"{name}: scraped by Prometheus")
        checks.expect(int(annotations.get("prometheus.io/port", 0)) in ports, f"{name}: scrape port is a container port")
        labels = pod["metadata"]["labels"]
        checks.expect(
            any(all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items()) for b in budgets.values()),
            f"{name}: a PodDisruptionBudget",
        )
        queues = [q for c in containers for q in queues_of(c)]
        if not queues:
            continue
        grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        checks.expect(grace > shutdown, f"{name}: terminationGracePeriodSeconds {grace} > worker.shutdown_timeout_seconds {shutdown}")
        watching = [s for s in scaled.values() if s["spec"]["scaleTargetRef"]["name"] == name]
        checks.expect(len(watching) == 1, f"{name}: one ScaledObject")
        for s in watching:
            triggers = s["spec"]["triggers"]
            checks.expect(all(t["type"] == trigger for t in triggers), f"{name}: {trigger} triggers for redis.mode {mode}")
            watched = sorted(t["metadata"]["listName"] for t in triggers)
            wanted = sorted(ready_list(prefix, q) for q in queues)
            checks.expect(watched == wanted, f"{name}: watches {watched}, consumes {wanted}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--json":
        print(json.dumps(render(sys.argv[2])))
        return 0
    failures = []
    overlays = sorted(p.name for p in OVERLAYS.iterdir() if p.is_dir())
    for overlay in overlays:
        objects = render(overlay)
        checks = Checks(overlay)
        check_schemas(objects, checks)
        check_marquee(objects, checks)
        failures += checks.failures
        kinds = sorted({o["kind"] for o in objects})
        print(f"k8s: {overlay}: {len(objects)} objects ({', '.join(kinds)}) checked")
    for failure in failures:
        print(f"k8s: FAIL {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
