"""The Kubernetes manifests (recipes/kubernetes/): validated offline against Kubernetes's
own schemas (kubernetes-validate, strict: an unknown or misspelt field fails), and
their pods' variables read by harness.cluster as each pod would. No cluster runs
them here: a pod's host name under the headless Service is checked by its parts
(the Job's name, the index, the Service)."""
import glob
import os
import re

import kubernetes_validate
import pytest
import yaml

from conftest import REPO
from harness import cluster

MANIFESTS = sorted(glob.glob(os.path.join(REPO, "recipes", "kubernetes", "*.yaml")))
# The oldest Kubernetes the manifests are checked against (Indexed Jobs are GA since
# 1.24), and the newest the installed kubernetes-validate knows.
VERSIONS = ["1.27", kubernetes_validate.latest_version()]


def documents(name):
    with open(os.path.join(REPO, "recipes", "kubernetes", name)) as f:
        return {d["kind"]: d for d in yaml.safe_load_all(f)}


def pod_environ(job, index):
    """A pod's variables: what its container sets, and the Indexed Job's own index, with
    $(VAR) in args expanded as the kubelet does."""
    container, = job["spec"]["template"]["spec"]["containers"]
    environ = {e["name"]: e["value"] for e in container.get("env", [])}
    environ["JOB_COMPLETION_INDEX"] = str(index)
    args = [re.sub(r"\$\((\w+)\)", lambda m: environ[m.group(1)], a) for a in container["args"]]
    return environ, args


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=os.path.basename)
def test_manifests_are_valid_kubernetes(path, version):
    with open(path) as f:
        for document in yaml.safe_load_all(f):
            kubernetes_validate.validate(document, version, strict=True)


def test_a_misspelt_field_fails_validation():
    job = documents("jax-2pod-job.yaml")["Job"]
    job["spec"]["completionsMode"] = job["spec"].pop("completionMode")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, VERSIONS[-1], strict=True)


def test_the_job_s_pods_are_the_ranks_cluster_py_reads():
    manifests = documents("jax-2pod-job.yaml")
    job, service = manifests["Job"], manifests["Service"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"]
    # The headless Service selects the Job's pods and names them: pod 0 is rank 0's host.
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == {"job-name": job["metadata"]["name"]}
    assert spec["template"]["spec"]["subdomain"] == service["metadata"]["name"]
    rank0_host = "%s-0.%s" % (job["metadata"]["name"], service["metadata"]["name"])
    places = [cluster.describe(environ=pod_environ(job, i)[0]) for i in range(spec["completions"])]
    port = spec["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert places == [cluster.Place(i, spec["completions"], "%s:%d" % (rank0_host, port), 0, i,
                                    "KERAS_DISTRIBUTION") for i in range(spec["completions"])]


def test_the_sweep_s_pods_are_one_process_each_and_its_shards_cover_it():
    job = documents("sweep-indexed-job.yaml")["Job"]
    count = job["spec"]["completions"]
    shards = []
    for index in range(count):
        environ, args = pod_environ(job, index)
        assert cluster.describe(environ=environ) == cluster.SINGLE
        shards.append(args[args.index("--shard") + 1])
        assert args[args.index("--out") + 1] == "/results/%d" % index
    assert shards == ["%d/%d" % (k, count) for k in range(count)]
