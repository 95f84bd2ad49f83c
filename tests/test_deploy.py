"""The deploy files: the Kubernetes overlays render and validate against the Kubernetes schemas (offline),
and the images install and serve exactly as the README does."""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from conftest import ROOT

DEPLOY = ROOT / "deploy"
KUBECTL = shutil.which("kubectl")
kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")


def rendered(overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(DEPLOY / "kubernetes" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (it renders the kustomize overlays)")
@pytest.mark.parametrize("overlay", ["cpu", "gpu", "cpu-postgres"])
def test_the_overlays_render_and_validate(overlay: str) -> None:
    documents = rendered(overlay)
    kinds = {doc["kind"] for doc in documents}
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap"} <= kinds
    version = kubernetes_validate.latest_version()
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    server = pod["containers"][0]
    assert server["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert server["livenessProbe"]["httpGet"]["path"] == "/health"
    assert server["resources"]["requests"]["cpu"]
    assert "models import /bundles/models.tar" in " ".join(pod["initContainers"][0]["args"])
    hpa = next(d for d in documents if d["kind"] == "HorizontalPodAutoscaler")
    metrics = [m.get("pods", m.get("resource", {})) for m in hpa["spec"]["metrics"]]
    assert metrics[0]["metric"]["name"] == "audio_queue_depth" and metrics[1]["name"] == "cpu"
    gpus = server["resources"]["limits"].get("nvidia.com/gpu")
    assert (gpus == 1) == (overlay == "gpu")


def _server(documents: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = next(d for d in documents if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed (it renders the kustomize overlays)")
def test_the_postgres_component_sets_only_the_jobs_database_url_from_its_secret() -> None:
    with_postgres, without = rendered("cpu-postgres"), rendered("cpu")
    env = {e["name"]: e for e in _server(with_postgres)["env"]}
    ref = {"name": "audio-jobs-db", "key": "url"}  # required: no quiet fallback to per-replica SQLite
    assert env["AUDIO_JOBS_DATABASE_URL"]["valueFrom"] == {"secretKeyRef": ref}
    for overlay, documents in (("cpu", without), ("gpu", rendered("gpu"))):
        assert "AUDIO_JOBS_DATABASE_URL" not in {e["name"] for e in _server(documents)["env"]}, overlay
    # Nothing else changes: without that one variable, the render is the cpu overlay's.
    _server(with_postgres)["env"].remove(env["AUDIO_JOBS_DATABASE_URL"])
    assert with_postgres == without
    # The example Secret is a valid manifest of the very Secret and key the component reads.
    example = yaml.safe_load(
        (DEPLOY / "kubernetes" / "components" / "postgres-jobs" / "secret.example.yaml").read_text()
    )
    kubernetes_validate.validate(example, kubernetes_validate.latest_version(), strict=True)
    assert example["kind"] == "Secret" and example["metadata"]["name"] == ref["name"]
    assert example["stringData"][ref["key"]].startswith("postgresql://")


def _instructions(dockerfile: str) -> dict[str, list[str]]:
    text = (DEPLOY / dockerfile).read_text().replace("\\\n", " ")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Z]+)\s+(.*)$", line.strip())
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_the_images_install_and_serve_as_the_readme_does(dockerfile: str) -> None:
    readme = (ROOT / "README.md").read_text()
    steps = _instructions(dockerfile)
    assert "scripts/install" in steps["RUN"]
    assert steps["CMD"] == ['["scripts/serve", "--host", "0.0.0.0", "--port", "8000"]']
    assert "scripts/serve" in readme and "scripts/install" in (ROOT / "scripts" / "serve").read_text()
    assert any(u.startswith("audio") for u in steps["USER"])  # not root
    assert "/health" in steps["HEALTHCHECK"][0]
    assert any("/models" in v for v in steps["VOLUME"])


def test_compose_builds_both_images() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    files = {service["build"]["dockerfile"] for service in compose["services"].values()}
    assert files == {"deploy/Dockerfile", "deploy/Dockerfile.cuda"}
    assert all("models:/models" in service["volumes"] for service in compose["services"].values())
