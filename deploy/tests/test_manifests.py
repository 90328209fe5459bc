"""The deployment files, checked offline by real tools: docker-compose's own parser,
Kubernetes' OpenAPI schemas (kubernetes-validate), a PromQL parser; and kept in step with
the code (metric names, the production command, the proxy template's placeholders).
"""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import promql_parser
import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram

from chatproject import metrics
from conftest import REQUIRE_SERVICES
from deploy.render import placeholders, render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.33.0"
TEMPLATE = (DEPLOY / "nginx" / "chat.conf.template").read_text()


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package: {name})"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return path


# --- docker-compose -----------------------------------------------------------------------
def compose_config(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "COMPOSE_FILE", "COMPOSE_PROFILES"}}
    return subprocess.run(
        [tool("docker-compose"), "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"), *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    result = compose_config("config", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_compose_file_is_valid_and_has_the_whole_topology(compose):
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "proxy", "worker", "prometheus", "grafana"} <= set(services)
    web = services["web"]
    # The web processes wait for the one-shot migration, and there are at least two of them.
    assert web["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert web["deploy"]["replicas"] >= 2
    assert web["command"] == ["deploy/serve.sh"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert web["environment"]["ATTACHMENT_X_ACCEL_PREFIX"] == "/_attachments/"
    assert services["worker"]["command"] == ["python", "manage.py", "db_worker", "--no-reload"]
    assert "profiles" not in services["worker"]
    # Monitoring only on request.
    assert services["prometheus"]["profiles"] == ["monitoring"] == services["grafana"]["profiles"]
    # nginx renders the shared template (the image's envsubst), with a value for each placeholder.
    proxy = services["proxy"]
    assert any(v.startswith(f"{ROOT}/deploy/nginx/chat.conf.template:") for v in proxy["volumes"])
    assert set(proxy["environment"]) == placeholders(TEMPLATE)
    assert "web:8000" in proxy["environment"]["CHAT_UPSTREAMS"]


def test_compose_needs_no_hand_written_secret_and_shares_one_key_file():
    result = compose_config("config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name in ("migrate", "web", "worker"):
        environment = services[name]["environment"]
        assert environment["SECRET_KEY_FILE"] == "/var/lib/chat/secret/key"
        assert any(str(v).startswith("secret:") or ":/var/lib/chat/secret" in str(v) for v in services[name]["volumes"])


def test_monitoring_profile_mounts_the_dashboard_and_the_alert_rules(compose):
    grafana = compose["services"]["grafana"]["volumes"]
    assert f"{DEPLOY}/grafana/dashboards:/var/lib/grafana/dashboards:ro" in grafana
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/chat.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    prometheus = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    scrape = prometheus["scrape_configs"][0]
    # Every web replica on its own: Docker's DNS answers one A record per replica.
    assert scrape["dns_sd_configs"][0]["names"] == ["web"] and scrape["dns_sd_configs"][0]["port"] == 8000


# --- Dockerfile -----------------------------------------------------------------------------
def dockerfile_stages() -> dict[str, list[str]]:
    stages, current = {}, None
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if match := re.match(r"FROM \S+(?: AS (\w+))?", line):
            current = match.group(1) or "final"
            stages[current] = []
        elif current and line.strip() and not line.startswith("#"):
            stages[current].append(line)
    return stages


def test_dockerfile_runtime_is_small_non_root_and_runs_the_production_command():
    stages = dockerfile_stages()
    assert {"build", "static", "runtime", "proxy"} <= set(stages)
    runtime = "\n".join(stages["runtime"])
    assert "USER chat" in runtime and "useradd" in runtime
    assert 'CMD ["deploy/serve.sh"]' in runtime
    assert "COPY --from=build /venv /venv" in runtime  # no compiler or pip cache in the final image
    assert "requirements.txt" in "\n".join(stages["build"])
    assert "collectstatic" in "\n".join(stages["static"])
    # The proxy image carries a value for every placeholder of the shared template.
    proxy = "\n".join(stages["proxy"])
    assert set(re.findall(r"(CHAT_[A-Z_]+)=", proxy)) == placeholders(TEMPLATE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", ".git"} <= set(ignored)


def test_proxy_template_renders_for_the_cluster_and_refuses_a_missing_value():
    values = {
        "CHAT_LISTEN": "127.0.0.1:8080",
        "CHAT_UPSTREAMS": "server 127.0.0.1:8001; server 127.0.0.1:8002;",
        "CHAT_STATIC_ROOT": "/srv/static",
        "CHAT_MEDIA_ROOT": "/srv/media",
    }
    rendered = render(TEMPLATE, values)
    assert not placeholders(rendered)
    assert "location /_attachments/ {\n        internal;\n        alias /srv/media/;" in rendered
    assert "proxy_set_header Upgrade $http_upgrade;" in rendered  # nginx's own variables stay
    directives = [line.strip() for line in rendered.splitlines() if not line.strip().startswith("#")]
    assert "least_conn;" in directives
    assert not any(d.startswith(("ip_hash", "hash ", "sticky")) for d in directives)  # no sticky sessions
    with pytest.raises(KeyError, match="CHAT_MEDIA_ROOT"):
        render(TEMPLATE, {k: v for k, v in values.items() if k != "CHAT_MEDIA_ROOT"})


# --- Kubernetes -----------------------------------------------------------------------------
def kustomize_build() -> list[dict]:
    """The subset of `kustomize build` our kustomization uses: resources, namespace, labels, images.

    (kubectl is not installed in CI; every file is also validated on its own.)
    """
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert set(kustomization) <= {"apiVersion", "kind", "namespace", "labels", "resources", "images"}
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in kustomization.get("images", [])}
    labels = {k: v for entry in kustomization.get("labels", []) for k, v in entry["pairs"].items()}
    documents = []
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc["kind"] != "Namespace":
                doc["metadata"]["namespace"] = kustomization["namespace"]
            doc["metadata"].setdefault("labels", {}).update(labels)
            for container in _containers(doc):
                container["image"] = images.get(container["image"], container["image"])
            documents.append(doc)
    return documents


def _pod_spec(doc: dict) -> dict | None:
    if doc["kind"] in {"Deployment", "Job"}:
        return doc["spec"]["template"]["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def _containers(doc: dict) -> list[dict]:
    spec = _pod_spec(doc)
    return spec["containers"] if spec else []


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict]:
    """By kind, and by kind/name where a kind comes more than once (Deployment/chat-worker)."""
    documents = kustomize_build()
    by_kind = {f"{doc['kind']}/{doc['metadata']['name']}": doc for doc in documents}
    for doc in documents:
        by_kind.setdefault(doc["kind"], doc)  # the first of its kind: the web Deployment
    return by_kind


def test_every_manifest_file_is_in_the_kustomization_and_valid_against_kubernetes_schemas():
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk
    for doc in kustomize_build():
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_refused_by_the_validator(manifests):
    broken = json.loads(json.dumps(manifests["Deployment"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"x": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_web_deployment_probes_drain_and_resources(manifests):
    deployment = manifests["Deployment"]
    pod = deployment["spec"]["template"]
    web = pod["spec"]["containers"][0]
    assert web["command"] == ["deploy/serve.sh"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert web["resources"]["requests"]["cpu"] and web["resources"]["requests"]["memory"]
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    config = manifests["ConfigMap"]["data"]
    grace = float(config["SHUTDOWN_GRACE_SECONDS"])
    assert pod["spec"]["terminationGracePeriodSeconds"] > 5 + grace
    assert web["image"] == "registry.example.com/chat-server:1.0.0"


def test_manifests_refer_to_each_other(manifests):
    deployment, pod_labels = manifests["Deployment"], manifests["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert manifests["Service"]["spec"]["selector"].items() <= pod_labels.items()
    assert manifests["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert manifests["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    backends = [p["backend"]["service"] for r in manifests["Ingress"]["spec"]["rules"] for p in r["http"]["paths"]]
    assert {b["name"] for b in backends} == {manifests["Service"]["metadata"]["name"]}
    timeouts = manifests["Ingress"]["metadata"]["annotations"]
    assert int(timeouts["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    for kind in ("Deployment", "Deployment/chat-worker", "Job", "CronJob"):
        for container in _containers(manifests[kind]):
            refs = {next(iter(ref.values()))["name"] for ref in container["envFrom"]}
            assert refs == {manifests["ConfigMap"]["metadata"]["name"], manifests["Secret"]["metadata"]["name"]}
            assert container["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert _containers(manifests["Job"])[0]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    maintenance = " ".join(_containers(manifests["CronJob"])[0]["command"])
    assert "manage.py attachments_cleanup" in maintenance and "manage.py flushexpiredtokens" in maintenance
    worker = _containers(manifests["Deployment/chat-worker"])[0]
    assert worker["command"] == ["python", "manage.py", "db_worker", "--no-reload"]


def test_secret_holds_placeholders_only(manifests):
    for name, value in manifests["Secret"]["stringData"].items():
        assert value == "" or "replace" in value or ".example." in value, name


# --- Prometheus and Grafana ---------------------------------------------------------------
def project_series() -> set[str]:
    """Series names our metrics produce, as Prometheus sees them."""
    names = set()
    for metric in vars(metrics).values():
        if isinstance(metric, Counter):
            names.add(f"{metric._name}_total")
        elif isinstance(metric, Histogram):
            names |= {f"{metric._name}_{suffix}" for suffix in ("bucket", "count", "sum")}
        elif isinstance(metric, Gauge):
            names.add(metric._name)
    return names


def series_in(expr: str) -> set[str]:
    promql_parser.parse(expr)  # raises on a syntax error
    return set(re.findall(r"\b(chat_[a-z_]+)\b", expr))


def test_alert_rules_parse_and_cover_what_the_issue_asks():
    rules = {
        r["alert"]: r
        for g in yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())["groups"]
        for r in g["rules"]
    }
    for rule in rules.values():
        assert series_in(rule["expr"]) <= project_series(), rule["alert"]
    assert "chat_delivery_seconds_bucket" in rules["ChatDeliveryP99Slow"]["expr"]
    assert "0.99" in rules["ChatDeliveryP99Slow"]["expr"] and rules["ChatDeliveryP99Slow"]["expr"].endswith("> 1")
    assert "chat_events_dropped_total" in rules["ChatEventsDropped"]["expr"]
    assert "chat_ready == 0" in rules["ChatProcessNotReady"]["expr"]


def test_dashboard_panels_use_our_metrics_per_process():
    dashboard = json.loads((DEPLOY / "grafana/dashboards/chat.json").read_text())
    exprs = {panel["title"]: [t["expr"] for t in panel["targets"]] for panel in dashboard["panels"]}
    used = set()
    for title, targets in exprs.items():
        for expr in targets:
            used |= series_in(expr)
        assert targets, title
    assert used <= project_series()
    everything = "\n".join(e for targets in exprs.values() for e in targets)
    assert "rate(chat_messages_sent_total" in everything
    assert "histogram_quantile(0.5, " in everything and "histogram_quantile(0.99, " in everything
    for series in ("chat_websocket_connections", "chat_events_dropped_total", "chat_throttled_total"):
        assert re.search(rf"by \(instance[^)]*\) \((rate\()?{series}", everything), series
