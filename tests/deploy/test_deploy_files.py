"""The deployment files parse, point at each other correctly, and match the CLI and the metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def load(name: str) -> Any:
    return yaml.safe_load((DEPLOY / name).read_text(encoding="utf-8"))


def test_compose_has_the_observability_stack_and_valid_commands() -> None:
    """The compose file runs gateway, mocks, collector, tracing backend, Prometheus and Grafana with real commands."""
    compose = load("compose.yaml")
    services = compose["services"]
    assert {"gateway", "mocks", "otel-collector", "jaeger", "prometheus", "grafana"} <= set(services)
    gateway = services["gateway"]
    assert gateway["environment"]["MPP_OTEL_EXPORTER"] == "otlp"
    assert gateway["environment"]["MPP_OTEL_ENDPOINT"].startswith("http://otel-collector:4318/")
    from gateway.cli import main

    for name in ("mocks",):
        argv = services[name]["command"]
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--help"])
        assert exit_.value.code == 0, argv
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), source


def test_collector_receives_otlp_http_and_exports_to_the_tracing_backend() -> None:
    """The collector listens for OTLP/HTTP on 4318 and sends traces to Jaeger."""
    config = load("otel-collector.yaml")
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    pipeline = config["service"]["pipelines"]["traces"]
    assert "otlp" in pipeline["receivers"]
    assert any(e.startswith("otlp/jaeger") for e in pipeline["exporters"])
    assert config["exporters"]["otlp/jaeger"]["endpoint"].startswith("jaeger:")


def test_prometheus_scrapes_the_gateway_metrics_endpoint() -> None:
    """Prometheus scrapes /metrics on the gateway service."""
    config = load("prometheus.yml")
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "mpp-gateway")
    assert job["metrics_path"] == "/metrics"
    assert "gateway:8080" in job["static_configs"][0]["targets"]


def test_dashboard_queries_only_metrics_the_gateway_exports() -> None:
    """Every metric a Grafana panel queries is one the gateway's registry exports."""
    from prometheus_client import generate_latest

    from gateway.telemetry import Metrics

    metrics = Metrics()
    metrics.requests.labels("s.a.b", "s", "completed").inc()
    metrics.retries.labels("s", "s.a.b").inc()
    metrics.agency_calls.labels("s", "s.a.b", "completed").inc()
    metrics.http_requests.labels("/r", "GET", "200").inc()
    metrics.http_seconds.labels("/r").observe(0.01)
    metrics.agency_seconds.labels("s", "s.a.b").observe(0.01)
    metrics.request_seconds.labels("s.a.b", "s").observe(0.01)
    metrics.in_flight.labels("s").set(1)
    metrics.circuit_state.labels("s").set(0)
    exported = {
        sample.name
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
    }
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "mpp-gateway.json").read_text(encoding="utf-8"))
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b(mpp_[a-z_]+)\b", target["expr"])
    }
    assert queried, "the dashboard queries nothing"
    assert queried <= exported, queried - exported


def test_image_runs_the_cli_as_a_non_root_user_with_a_health_check() -> None:
    """The image's entry point is the CLI's serve command, as a non-root user, checked on /healthz."""
    dockerfile = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert dockerfile.count("FROM ") >= 2
    assert 'ENTRYPOINT ["mpp-gateway"]' in dockerfile
    assert 'CMD ["serve"]' in dockerfile
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    assert "/healthz" in dockerfile
    assert "MPP_HOST=0.0.0.0" in dockerfile
