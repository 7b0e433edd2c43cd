"""The scale-out files: compose's PostgreSQL and replicas, and Kubernetes manifests that validate and match the CLI."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway import Settings
from gateway.cli import main
from gateway.telemetry import TelemetrySettings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
#: The oldest Kubernetes release the manifests promise to work on, and the newest the schema package knows.
K8S_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
SECRETS = {
    "mpp-gateway-db", "mpp-gateway-clients", "mpp-gateway-agencies", "mpp-gateway-data-keys", "mpp-gateway-audit",
}  # fmt: skip


def manifests() -> list[dict[str, Any]]:
    """Every Kubernetes object in deploy/k8s (the kustomization aside)."""
    found = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name != "kustomization.yaml":
            found += [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    return found


def by_kind(kind: str) -> dict[str, Any]:
    [found] = [m for m in manifests() if m["kind"] == kind]
    return found


def cli_accepts(argv: list[str]) -> bool:
    """Whether ``mpp-gateway <argv> --help`` parses (exit 0), i.e. the command exists with these arguments."""
    try:
        main([*argv, "--help"])
    except SystemExit as exit_:
        return exit_.code == 0
    return False


def test_compose_runs_two_replicas_on_postgresql_after_a_one_shot_upgrade() -> None:
    """postgres, a db-upgrade run before the replicas, and two gateways on the same DSN with no password in it."""
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))["services"]
    assert {"postgres", "db-upgrade", "gateway", "gateway-2"} <= set(services)
    upgrade = services["db-upgrade"]
    assert upgrade["command"] == ["db", "upgrade"] and cli_accepts(upgrade["command"])
    assert upgrade["depends_on"]["postgres"]["condition"] == "service_healthy"
    replicas = [services["gateway"], services["gateway-2"]]
    dsns = {r["environment"]["MPP_STORE_DSN"] for r in replicas} | {upgrade["environment"]["MPP_STORE_DSN"]}
    assert len(dsns) == 1
    dsn = urllib.parse.urlsplit(dsns.pop())
    assert (dsn.scheme, dsn.hostname, dsn.password) == ("postgresql", "postgres", None)
    for service in (*replicas, upgrade, services["postgres"]):
        passwords = [v for k, v in service["environment"].items() if "PASSWORD" in k]
        assert passwords and all(re.fullmatch(r"\$\{MPP_PG_PASSWORD:\?[^}]+\}", v) for v in passwords)
    for replica in replicas:
        assert replica["depends_on"]["db-upgrade"]["condition"] == "service_completed_successfully"
        assert replica["environment"]["MPP_OTEL_EXPORTER"] == "otlp"
    assert replicas[0]["ports"] != replicas[1]["ports"]
    targets = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))["scrape_configs"][0]
    assert {"gateway:8080", "gateway-2:8080"} <= set(targets["static_configs"][0]["targets"])


def test_kustomization_lists_exactly_the_manifests() -> None:
    """Every manifest file is applied by the kustomization, and it names no missing file."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("manifest", manifests(), ids=lambda m: f"{m['kind']}/{m['metadata']['name']}")
def test_manifest_validates_against_the_kubernetes_schema(manifest: dict[str, Any], version: str) -> None:
    """Each object is valid for the Kubernetes API, strictly: no unknown or misspelt field."""
    kubernetes_validate.validate(manifest, version, strict=True)


def test_schema_validation_rejects_a_broken_manifest() -> None:
    """The validator does catch mistakes: a misspelt probe field fails."""
    deployment = by_kind("Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_deployment_probes_resources_and_commands() -> None:
    """Readiness on /readyz, liveness on /healthz, resources set, and the init and main commands exist in the CLI."""
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    [gateway] = pod["containers"]
    [init] = pod["initContainers"]
    assert gateway["args"] == ["serve"] and cli_accepts(gateway["args"])
    assert init["args"] == ["db", "upgrade"] and cli_accepts(init["args"])
    ports = {p["name"]: p["containerPort"] for p in gateway["ports"]}
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    config = by_kind("ConfigMap")["data"]
    assert ports["http"] == int(config["MPP_PORT"])
    for container in (gateway, init):
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])


def test_pods_run_as_the_images_non_root_user() -> None:
    """runAsNonRoot with the numeric user the image declares; no privilege escalation, nothing but a scratch /tmp."""
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    user = re.search(r"^USER (\d+)", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"), re.M)
    assert user is not None
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == int(user.group(1)) != 0
    for container in pod["containers"] + pod["initContainers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False and context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]


def test_secrets_are_referenced_never_included() -> None:
    """No Secret object or secret value in the manifests; only the Secrets the kustomization says to create."""
    assert not [m for m in manifests() if m["kind"] == "Secret"]
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    referenced = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    for container in pod["containers"] + pod["initContainers"]:
        referenced |= {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
        referenced |= {e["valueFrom"]["secretKeyRef"]["name"] for e in container.get("env", []) if "valueFrom" in e}
    assert referenced == SECRETS
    instructions = (K8S / "kustomization.yaml").read_text(encoding="utf-8")
    assert all(f"create secret generic {name}" in instructions for name in SECRETS)


def test_configmap_holds_only_settings_the_gateway_reads() -> None:
    """Every MPP_* key is a setting of the gateway or its telemetry, and the DSN carries no password."""
    data = by_kind("ConfigMap")["data"]
    known = {"MPP_" + f.name.upper() for f in dataclasses.fields(Settings)}
    known |= {"MPP_OTEL_EXPORTER", "MPP_OTEL_ENDPOINT", "MPP_OTEL_HEADERS", "MPP_OTEL_SAMPLE_RATIO"}
    assert set(data) <= known, set(data) - known
    settings = Settings.from_env(data)
    assert settings.store_dsn is not None and urllib.parse.urlsplit(settings.store_dsn).password is None
    assert (settings.host, settings.port) == ("0.0.0.0", 8080)  # noqa: S104 - a pod listens on its own address
    assert TelemetrySettings.from_env(data).exporter == "otlp"
    assert by_kind("Deployment")["spec"]["template"]["spec"]["volumes"][0]["name"] == "clients"
    assert settings.clients_file is not None and settings.clients_file.startswith("/etc/mpp/clients/")


def test_service_hpa_and_pdb_point_at_the_deployment() -> None:
    """The Service selects the pods' label and named port; the HPA scales the Deployment; the PDB keeps one up."""
    deployment = by_kind("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service, hpa, pdb = by_kind("Service"), by_kind("HorizontalPodAutoscaler"), by_kind("PodDisruptionBudget")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": deployment["metadata"]["name"]}  # fmt: skip
    assert hpa["spec"]["minReplicas"] >= 2
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 0 < pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
