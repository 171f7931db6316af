"""Checks the deployment recipes in config/deploy against the real binaries.

No container engine or cluster runs in the test suite, so this checks what can
be checked without one:

- every AI Hub setting a recipe sets (compose.yaml, the Kubernetes ConfigMap
  and Secret example, the systemd environment files) is accepted by the real
  configuration loader: ``aihub serve --check`` for a control plane's
  variables, ``aihub-gateway --check`` for a gateway's (both refuse unknown
  keys and invalid values);
- health checks and probes ask ``/readyz``;
- the pieces name each other consistently: the load balancer's upstreams and
  Prometheus' targets are the compose services, each gateway has its own spool
  volume, mounted files exist, Kubernetes' envFrom names exist, the
  Dockerfile's COPY sources exist;
- ``kubectl kustomize`` renders the manifests and ``systemd-analyze verify``
  accepts the units, when those tools are installed.

Run: ``python -m pytest config/deploy/test_recipes.py -q`` with ``AIHUB_BIN``
(default ``$CARGO_TARGET_DIR/debug/aihub``; ``aihub-gateway`` next to it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", "/root/.cache/aihub/target"))
AIHUB_BIN = Path(os.environ.get("AIHUB_BIN", str(TARGET / "debug" / "aihub")))
GATEWAY_BIN = Path(os.environ.get("AIHUB_GATEWAY_BIN", str(AIHUB_BIN.parent / "aihub-gateway")))


def env_file(path: Path) -> Dict[str, str]:
    """KEY=VALUE lines (comments and blanks skipped), as systemd and compose read them."""
    out: Dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        out[key] = value
    return out


def check_config(env: Dict[str, str], runs: str) -> None:
    """Runs the configuration check of the program a process runs (``aihub``
    for ``aihub serve``, ``aihub-gateway``) on that process's variables: the
    control plane reads AIHUB_* (but not AIHUB_GW_*), the gateway AIHUB_GW_*.
    It must accept them all (unknown keys and bad values are refused)."""
    gateway_vars = {k: v for k, v in env.items() if k.startswith("AIHUB_GW_")}
    plane_vars = {k: v for k, v in env.items() if k.startswith("AIHUB_") and k not in gateway_vars}
    binary, args, own = {
        "aihub-gateway": (GATEWAY_BIN, ["--check"], gateway_vars),
        "aihub": (AIHUB_BIN, ["serve", "--check"], plane_vars),
    }[runs]
    assert own, f"no settings for {runs}"
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    done = subprocess.run(
        [str(binary), *args],
        env={**base, **own},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (
        f"{binary.name} {' '.join(args)} refused {sorted(own)}:\n{done.stdout}{done.stderr}"
    )


def substitute(value: str, variables: Dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message}."""

    def one(m: "re.Match[str]") -> str:
        name, op, rest = m.group(1), m.group(2), m.group(3) or ""
        if name in variables and (variables[name] or op != ":-"):
            return variables[name]
        if op == ":-":
            return rest
        raise AssertionError(f"compose needs {name}, which env.example does not set")

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:-|:\?)([^}]*))?\}", one, value)


# ---------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((HERE / "compose.yaml").read_text())


def aihub_services(compose: dict) -> Dict[str, dict]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("command", [""])[0] in ("aihub", "aihub-gateway")
    }


def test_compose_settings_are_accepted_by_the_binaries(compose: dict) -> None:
    variables = env_file(HERE / "env.example")
    services = aihub_services(compose)
    kinds = sorted(svc["command"][0] for svc in services.values())
    assert kinds.count("aihub-gateway") >= 2, "several gateways behind the load balancer"
    assert kinds.count("aihub") >= 2, "more than one control plane"
    for name, svc in services.items():
        env = {k: substitute(str(v), variables) for k, v in svc["environment"].items()}
        # The image sets the listeners (Dockerfile ENV).
        env.update(dockerfile_env())
        try:
            check_config(env, svc["command"][0])
        except AssertionError as e:
            raise AssertionError(f"service {name}: {e}") from None


