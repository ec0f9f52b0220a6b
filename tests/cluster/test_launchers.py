"""The Kubernetes and HTCondor launchers, validated offline (no cluster of either kind is reachable here).

The Kubernetes Jobs are checked against the Kubernetes API schema (``kubernetes-validate``, strict: unknown fields
fail), and their shard arguments against each other; the HTCondor submit file is parsed by HTCondor's own
Python bindings (``htcondor2.Submit``) and its macros expanded. ``make test-cluster`` installs both packages
(``cluster/requirements.txt``); elsewhere these tests are skipped.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
kubernetes_validate = pytest.importorskip("kubernetes_validate")
KUBERNETES = "1.33.0"  # the oldest version with both backoffLimitPerIndex and appArmorProfile in the schema


def _doc(name: str) -> dict:
    return yaml.safe_load((ROOT / "cluster" / "kubernetes" / name).read_text())


@pytest.mark.parametrize("name", ["grade-job.yaml", "merge-job.yaml"])
def test_kubernetes_jobs_are_valid_against_the_api_schema(name):
    kubernetes_validate.validate(_doc(name), KUBERNETES, strict=True)


def test_kubernetes_validation_is_strict_enough_to_catch_a_typo():
    bad = copy.deepcopy(_doc("grade-job.yaml"))
    bad["spec"]["completionsMode"] = bad["spec"].pop("completionMode")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES, strict=True)


def test_indexed_job_gives_each_completion_its_shard_and_merge_joins_them_all():
    job = _doc("grade-job.yaml")
    n = job["spec"]["completions"]
    assert job["spec"]["completionMode"] == "Indexed"
    args = " ".join(job["spec"]["template"]["spec"]["containers"][0]["args"])
    assert f"--shard $JOB_COMPLETION_INDEX/{n}" in args and "shard-$JOB_COMPLETION_INDEX" in args
    merge = _doc("merge-job.yaml")["spec"]["template"]["spec"]["containers"][0]["command"]
    assert merge[3] == "merge" and merge[5:] == [f"/class/out/shard-{k}" for k in range(n)]


def test_htcondor_submit_file_parses_and_queues_one_shard_per_process():
    htcondor = pytest.importorskip("htcondor2")
    submit = htcondor.Submit((ROOT / "cluster" / "htcondor" / "grade.sub").read_text())
    n = int(submit.expand("N"))
    assert submit.getQArgs() == "$(N)" and n == 4
    arguments = submit.expand("arguments")
    assert re.search(r"--shard 0/4 ", arguments) and "shard-0 " in arguments  # $(Process) is 0 for the first job
    assert submit.expand("request_cpus") == "2" and submit.expand("output").endswith("grade-0.out")
