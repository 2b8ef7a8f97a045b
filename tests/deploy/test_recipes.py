"""The deployment recipes (deploy/): parsed and checked against the project, since no container engine or cluster
runs on this machine. What is checked: structure, pinned images, that every command parses with the launcher's
and Locust's own parsers, and that master, workers, ports, counts and volumes agree across each recipe."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

import harness
from harness.__main__ import _write_termination_message, parse_arguments

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
IMAGE = f"prospectpro-loadtest:{harness.__version__}"  # the image tag is the harness version the master checks


@pytest.fixture(scope="module")
def locust_parser():
    import locust.argument_parser

    import locustfile  # noqa: F401  registers the harness's own Locust options

    return locust.argument_parser.get_parser(default_config_files=[])


def _k8s(name: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all((DEPLOY / "kubernetes" / name).read_text()) if doc]


def _option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def _check_master(args: list[str], locust_parser) -> tuple:
    """`harness perf ...`: the launcher parses it, and Locust parses what the launcher passes through."""
    assert args[:2] == ["harness", "perf"], args
    launcher, locust_args = parse_arguments(args[1:])
    assert launcher.mode == "perf" and launcher.results_root == "/results"
    parsed = locust_parser.parse_args(locust_args)
    assert parsed.master and parsed.master_bind_host == "0.0.0.0"
    return launcher, parsed


def _check_worker(args: list[str], locust_parser):
    assert args[:3] == ["locust", "-f", "locustfile.py"], args
    parsed = locust_parser.parse_args(args[1:])
    assert parsed.worker
    return parsed


def test_the_image_is_pinned_and_carries_what_runs():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    base = re.search(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE).group(1)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base  # no floating tag
    assert "pip install -r requirements.txt" in dockerfile
    requirements = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]  # fmt: skip
    assert all("==" in line for line in requirements)  # what the image installs is pinned too
    copied = set(re.findall(r"^COPY\s+(\S+?)/?\s", dockerfile, re.MULTILINE))
    # Every top-level folder of the project is code or data the harness reads, except these.
    not_run = {"tests", "benchmarks", "docs", "deploy", "results", "dashboards"}  # dashboards/: Grafana imports it
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    folders = {line.split("/", 1)[0] for line in tracked.splitlines() if "/" in line and not line.startswith(".")}
    folders -= not_run
    assert folders | {"locustfile.py", "product.py"} <= copied, folders - copied
    assert "USER harness" in dockerfile and IMAGE in dockerfile


def test_compose_runs_the_launcher_as_master_and_locust_workers(locust_parser):
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"simulator", "master", "worker"}
    assert {service["image"] for service in services.values()} == {IMAGE}
    launcher, master = _check_master(services["master"]["command"], locust_parser)
    worker = _check_worker(services["worker"]["command"], locust_parser)
    assert worker.master_host == "master" and worker.master_port == master.master_bind_port == 5557
    assert master.expect_workers == services["worker"]["deploy"]["replicas"]
    assert "results:/results" in services["master"]["volumes"] and "results" in compose["volumes"]
    simulator = services["simulator"]["command"]
    assert simulator[:1] == ["simulator"] and _option(simulator, "--port") == "8000"
    assert services["master"]["environment"]["PP_TARGET_URL"] == "http://simulator:8000"


def test_kubernetes_master_is_a_job_that_ends_with_the_verdict(locust_parser):
    documents = _k8s("harness.yaml")
    by_kind_name = {(doc["kind"], doc["metadata"]["name"]): doc for doc in documents}
    master_job = by_kind_name[("Job", "harness-master")]
    workers_job = by_kind_name[("Job", "harness-workers")]
    service = by_kind_name[("Service", "harness-master")]
    assert ("PersistentVolumeClaim", "harness-results") in by_kind_name
    assert ("ConfigMap", "harness-settings") in by_kind_name

    assert master_job["spec"]["backoffLimit"] == 0
    pod = master_job["spec"]["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    container = pod["spec"]["containers"][0]
    assert container["image"] == IMAGE and container["terminationMessagePath"] == "/dev/termination-log"
    launcher, master = _check_master(container["args"], locust_parser)
    assert launcher.termination_message == container["terminationMessagePath"]
    assert {"mountPath": "/results", "name": "results"} in container["volumeMounts"]
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "harness-results"
    assert service["spec"]["selector"] == pod["metadata"]["labels"]
    assert service["spec"]["ports"][0]["targetPort"] == master.master_bind_port

    worker_container = workers_job["spec"]["template"]["spec"]["containers"][0]
    assert worker_container["image"] == IMAGE
    worker = _check_worker(worker_container["args"], locust_parser)
    assert worker.master_host == service["metadata"]["name"] and worker.master_port == master.master_bind_port
    assert workers_job["spec"]["parallelism"] == workers_job["spec"]["completions"] == master.expect_workers


def test_kubernetes_simulator_matches_the_target_the_settings_name():
    settings = {doc["metadata"]["name"]: doc for doc in _k8s("harness.yaml") if doc["kind"] == "ConfigMap"}
    target = settings["harness-settings"]["data"]["PP_TARGET_URL"]
    documents = {doc["kind"]: doc for doc in _k8s("simulator.yaml")}
    service, deployment = documents["Service"], documents["Deployment"]
    assert target == f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE and _option(container["args"], "--port") == str(service["spec"]["ports"][0]["targetPort"])
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_readme_quotes_the_recipes_commands():
    readme = (ROOT / "README.md").read_text()
    for command in ("docker build -f deploy/Dockerfile -t " + IMAGE + " .",
                    "kubectl apply -f deploy/kubernetes/harness.yaml"):  # fmt: skip
        assert command in readme, command


def test_the_termination_message_is_the_verdict_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    message = tmp_path / "termination-log"
    _write_termination_message(message, run, 5)
    assert message.read_text() == f"no verdict (exit 5): see {run}\n"
    (run / "verdict.txt").write_text("Verdict: BREACH (exit 3): baseline 'production', 46 checks\nmore\n")
    _write_termination_message(message, run, 3)
    assert message.read_text() == "Verdict: BREACH (exit 3): baseline 'production', 46 checks\n"