def test_compose_wires_health_volumes_and_services(compose: dict) -> None:
    services = compose["services"]
    aihub = aihub_services(compose)
    gateways = sorted(n for n, s in aihub.items() if s["command"][0] == "aihub-gateway")
    planes = sorted(n for n, s in aihub.items() if s["command"][0] == "aihub")

    for name, svc in aihub.items():
        test = " ".join(svc["healthcheck"]["test"])
        assert "/readyz" in test, f"{name}: health check should ask /readyz, not {test!r}"
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown service {dep}"

    # Each gateway keeps its own spool.
    spools = [tuple(services[g]["volumes"]) for g in gateways]
    assert len(set(spools)) == len(spools), f"gateways share a spool volume: {spools}"
    for g in gateways:
        for v in services[g]["volumes"]:
            assert v.split(":")[0] in compose["volumes"], f"{g}: volume {v} not declared"

    # Bind mounts exist.
    for name, svc in services.items():
        for v in svc.get("volumes", []):
            source = v.split(":")[0]
            if source.startswith("."):
                assert (HERE / source).exists(), f"{name} mounts {source}, which does not exist"

    # The load balancer sends to exactly these services.
    nginx = (HERE / "nginx.conf").read_text()
    blocks = dict(re.findall(r"upstream (\w+) \{(.*?)\}", nginx, re.S))
    upstream_hosts = {
        name: sorted(re.findall(r"server ([\w-]+):(\d+)", body)) for name, body in blocks.items()
    }
    assert upstream_hosts["gateways"] == [(g, "8080") for g in gateways]
    assert upstream_hosts["control_planes"] == [(p, "8081") for p in planes]
    gateway_cp = {svc["environment"]["AIHUB_GW_CONTROL_PLANE__URL"] for svc in (services[g] for g in gateways)}
    assert gateway_cp == {"http://lb:8081"}, gateway_cp

    # Prometheus scrapes every instance (gateways on their ops port).
    prom = yaml.safe_load((HERE / "prometheus.yml").read_text())
    targets = sorted(t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"])
    assert targets == sorted([f"{g}:9090" for g in gateways] + [f"{p}:8081" for p in planes])

    # Grafana is provisioned from the repository's folders.
    grafana_mounts = [v.split(":")[0] for v in services["grafana"]["volumes"]]
    assert "../grafana/provisioning" in grafana_mounts and "../../dashboards" in grafana_mounts
    needed = set(re.findall(r"\$\{(AIHUB_[A-Z_]+)\}", (REPO / "config/grafana/provisioning/datasources/aihub.yaml").read_text()))
    assert needed <= set(services["grafana"]["environment"]), needed - set(services["grafana"]["environment"])


def dockerfile_env() -> Dict[str, str]:
    text = (HERE / "Dockerfile").read_text()
    block = re.search(r"^ENV ((?:.*\\\n)*.*)$", text, re.M)
    assert block, "the Dockerfile sets the listeners with ENV"
    return dict(re.findall(r"(AIHUB_\w+)=(\S+)", block.group(1)))


def test_dockerfile_copies_what_exists_and_ships_both_binaries() -> None:
    text = (HERE / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.M):
        *sources, _dest = line.split()
        for source in sources:
            path = REPO / source
            assert path.exists(), f"COPY {source}: not in the repository"
    assert "aihub-gateway" in text and "target/release/aihub " in text
    # The image's own settings, with the secrets every deployment adds.
    secrets = {
        "AIHUB_INTERNAL__SHARED_SECRET": "s" * 40,
        "AIHUB_AUTH__TOKEN_SECRET": "t" * 40,
        "AIHUB_GW_CONTROL_PLANE__SHARED_SECRET": "s" * 40,
    }
    for program in ("aihub", "aihub-gateway"):
        check_config({**dockerfile_env(), **secrets}, program)
    # The schema the ClickHouse container runs at first start is the repository's.
    assert (REPO / "config/clickhouse/schema.sql").is_file()


# ---------------------------------------------------------------- kubernetes

K8S = HERE / "kubernetes"


def k8s_docs() -> List[dict]:
    docs: List[dict] = []
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        docs.extend(d for d in yaml.safe_load_all((K8S / resource).read_text()) if d)
    return docs


def containers(docs: Iterable[dict]) -> Iterable[tuple]:
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet"):
            for c in d["spec"]["template"]["spec"]["containers"]:
                yield d, c


def test_kubernetes_settings_are_accepted_by_the_binaries() -> None:
    docs = k8s_docs()
    config = next(d for d in docs if d["kind"] == "ConfigMap")
    secret = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    names = {("ConfigMap", config["metadata"]["name"]), ("Secret", secret["metadata"]["name"])}
    for workload, c in containers(docs):
        env: Dict[str, str] = {}
        for source in c["envFrom"]:
            if "configMapRef" in source:
                assert ("ConfigMap", source["configMapRef"]["name"]) in names
                env.update(config["data"])
            else:
                assert ("Secret", source["secretRef"]["name"]) in names
                env.update(secret["stringData"])
        for e in c.get("env", []):
            env[e["name"]] = "pod-0"
        try:
            check_config(env, c["args"][0])
        except AssertionError as e:
            raise AssertionError(f"{workload['metadata']['name']}: {e}") from None


def test_kubernetes_probes_ports_and_services() -> None:
    docs = k8s_docs()
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for workload, c in containers(docs):
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        probe = c["readinessProbe"]["httpGet"]
        assert probe["path"] == "/readyz", workload["metadata"]["name"]
        assert probe["port"] in ports
        assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
        labels = workload["spec"]["template"]["metadata"]["labels"]
        assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()
        mounted = {m["name"] for m in c.get("volumeMounts", [])}
        declared = {v["name"] for v in workload["spec"]["template"]["spec"].get("volumes", [])}
        declared |= {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
        assert mounted <= declared, mounted - declared
    gateway = next(d for d in docs if d["kind"] == "StatefulSet")
    assert gateway["spec"]["volumeClaimTemplates"], "each gateway keeps its spool on a volume"
    for d in docs:
        if d["kind"] == "Service":
            selector = d["spec"]["selector"]
            assert any(
                selector.items() <= w["spec"]["template"]["metadata"]["labels"].items()
                for w, _ in containers(docs)
            ), f"service {d['metadata']['name']} selects nothing"
        if d["kind"] == "Ingress":
            for rule in d["spec"]["rules"]:
                for p in rule["http"]["paths"]:
                    assert ("Service", p["backend"]["service"]["name"]) in kinds


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders() -> None:
    done = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rendered = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert len(rendered) == len(k8s_docs())
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "aihub" for d in rendered)


# ---------------------------------------------------------------- systemd

SYSTEMD = HERE / "systemd"


@pytest.mark.parametrize(
    "unit,env_example,binary",
    [
        ("aihub-control-plane.service", "control-plane.env.example", "aihub"),
        ("aihub-gateway.service", "gateway.env.example", "aihub-gateway"),
    ],
)
def test_systemd_units(unit: str, env_example: str, binary: str, tmp_path: Path) -> None:
    text = (SYSTEMD / unit).read_text()
    assert f"ExecStart=/usr/local/bin/{binary}" in text
    assert f"EnvironmentFile=/etc/aihub/{env_example.removesuffix('.example')}" in text
    env = env_file(SYSTEMD / env_example)
    check_config(env, binary)
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    # Verify the unit as systemd would load it, with the real binary and
    # environment file in place of the installed ones.
    real = AIHUB_BIN if binary == "aihub" else GATEWAY_BIN
    local = text.replace(f"/usr/local/bin/{binary}", str(real)).replace(
        f"/etc/aihub/{env_example.removesuffix('.example')}", str(SYSTEMD / env_example)
    )
    (tmp_path / unit).write_text(local)
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(tmp_path / unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
