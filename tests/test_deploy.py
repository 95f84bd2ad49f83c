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
@pytest.mark.parametrize("overlay", ["cpu", "gpu"])
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
