"""The collector: result files in, the seeds' tables out.

The golden tests write the seeds' own rows (../shared/seeds/000 and 001) as
result records and compare the rendered Markdown exactly.
"""
import csv
import io
import json
import os
import subprocess
import sys

import pytest

from harness import schema, significance
from harness.collector import runs
from harness.collector.runs import load
from helpers import ROOT, gpu_telemetry, rapl, record, run, seed_rnn_records, write


def section(markdown, *headings):
    """The text under the last of `headings` (each found after the one before it),
    up to the next heading."""
    at = 0
    for heading in headings:
        at = markdown.index("\n" + heading + "\n", at) + len(heading) + 2
    following = markdown.find("\n#", at)
    return markdown[at:following if following >= 0 else None].strip()


def table(markdown, *headings):
    """The Markdown table under `headings`."""
    lines = section(markdown, *headings).splitlines()
    return "\n".join(line for line in lines if line.startswith("|"))


# The seeds' tables, rebuilt

def test_cifar10_results_are_the_seeds_rows(tmp_path):
    seed_rows = (  # model, backend, package, instance, GPUs, batch size, data format, images/s
        ("cnn", "mxnet", "mxnet-mkl", "C5.xLarge", 0, 32, "channels_last", 253.2),
        ("cnn", "mxnet", "mxnet-mkl", "C5.xLarge", 0, 32, "channels_first", 222.8),
        ("cnn", "tensorflow", "tensorflow", "C5.xLarge", 0, 32, "channels_last", 309.4),
        ("cnn", "tensorflow", "tensorflow", "C5.xLarge", 0, 32, "channels_first", 101.1),
        ("resnet50", "tensorflow", "tensorflow", "C5.18xLarge", 0, 32, "channels_last", 59),
        ("resnet50", "mxnet", "mxnet-mkl", "C5.18xLarge", 0, 32, "channels_first", 87.3),
        ("resnet50", "tensorflow", "tensorflow-gpu", "P3.8xLarge", 4, 128, "channels_last", 1020),
        ("resnet50", "mxnet", "mxnet-cu90", "P3.8xLarge", 4, 128, "channels_first", 1791.6))
    folder = write(tmp_path, *[record(*row[:7], dataset="cifar10", speed=row[7])
                               for row in seed_rows])
    status, markdown, errors = run(folder)
    assert (status, errors) == (0, "")
    assert table(markdown, "### CIFAR-10 Dataset", "#### Configuration") == """\
|                    |                                                         |
|--------------------|---------------------------------------------------------|
| Data Set           | [CIFAR-10](https://www.cs.toronto.edu/~kriz/cifar.html) |
| Model              | Simple CNN, ResNet50V1                                  |
| Keras Version      | 2.1.5                                                   |
| MXNet Version      | 1.1.0                                                   |
| TensorFlow Version | 1.7.0                                                   |
| Training Method    | `fit`                                                   |"""
    assert table(markdown, "### CIFAR-10 Dataset", "#### Results") == """\
| Instance Type   | GPU used   | Model      | Backend    | Package        | Batch Size   | Data Format   | Speed (images/s)   |
|-----------------|------------|------------|------------|----------------|--------------|---------------|--------------------|
| C5.18xLarge     | 0          | ResNet50V1 | MXNet      | mxnet-mkl      | 32           | channel first | 87                 |
| C5.18xLarge     | 0          | ResNet50V1 | TensorFlow | tensorflow     | 32           | channel last  | 59                 |
| C5.xLarge       | 0          | Simple CNN | MXNet      | mxnet-mkl      | 32           | channel first | 223                |
| C5.xLarge       | 0          | Simple CNN | MXNet      | mxnet-mkl      | 32           | channel last  | 253                |
| C5.xLarge       | 0          | Simple CNN | TensorFlow | tensorflow     | 32           | channel first | 101                |
| C5.xLarge       | 0          | Simple CNN | TensorFlow | tensorflow     | 32           | channel last  | 309                |
| P3.8xLarge      | 4          | ResNet50V1 | MXNet      | mxnet-cu90     | 128          | channel first | 1792               |
| P3.8xLarge      | 4          | ResNet50V1 | TensorFlow | tensorflow-gpu | 128          | channel last  | 1020               |"""


def test_synthetic_results_are_the_seeds_rows(tmp_path):
    folder = write(tmp_path, *[
        record("resnet50", backend, package, instance, gpus, batch, speed=speed)
        for instance, gpus, batch, tensorflow_speed, mxnet_speed in (
            ("C5.18xLarge", 0, 32, 4.0, 9.0), ("P3.8xLarge", 1, 32, 198, 229),
            ("P3.8xLarge", 4, 128, 448, 728), ("P3.16xLarge", 8, 256, 346, 963))
        for backend, package, speed in (
            ("tensorflow", "tensorflow" if gpus == 0 else "tensorflow-gpu", tensorflow_speed),
            ("mxnet", "mxnet-mkl" if gpus == 0 else "mxnet-cu90", mxnet_speed))])
    status, markdown, _ = run(folder)
    assert status == 0
    assert table(markdown, "### Synthetic Dataset", "#### Results") == """\
| Instance Type   | GPU used   | Model      | Backend    | Package        | Batch Size   | Data Format   | Speed (images/s)   |
|-----------------|------------|------------|------------|----------------|--------------|---------------|--------------------|
| C5.18xLarge     | 0          | ResNet50V1 | MXNet      | mxnet-mkl      | 32           | channel first | 9                  |
| C5.18xLarge     | 0          | ResNet50V1 | TensorFlow | tensorflow     | 32           | channel first | 4                  |
| P3.8xLarge      | 1          | ResNet50V1 | MXNet      | mxnet-cu90     | 32           | channel first | 229                |
| P3.8xLarge      | 1          | ResNet50V1 | TensorFlow | tensorflow-gpu | 32           | channel first | 198                |
| P3.8xLarge      | 4          | ResNet50V1 | MXNet      | mxnet-cu90     | 128          | channel first | 728                |
| P3.8xLarge      | 4          | ResNet50V1 | TensorFlow | tensorflow-gpu | 128          | channel first | 448                |
| P3.16xLarge     | 8          | ResNet50V1 | MXNet      | mxnet-cu90     | 256          | channel first | 963                |
| P3.16xLarge     | 8          | ResNet50V1 | TensorFlow | tensorflow-gpu | 256          | channel first | 346                |"""


def test_summary_is_the_seed_readmes_table_of_fastest_configurations(tmp_path):
    # The seed's MXNet rows, slower variants included: the summary keeps the fastest.
    seed_rows = (  # instance, GPUs, batch size, data set, data format, method, images/s
        ("C5.18xLarge", 0, 32, "cifar10", "channels_first", "fit", 87),
        ("C5.18xLarge", 0, 32, "cifar10", "channels_last", "fit", 48),
        ("P3.8xLarge", 4, 128, "cifar10", "channels_first", "fit", 1792),
        ("P3.16xLarge", 8, 256, "cifar10", "channels_first", "fit", 1618),
        ("P3.8xLarge", 1, 32, "imagenet", "channels_first", "train_on_batch", 165),
        ("P3.8xLarge", 1, 32, "imagenet", "channels_first", "generator", 73),
        ("P3.8xLarge", 4, 128, "imagenet", "channels_first", "train_on_batch", 538),
        ("P3.16xLarge", 8, 256, "imagenet", "channels_first", "train_on_batch", 728),
        ("C5.18xLarge", 0, 32, "synthetic", "channels_first", "fit", 9),
        ("C5.18xLarge", 0, 32, "synthetic", "channels_last", "fit", 3),
        ("P3.8xLarge", 1, 32, "synthetic", "channels_first", "fit", 229),
        ("P3.8xLarge", 1, 32, "synthetic", "channels_last", "fit", 18),
        ("P3.8xLarge", 4, 128, "synthetic", "channels_first", "fit", 728),
        ("P3.16xLarge", 8, 256, "synthetic", "channels_first", "fit", 963))
    folder = write(tmp_path, *[
        record("resnet50", "mxnet", "mxnet-mkl" if gpus == 0 else "mxnet-cu90", instance, gpus,
               batch_size, data_format, dataset, speed, method=method)
        for instance, gpus, batch_size, dataset, data_format, method, speed in seed_rows])
    status, markdown, _ = run(folder, "--kind", "cnn")
    assert status == 0
    assert table(markdown, "### Summary: ResNet50V1") == """\
| Instance    | GPU used   | Package    | CIFAR-10   | ImageNet   | Synthetic Data   |
|-------------|------------|------------|------------|------------|------------------|
| C5.18xLarge | 0          | mxnet-mkl  | 87         | N/A        | 9                |
| P3.8xLarge  | 1          | mxnet-cu90 | N/A        | 165        | 229              |
| P3.8xLarge  | 4          | mxnet-cu90 | 1792       | 538        | 728              |
| P3.16xLarge | 8          | mxnet-cu90 | 1618       | 728        | 963              |"""
    assert table(markdown, "### ImageNet Dataset", "#### Results") == """\
| Instance Type   | GPU used   | Model      | Backend   | Package    | Method           | Batch Size   | Data Format   | Speed (images/s)   |
|-----------------|------------|------------|-----------|------------|------------------|--------------|---------------|--------------------|
| P3.8xLarge      | 1          | ResNet50V1 | MXNet     | mxnet-cu90 | `train_on_batch` | 32           | channel first | 165                |
| P3.8xLarge      | 1          | ResNet50V1 | MXNet     | mxnet-cu90 | `fit_generator`  | 32           | channel first | 73                 |
| P3.8xLarge      | 4          | ResNet50V1 | MXNet     | mxnet-cu90 | `train_on_batch` | 128          | channel first | 538                |
| P3.16xLarge     | 8          | ResNet50V1 | MXNet     | mxnet-cu90 | `train_on_batch` | 256          | channel first | 728                |"""


SEED_RNN_TABLE = """\
| Instance   | GPUs   | Data Set   | Speed/Epoch <br />(Lower is better)   |
|------------|--------|------------|---------------------------------------|
| C5.xLarge  | 0      | Synthetic  | 91 sec - 2ms/step                     |
| P3.8xLarge | 1      | Synthetic  | 13 sec - 264us/step                   |
| P3.8xLarge | 4      | Synthetic  | 12 sec - 241us/step                   |
| C5.xLarge  | 0      | Nietzsche  | 352 sec - 2ms/step                    |
| P3.8xLarge | 1      | Nietzsche  | 53 sec - 265us/step                   |
| P3.8xLarge | 4      | Nietzsche  | 47 sec - 236us/step                   |
| C5.xLarge  | 0      | WikiText-2 | 6410 sec - 2ms/step                   |
| P3.8xLarge | 1      | WikiText-2 | 882 sec - 264us/step                  |
| P3.8xLarge | 4      | WikiText-2 | 794 sec - 235us/step                  |"""


def test_rnn_table_is_the_seeds(tmp_path):
    status, markdown, _ = run(write(tmp_path, *seed_rnn_records()))
    assert status == 0
    assert table(markdown, "## RNN Benchmarks", "### Results") == SEED_RNN_TABLE


def test_rows_that_would_look_alike_gain_the_column_that_tells_them_apart(tmp_path):
    jax = record("lstm", "jax", "jax", "C5.xLarge", 0, 128, "channels_last", "synthetic",
                 step_ms=1.6, epoch_seconds=75, keras_version="3.15.1")
    status, markdown, _ = run(write(tmp_path, jax, *seed_rnn_records()[:2]))
    assert status == 0
    assert table(markdown, "## RNN Benchmarks", "### Results") == """\
| Instance   | GPUs   | Data Set   | Backend   | Speed/Epoch <br />(Lower is better)   |
|------------|--------|------------|-----------|---------------------------------------|
| C5.xLarge  | 0      | Synthetic  | JAX       | 75 sec - 2ms/step                     |
| C5.xLarge  | 0      | Synthetic  | MXNet     | 91 sec - 2ms/step                     |
| P3.8xLarge | 1      | Synthetic  | MXNet     | 13 sec - 264us/step                   |"""


# Repeats, comparisons, failures

def test_repeats_are_one_row_with_the_median_of_their_medians_and_their_cv(tmp_path):
    # Repeats may use other seeds, and so feed other bytes (another data_fingerprint);
    # their index, group and sampling interval number or watch them and split nothing.
    folder = write(tmp_path, *[
        record(speed=speed, seed=index, data_fingerprint="digest-%d" % index, repeat=3,
               repeat_index=index, repeat_group="group-a", telemetry_interval=0.5 * (index + 1))
        for index, speed in ((2, 9.1), (0, 8.0), (1, 9.5))])
    write(tmp_path, record(batch_size=64, speed=10.2))  # another configuration
    status, markdown, _ = run(folder)
    assert status == 0
    # CV: the standard deviation of 8.0, 9.5, 9.1 (0.777) over their mean (8.867).
    assert table(markdown, "### Synthetic Dataset", "#### Results") == """\
| Instance Type   | GPU used   | Model      | Backend   | Package   | Batch Size   | Data Format   | Speed (images/s)   | Repeats   | CV %   |
|-----------------|------------|------------|-----------|-----------|--------------|---------------|--------------------|-----------|--------|
| C5.18xLarge     | 0          | ResNet50V1 | MXNet     | mxnet-mkl | 32           | channel first | 9.1                | 3         | 8.8    |
| C5.18xLarge     | 0          | ResNet50V1 | MXNet     | mxnet-mkl | 64           | channel first | 10                 | 1         | -      |"""
    rows = json.loads(run(folder, "--format", "json")[1])["rows"]
    # Every repeat's figure, in repeat order, beside the run ids in the same order.
    assert rows[0]["repeat_speeds"] == [8.0, 9.5, 9.1] and len(rows[0]["run_ids"]) == 3
    assert rows[0]["speed_median"] == 9.1 and round(rows[0]["speed_cv_pct"], 2) == 8.76
    assert rows[1]["repeat_speeds"] == [10.2] and rows[1]["speed_cv_pct"] is None


def test_backend_comparison_gives_ratio_to_fastest_loss_accuracy_and_cv(tmp_path):
    folder = write(
        tmp_path,
        *[record("mlp", "jax", "jax", "2-core Intel Xeon", 0, 128, "channels_last", speed=speed,
                 keras_version="3.15.1", loss=0.52, accuracy=0.84) for speed in (4000, 4400)])
    write(folder, record("mlp", "torch", "torch", "2-core Intel Xeon", 0, 128, "channels_last",
                         speed=2100, keras_version="3.15.1", loss=14.5, accuracy=0.1))
    status, markdown, _ = run(folder)
    assert status == 0
    assert table(markdown, "## CNN Benchmarks", "### Backend Comparison") == """\
| Workload                                                               | Backend   | Package   | Speed (images/s)   | vs Fastest   | p                          | Loss   | Accuracy   | Repeats   | CV %   |
|------------------------------------------------------------------------|-----------|-----------|--------------------|--------------|----------------------------|--------|------------|-----------|--------|
| MLP, Synthetic, train, 2-core Intel Xeon, CPU, batch 128, channel last | JAX       | jax       | 4200               | 1.00         | fastest                    | 0.52   | 0.84       | 2         | 6.7    |
| MLP, Synthetic, train, 2-core Intel Xeon, CPU, batch 128, channel last | PyTorch   | torch     | 2100               | ≈ 0.50       | untested: 2 vs 1 processes | 14.5   | 0.1        | 1         | -      |"""
    # PyTorch ran in one process: no spread between processes to test the halving against.
    assert "Welch's t-test on the log of each process's median speed" in section(
        markdown, "## CNN Benchmarks", "### Backend Comparison")


def mlp_run(backend, speed, **settings):
    return record("mlp", backend, backend.replace("native-", ""), "2-core Intel Xeon", 0, 128,
                  "channels_last", speed=speed, keras_version="3.15.1", **settings)


def comparison(markdown):
    return [line.split("|")[1:-1] for line in
            table(markdown, "## CNN Benchmarks", "### Backend Comparison").splitlines()[2:]]


def processes_of(backend, speeds):
    """One configuration run in fresh processes (a repeat group) at `speeds`."""
    return [mlp_run(backend, speed, repeat=len(speeds), repeat_index=index, repeat_group=backend)
            for index, speed in enumerate(speeds)]


def test_a_difference_the_test_cannot_tell_from_noise_is_marked_not_significant(tmp_path):
    """Three processes each; TensorFlow's spread 10-20% as identical processes do here."""
    speeds = {"jax": [1000.0, 1010.0, 990.0], "tensorflow": [1060.0, 890.0, 998.0],
              "torch": [900.0, 905.0, 895.0], "native-torch": [910.0, 880.0, 905.0]}
    folder = write(tmp_path, *[run for backend, some in speeds.items()
                               for run in processes_of(backend, some)])
    status, markdown, _ = run(folder)
    assert status == 0
    cells = [[cell.strip() for cell in row] for row in comparison(markdown)]
    versus = {backend: significance.p_text(significance.compare(speeds["jax"], speeds[backend]))
              for backend in speeds}
    assert [(row[1], row[4], row[5]) for row in cells] == [
        ("JAX", "1.00", "fastest"), ("TensorFlow", "≈ 1.00", versus["tensorflow"]),
        ("PyTorch (native)", "0.91", versus["native-torch"]), ("PyTorch", "0.90", versus["torch"])]
    assert versus["tensorflow"][0] != "<" and versus["torch"].startswith("<0.001 [0.8")
    assert not significance.compare(speeds["jax"], speeds["tensorflow"]).significant
    # Keras on PyTorch against native: processes that overlap.
    native = table(markdown, "## CNN Benchmarks", "### Keras vs Native").splitlines()[2]
    against = significance.compare(speeds["native-torch"], speeds["torch"])
    assert "| ≈ 0.99 " in native and "| %s |" % significance.p_text(against) in native
    assert not against.significant
    assert "alpha 0.05" in section(markdown, "## CNN Benchmarks", "### Keras vs Native")


def test_one_process_a_side_is_untested_and_says_so(tmp_path):
    folder = write(tmp_path, mlp_run("jax", 1000.0), mlp_run("torch", 500.0))
    status, markdown, _ = run(folder)
    assert status == 0
    torch = [cell.strip() for cell in comparison(markdown)[1]]
    assert torch[4:6] == ["≈ 0.50", "untested: 1 process a side"]
    assert "one process has no spread between processes" in markdown


def test_without_scipy_the_tables_render_and_say_the_test_is_unavailable(tmp_path):
    folder = write(tmp_path, *(processes_of("jax", [1000.0, 1010.0])
                               + processes_of("torch", [500.0, 505.0])))
    result = _run_script(folder, prelude="import sys; sys.modules['scipy'] = None")
    assert result.returncode == 0, result.stderr
    assert "| ? 0.50 " in result.stdout and "| n/a " in result.stdout
    assert "significance column is unavailable here: scipy is not installed" in result.stdout


def test_spread_and_stability_are_shown_where_runs_were_judged(tmp_path):
    stable = {"verdict": "stable", "reasons": [], "failed": [], "cv_pct": 1.5}
    unstable = {"verdict": "unstable", "reasons": ["..."], "failed": ["cv", "load"],
                "cv_pct": 23.0}
    folder = write(
        tmp_path,
        mlp_run("jax", 1000.0, stability=stable, repeat=2, repeat_index=0, repeat_group="a"),
        mlp_run("jax", 1010.0, stability=unstable, repeat=2, repeat_index=1, repeat_group="a"),
        mlp_run("torch", 500.0, stability=stable),
        mlp_run("tensorflow", 400.0))  # from before the verdict
    status, markdown, errors = run(folder)
    assert status == 0 and errors == ""
    lines = table(markdown, "## CNN Benchmarks", "### Backend Comparison").splitlines()
    header = [cell.strip() for cell in lines[0].split("|")[1:-1]]
    rows = {row[1].strip(): dict(zip(header, (c.strip() for c in row)))
            for row in comparison(markdown)}
    assert (rows["JAX"]["Epoch CV %"], rows["JAX"]["Stability"]) == (
        "± 12.2", "UNSTABLE (1 of 2 runs): cv, load")
    assert (rows["PyTorch"]["Epoch CV %"], rows["PyTorch"]["Stability"]) == ("± 1.5", "stable")
    assert (rows["TensorFlow"]["Epoch CV %"], rows["TensorFlow"]["Stability"]) == ("N/A", "N/A")
    assert "UNSTABLE marks a configuration" in markdown
    exported = {row["backend"]: row for row in json.loads(run(folder, "--format", "json")[1])["rows"]}
    assert exported["jax"]["unstable_runs"] == 1 and exported["tensorflow"]["unstable_runs"] is None


def test_old_records_without_a_verdict_render_as_before(tmp_path):
    status, markdown, errors = run(write(tmp_path, mlp_run("jax", 1000.0), mlp_run("torch", 9.0)))
    assert status == 0 and errors == "" and "Stability" not in markdown


def test_a_wrong_stability_field_is_emptied_and_named(tmp_path):
    bad = mlp_run("jax", 1000.0, stability={"verdict": "fine", "failed": "cv", "cv_pct": -1})
    bad["samples"]["epochs"][1]["seconds"] = "soon"
    status, markdown, errors = run(write(tmp_path, bad, mlp_run("torch", 9.0)))
    assert status == 0
    for field in ("metrics.stability.verdict", "metrics.stability.failed",
                  "metrics.stability.cv_pct", "samples.epochs.*.seconds"):
        assert field + " is " in errors
    rows = {row[1].strip(): row for row in comparison(markdown)}
    assert "JAX" in rows


# Devices, GPU telemetry, native baselines, profiles, phases

def test_device_counts_are_rows_of_their_own_and_the_batch_is_the_global_one(tmp_path):
    def run_on(gpus=0, cpu_devices=1, speed=100.0, batch_size=64, **config):
        return record("resnet50", "torch", "torch", "p4d", gpus, batch_size, "channels_last",
                      speed=speed, keras_version="3.15.1", cpu_devices=cpu_devices, **config)
    folder = write(
        tmp_path, run_on(speed=40), run_on(cpu_devices=4, speed=120),
        run_on(gpus=1, speed=700),
        # 64 per device on 4 GPUs and a global 256 on 4 GPUs are one configuration.
        run_on(gpus=4, per_device_batch=True, speed=2400),
        run_on(gpus=4, batch_size=256, speed=2600))
    status, markdown, _ = run(folder)
    assert status == 0
    assert table(markdown, "### Synthetic Dataset", "#### Results") == """\
| Instance Type   | GPU used   | Model      | Backend   | Package   | Batch Size   | Data Format   | Devices   | Speed (images/s)   | Repeats   | CV %   |
|-----------------|------------|------------|-----------|-----------|--------------|---------------|-----------|--------------------|-----------|--------|
| p4d             | 0          | ResNet50V1 | PyTorch   | torch     | 64           | channel last  | 1         | 40                 | 1         | -      |
| p4d             | 0          | ResNet50V1 | PyTorch   | torch     | 64           | channel last  | 4         | 120                | 1         | -      |
| p4d             | 1          | ResNet50V1 | PyTorch   | torch     | 64           | channel last  | 1         | 700                | 1         | -      |
| p4d             | 4          | ResNet50V1 | PyTorch   | torch     | 256          | channel last  | 4         | 2500               | 2         | 5.7    |"""
    workloads = section(markdown, "## CNN Benchmarks", "### Backend Comparison")
    assert "p4d, 4 CPU devices, batch 64," in workloads and "p4d, 4 GPUs, batch 256," in workloads
    rows = json.loads(run(folder, "--format", "json")[1])["rows"]
    assert [(r["devices"], r["global_batch_size"], r["device_batch_size"], r["parallel"])
            for r in rows] == [(1, 64, 64, None), (4, 64, 16, "torch DistributedDataParallel "
                                                              "(nccl)"),
                               (1, 64, 64, None), (4, 256, 64, "torch DistributedDataParallel "
                                                               "(nccl)")]


def gpu_runs():
    """One-GPU and two-GPU ResNet50 runs: PyTorch with its own peak, JAX with NVML's only."""
    torch_peak = {"peak_mb": 5120.4, "source": "torch.cuda.max_memory_allocated"}
    common = dict(model="resnet50", instance="p4d", data_format="channels_last",
                  keras_version="3.15.1")
    return [record(backend="torch", package="torch", gpus=1, speed=700, memory=torch_peak,
                   telemetry=gpu_telemetry((91, 6000)), **common),
            record(backend="jax", package="jax", gpus=1, speed=800,
                   telemetry=gpu_telemetry((95, 70000)), **common),
            record(backend="torch", package="torch", gpus=2, batch_size=64, speed=1300,
                   memory=dict(torch_peak, peak_mb=5300), **common,
                   telemetry=gpu_telemetry((88, 6100), (84, 6050)))]


def test_gpu_memory_is_the_backends_peak_else_nvmls_marked_and_util_the_mean_over_gpus(
        tmp_path):
    status, markdown, _ = run(write(tmp_path, *gpu_runs()))
    assert status == 0
    results = section(markdown, "### Synthetic Dataset", "#### Results")
    assert table(markdown, "### Synthetic Dataset", "#### Results") == """\
| Instance Type   | GPU used   | Model      | Backend   | Package   | Batch Size   | Data Format   | Speed (images/s)   | GPU Mem (MiB)   | GPU Util (%)   |
|-----------------|------------|------------|-----------|-----------|--------------|---------------|--------------------|-----------------|----------------|
| p4d             | 1          | ResNet50V1 | JAX       | jax       | 32           | channel last  | 800                | 70000†          | 95             |
| p4d             | 1          | ResNet50V1 | PyTorch   | torch     | 32           | channel last  | 700                | 5120            | 91             |
| p4d             | 2          | ResNet50V1 | PyTorch   | torch     | 64           | channel last  | 1300               | 5300            | 86             |"""
    assert "† marks NVML's peak memory used" in results
    assert "includes what the framework pre-allocated" in results
    rows = json.loads(run(tmp_path, "--format", "json")[1])["rows"]
    assert [(r["gpu_memory_mb"], r["gpu_memory_source"], r["gpu_util_percent"]) for r in rows] \
        == [(70000, "nvml", 95), (5120.4, "torch.cuda.max_memory_allocated", 91),
            (5300, "torch.cuda.max_memory_allocated", 86)]


def test_no_gpu_columns_where_no_row_has_gpu_figures(tmp_path):
    # A CPU run samples the host; NVML says there is no GPU, and the backend reports no peak.
    folder = write(tmp_path, record(speed=9.0, telemetry=gpu_telemetry()))
    status, markdown, _ = run(folder)
    assert status == 0
    assert "GPU Mem" not in markdown and "GPU Util" not in markdown
    assert table(markdown, "### Synthetic Dataset", "#### Results").splitlines()[0] == (
        "| Instance Type   | GPU used   | Model      | Backend   | Package   | Batch Size   "
        "| Data Format   | Speed (images/s)   |")


def test_energy_per_sample_is_a_column_where_some_run_measured_it(tmp_path):
    common = dict(model="cnn", instance="C5.xLarge", data_format="channels_last",
                  keras_version="3.15.1")
    folder = write(tmp_path, record(backend="jax", package="jax", speed=900, energy=rapl(0.25),
                                    **common),
                   record(backend="torch", package="torch", speed=300,
                          energy={"unavailable": "RAPL: no intel-rapl zone"}, **common),
                   record(backend="tensorflow", package="tensorflow", speed=500, **common))
    status, markdown, _ = run(folder)
    assert status == 0
    results = table(markdown, "### Synthetic Dataset", "#### Results").splitlines()
    assert results[0].endswith("| Speed (images/s)   | Energy (J/image)   |")
    assert [line.split("|")[-2].strip() for line in results[2:]] == ["0.25", "N/A", "N/A"]
    comparison = table(markdown, "### Backend Comparison").splitlines()
    assert "Energy (J/image)" in comparison[0]
    assert "Energy is joules per image over the measured epochs" in markdown
    assert "as rapl measured it" in markdown
    rows = json.loads(run(tmp_path, "--format", "json")[1])["rows"]
    assert [(r["backend"], r["joules_per_sample"], r["energy_source"]) for r in rows] == [
        ("jax", 0.25, "rapl"), ("tensorflow", None, None), ("torch", None, None)]


def test_no_energy_column_where_no_run_measured_it(tmp_path):
    folder = write(tmp_path, record(speed=9.0, energy={"unavailable": "RAPL: none"}),
                   record(speed=8.0, package="mxnet-cu90"))  # from before energy was recorded
    status, markdown, _ = run(folder)
    assert status == 0 and "Energy" not in markdown


def test_keras_on_a_framework_beside_the_same_network_written_on_it(tmp_path):
    def run_of(backend, speed, **config):
        settings = dict(gpus=1, batch_size=64, data_format="channels_last")
        settings.update(config)
        return record("resnet50", backend, backend.replace("native-", ""), "p4d", speed=speed,
                      keras_version="3.15.1", **settings)
    folder = write(
        tmp_path, run_of("torch", 700), run_of("native-torch", 875),
        # The fastest native configuration is the reference: here another data format.
        run_of("native-torch", 900, data_format="channels_first"),
        run_of("jax", 800), run_of("native-jax", 1000),
        # No native run on two GPUs or at batch 128: no ratio for these.
        run_of("torch", 1300, gpus=2), run_of("torch", 720, batch_size=128))
    status, markdown, _ = run(folder)
    assert status == 0
    assert table(markdown, "## CNN Benchmarks", "### Keras vs Native") == """\
| Workload                                                         | Backend   | Package   | Keras (images/s)   | Native (images/s)   | vs Native   | p                          |
|------------------------------------------------------------------|-----------|-----------|--------------------|---------------------|-------------|----------------------------|
| ResNet50V1, Synthetic, train, p4d, 1 GPU, batch 64, channel last | JAX       | jax       | 800                | 1000                | ≈ 0.80      | untested: 1 process a side |
| ResNet50V1, Synthetic, train, p4d, 1 GPU, batch 64, channel last | PyTorch   | torch     | 700                | 900                 | ≈ 0.78      | untested: 1 process a side |"""
    # One process a side: no spread between processes, so untested, and said why.


def test_no_native_table_without_a_matching_native_run(tmp_path):
    status, markdown, _ = run(write(tmp_path, *gpu_runs()))
    assert status == 0 and "Keras vs Native" not in markdown


PHASES = {"import_s": 3.1, "data_s": 0.4, "build_s": 0.8, "compile_s": 0.05,
          "first_epoch_s": 12.6, "steady_s": 30.2, "total_s": 48.0}


def test_profiled_runs_stay_out_of_every_speed_and_show_marked_in_phases(tmp_path):
    common = dict(model="cnn", backend="torch", package="torch", instance="p4d", gpus=1,
                  data_format="channels_last", keras_version="3.15.1")
    folder = write(tmp_path, record(speed=900, phases=PHASES, **common),
                   record(speed=333, profile=True, phases=dict(PHASES, steady_s=81.5),
                          **common))
    status, markdown, _ = run(folder, "--phases")
    assert status == 0
    assert "333" not in markdown.split("### Phases")[0]
    assert "Profiled runs (1, in 1 configurations) are left out of every speed" in markdown
    assert table(markdown, "## CNN Benchmarks", "### Phases") == """\
| Workload                                                                    | Backend   | Package   | Import (s)   | Data (s)   | Build (s)   | Compile (s)   | First Epoch (s)   | Steady (s)   | Total (s)   |
|-----------------------------------------------------------------------------|-----------|-----------|--------------|------------|-------------|---------------|-------------------|--------------|-------------|
| Simple CNN, Synthetic, train, p4d, 1 GPU, batch 32, channel last            | PyTorch   | torch     | 3.1          | 0.4        | 0.8         | 0.05          | 13                | 30           | 48          |
| Simple CNN, Synthetic, train, p4d, 1 GPU, batch 32, channel last (profiled) | PyTorch   | torch     | 3.1          | 0.4        | 0.8         | 0.05          | 13                | 82           | 48          |"""
    rows = json.loads(run(folder, "--format", "json")[1])["rows"]
    assert [(r["profile"], r["speed_median"], r["steady_s"]) for r in rows] == [
        (False, 900, 30.2), (True, 333, 81.5)]


def test_phases_are_asked_for_the_median_over_repeats_and_absent_where_none_was_timed(
        tmp_path):
    folder = write(tmp_path, record(speed=9.0))
    assert "### Phases" not in run(folder, "--phases")[1]
    write(folder, *[record(speed=9.0, batch_size=64, phases={"import_s": seconds})
                    for seconds in (2.0, 3.0, 7.0)])
    assert "### Phases" not in run(folder)[1]
    assert table(run(folder, "--phases")[1], "### Phases") == """\
| Workload                                                                | Backend   | Package   | Import (s)   |
|-------------------------------------------------------------------------|-----------|-----------|--------------|
| ResNet50V1, Synthetic, train, C5.18xLarge, CPU, batch 64, channel first | MXNet     | mxnet-mkl | 3            |"""


def test_train_and_inference_step_times_side_by_side(tmp_path):
    folder = write(
        tmp_path,
        record("cnn", "jax", "jax", "2-core Intel Xeon", 0, 32, "channels_last", step_ms=41.5,
               keras_version="3.15.1"),
        record("cnn", "jax", "jax", "2-core Intel Xeon", 0, 32, "channels_last", step_ms=9.2,
               keras_version="3.15.1", inference=True, loss=None, accuracy=None, epochs=1),
        record("cnn", "torch", "torch", "2-core Intel Xeon", 0, 32, "channels_last", step_ms=63,
               keras_version="3.15.1"))
    status, markdown, _ = run(folder)
    assert status == 0
    assert table(markdown, "## CNN Benchmarks", "### Train and Inference Time per Step") == """\
| Model      | Data Set   | Instance Type     | GPU used   | Backend   | Package   | Batch Size   | Train (ms/step)   | Infer (ms/step)   |
|------------|------------|-------------------|------------|-----------|-----------|--------------|-------------------|-------------------|
| Simple CNN | Synthetic  | 2-core Intel Xeon | 0          | JAX       | jax       | 32           | 42                | 9.2               |
| Simple CNN | Synthetic  | 2-core Intel Xeon | 0          | PyTorch   | torch     | 32           | 63                | N/A               |"""
    inference = table(markdown, "### Synthetic Dataset", "#### Inference Results").splitlines()
    assert len(inference) == 3 and "| JAX " in inference[2]


def test_failed_skipped_and_interrupted_runs_are_listed_and_never_in_a_speed(tmp_path):
    interrupted = record(status="interrupted", error={"type": "KeyboardInterrupt", "message": ""})
    # Whatever an unfinished run measured, it must not reach a speed.
    interrupted["metrics"] = record(speed=5000)["metrics"]
    folder = write(
        tmp_path, record(speed=9.0), interrupted,
        record(status="error", error={
            "type": "ResourceExhaustedError", "traceback": "...",
            "message": "OOM when allocating tensor | shape [256,3,224,224]\nmore detail"}),
        record("resnet50", "jax", "jax", status="skipped",
               error={"type": "Unsupported", "message": "channels_first is not supported on CPU"}))
    status, markdown, _ = run(folder)
    assert status == 0
    assert table(markdown, "### Synthetic Dataset", "#### Results").splitlines()[2:] == [
        "| C5.18xLarge     | 0          | ResNet50V1 | MXNet     | mxnet-mkl | 32           "
        "| channel first | 9                  |"]
    failed = table(markdown, "## Failed, Skipped and Interrupted Runs").splitlines()
    assert [line.split("|")[1].strip() for line in failed[2:]] == [
        "error", "skipped", "interrupted"]
    # One line of the message, its pipe escaped so that the table holds.
    assert "ResourceExhaustedError: OOM when allocating tensor \\| shape [256,3,224,224] |" \
        in failed[2]
    assert "Unsupported: channels_first is not supported on CPU" in failed[3]
    assert "KeyboardInterrupt: " in failed[4]
    assert "5000" not in markdown


# Bad input

def test_unreadable_files_are_named_with_the_reason_and_the_rest_renders(tmp_path):
    folder = write(tmp_path, record(speed=9.0))
    good = os.path.join(folder, sorted(os.listdir(folder))[0])
    with open(good) as f:
        text = f.read()
    files = {"malformed.json": "{not json", "truncated.json": text[:len(text) // 2],
             "old.json": text.replace('"schema_version": 3', '"schema_version": 1'),
             "no_speed.json": text.replace('"throughput"', '"throughput_old"'),
             "no_batch.json": text.replace('"global_batch_size"', '"global_batch_old"'),
             "empty.json": ""}
    for name, content in files.items():
        with open(os.path.join(folder, name), "w") as f:
            f.write(content)
    status, markdown, errors = run(folder)
    assert status == 0
    lines = errors.splitlines()
    assert len(lines) == len(files)
    for name, reason in (("malformed.json", "not valid JSON"), ("truncated.json", "not valid JSON"),
                         ("old.json", "schema version 1, this harness reads versions 2 and 3"),
                         ("no_speed.json", "metrics"), ("empty.json", "not valid JSON"),
                         ("no_batch.json", "config.global_batch_size is missing")):
        assert any(os.path.join(folder, name) in line and reason in line for line in lines), name
    assert "| channel first | 9 " in markdown


def test_a_wrong_optional_field_is_emptied_and_named_and_its_record_kept(tmp_path):
    """The issue's case: a list where the tables expect a string crashed the whole report."""
    odd = record(speed=9.0)
    odd["metrics"]["unit"] = ["images"]
    odd["config"]["data_format"] = {"layout": "channels_first"}
    odd["environment"]["keras_version"] = 2.15
    folder = write(tmp_path, odd, record("cnn", "tensorflow", "tensorflow", speed=300.0))
    status, markdown, errors = run(folder)
    assert status == 0
    rows = table(markdown, "### Synthetic Dataset", "#### Results").splitlines()[2:]
    assert [[cell.strip() for cell in row.split("|")[3:-1]] for row in rows] == [
        ["Simple CNN", "TensorFlow", "tensorflow", "32", "channel first", "300"],
        ["ResNet50V1", "MXNet", "mxnet-mkl", "32", "N/A", "9"]]
    named = [line for line in errors.splitlines() if "kept %s" % folder in line]
    assert len(named) == 3
    assert any("metrics.unit is list [\"images\"], not a string: shown empty" in line
               for line in named)
    assert any("environment.keras_version is float 2.15, not a string" in line for line in named)
    document = json.loads(run(folder, "--format", "json")[1])
    assert len(document["emptied_fields"]) == 3
    assert {row["data_format"] for row in document["rows"]} == {None, "channels_first"}


@pytest.mark.parametrize("path, value, message", [
    (("config", "devices"), [1], "config.devices is list [1], not an integer of at least 1"),
    (("config", "model"), None, "config.model is NoneType null, not a string"),
    (("metrics", "throughput", "median"), -5, "not a number above 0"),
    (("metrics", "step_ms", "median"), 1e300, "not a number above 0"),
    (("metrics", "measured"), "3 epochs", "metrics.measured.seconds is missing"),
])
def test_a_wrong_required_field_skips_its_record_naming_the_field(tmp_path, path, value, message):
    bad = record(speed=9.0)
    holder = bad
    for key in path[:-1]:
        holder = holder[key]
    holder[path[-1]] = value
    with open(str(tmp_path / "bad.json"), "w") as f:
        json.dump(bad, f)
    write(tmp_path, record("cnn", "tensorflow", "tensorflow", speed=300.0))
    status, markdown, errors = run(tmp_path)
    assert status == 0 and "| Simple CNN |" in markdown and "ResNet50V1 |" not in markdown
    assert errors.startswith("collect: skipped %s: " % (tmp_path / "bad.json"))
    assert message in errors


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_no_json_and_no_record(tmp_path, text):
    good = record(speed=9.0)
    good["metrics"]["loss"] = 12345.5
    with open(str(tmp_path / "nan.json"), "w") as f:
        f.write(json.dumps(good).replace("12345.5", text))
    with pytest.raises(schema.SchemaError, match="not valid JSON"):
        schema.read(str(tmp_path / "nan.json"))


def test_a_number_too_large_for_a_float_is_out_of_range_and_never_exported(tmp_path):
    """1e400 is valid JSON that Python reads as infinity."""
    huge = record(speed=9.0, epochs=3)
    huge["metrics"]["throughput"]["median"] = 12345.5
    odd = record(speed=20.0, warmup=77777)
    with open(str(tmp_path / "huge.json"), "w") as f:
        f.write(json.dumps(huge).replace("12345.5", "1e400"))
    with open(str(tmp_path / "odd.json"), "w") as f:
        f.write(json.dumps(odd).replace("77777", "1e400"))
    status, text, errors = run(tmp_path, "--format", "json")
    assert status == 0
    assert "huge.json: metrics.throughput.median is float Infinity, not a number above 0" \
        in errors
    assert json.loads(text)["rows"][0]["warmup"] is None  # not Infinity, which is no JSON


def test_a_file_that_is_not_utf8_is_named_and_skipped(tmp_path):
    folder = write(tmp_path, record(speed=9.0))
    text = json.dumps(record(speed=20.0, instance="Caf\u00e9"))
    (tmp_path / "latin1.json").write_bytes(text.encode("utf-8").replace(b"\\u00e9", b"\xe9"))
    status, markdown, errors = run(folder)
    assert status == 0 and "| 9 " in markdown
    assert "skipped %s: not valid JSON" % (tmp_path / "latin1.json") in errors


def test_the_same_run_twice_counts_once(tmp_path):
    folder = write(tmp_path, record(speed=9.0))
    original = os.path.join(folder, os.listdir(folder)[0])
    os.mkdir(os.path.join(folder, "copied"))
    with open(original) as f, open(os.path.join(folder, "copied", "again.json"), "w") as g:
        g.write(f.read())
    status, markdown, errors = run(folder)
    assert status == 0
    assert "again.json: the same run as" in errors
    assert "Runs" not in table(markdown, "### Synthetic Dataset", "#### Results")


def _only_bad(path):
    (path / "broken.json").write_text("[")
    return path


@pytest.mark.parametrize("make, message", [
    (lambda path: path / "absent", "no such folder"),
    (lambda path: path, "no result files"),
    (_only_bad, "none of the 1 result files"),
])
def test_nothing_to_collect_is_a_clear_error(tmp_path, make, message):
    status, markdown, errors = run(make(tmp_path))
    assert status == 1
    assert markdown == ""
    assert message in errors.splitlines()[-1]


# Output formats, the chart, the command line

def test_csv_and_json_hold_the_unrounded_numbers(tmp_path):
    folder = write(tmp_path, record(speed=8.0, seed=1), record(speed=9.25, seed=2),
                   record(status="error"))
    status, text, _ = run(folder, "--format", "csv")
    assert status == 0
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["status"], r["runs"], r["speed_median"]) for r in rows] == [
        ("ok", "2", "8.625"), ("error", "1", "")]
    assert rows[0]["backend_package"] == "mxnet-mkl"
    assert rows[1]["error"] == "RuntimeError: it broke"
    status, text, _ = run(folder, "--format", "json")
    document = json.loads(text)
    assert document["rows"][0]["speed_min"] == 8.0 and document["rows"][0]["gpus"] == 0
    assert document["unreadable_files"] == []


def test_kind_selects_the_cnn_or_the_rnn_part(tmp_path):
    folder = write(tmp_path, record(speed=9.0), *seed_rnn_records()[:1])
    _, rnn_only, _ = run(folder, "--kind", "rnn")
    _, cnn_only, _ = run(folder, "--kind", "cnn")
    assert "## RNN Benchmarks" in rnn_only and "CNN Benchmarks" not in rnn_only
    assert "## CNN Benchmarks" in cnn_only and "RNN Benchmarks" not in cnn_only


def test_output_does_not_depend_on_the_order_of_files(tmp_path):
    records = seed_rnn_records() + [record(speed=s, seed=s) for s in (8, 9, 10)]
    forward = write(tmp_path / "forward", *records)
    for one in records:  # the same runs, started in the opposite order
        one["started_at"] = "2026-04-%02dT00:00:00+00:00" % (28 - records.index(one))
    backward = write(tmp_path / "backward", *records)
    assert run(forward)[1] == run(backward)[1]


def chart_size(folder, path):
    """Render `folder`'s chart into `path`: (width, height) in pixels."""
    from matplotlib import image
    status, markdown, _ = run(folder, "--chart", path)
    assert status == 0 and "## CNN Benchmarks" in markdown
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    height, width, _ = image.imread(path).shape
    return width, height


def test_chart_is_a_png_with_a_devices_plot_where_device_counts_differ(tmp_path):
    pytest.importorskip("matplotlib")
    folder = write(tmp_path / "results", *seed_rnn_records()[:2] + [
        record(speed=9.0), record(package="mxnet-cu90", instance="P3.8xLarge", gpus=1, speed=229),
        record("resnet50", "tensorflow", "tensorflow-gpu", "P3.8xLarge", 1, speed=198)])
    width, one_count = chart_size(folder, str(tmp_path / "speed.png"))
    assert width > 500 and one_count > 500
    # A four-GPU run adds the plot of speed against devices: a third plot as tall.
    write(folder, record(package="mxnet-cu90", instance="P3.8xLarge", gpus=4, speed=728))
    assert chart_size(folder, str(tmp_path / "scaling.png"))[1] == one_count * 3 // 2
    # A run that measured its energy adds the energy per sample panel.
    write(folder, record(package="mxnet-cu90", instance="P3.8xLarge", gpus=2, speed=450,
                         energy=rapl(2.0)))
    assert chart_size(folder, str(tmp_path / "energy.png"))[1] == one_count * 4 // 2


def test_a_speed_knob_is_a_column_where_rows_differ_in_it(tmp_path):
    """jit (as the backend resolved it), TF32 and the timing are shown only where two rows
    of a table differ in them: the seeds' own tables stay theirs."""
    same = write(tmp_path / "same",
                 record("mlp", "jax", "jax", speed=100.0, jit_compile_resolved="on", tf32="off"),
                 record("mlp", "torch", "torch", speed=50.0, jit_compile_resolved="on", tf32="off"))
    markdown = run(same)[1]
    assert "JIT Compile" not in markdown and "TF32" not in markdown
    differ = write(tmp_path / "differ",
                   record("mlp", "torch", "torch", speed=80.0, jit_compile="on",
                          jit_compile_resolved="on", tf32="on"),
                   record("mlp", "torch", "torch", speed=50.0, jit_compile="off",
                          jit_compile_resolved="off", tf32="on"))
    markdown = run(differ)[1]
    comparison = markdown.split("### Backend Comparison")[1].split("\n\n")[2].splitlines()
    header, _, *rows = [[cell.strip() for cell in line.split("|")] for line in comparison]
    assert "JIT Compile" in header and "TF32" not in header  # TF32 is on in both
    assert [row[header.index("JIT Compile")] for row in rows] == ["on", "off"]
    exported = list(csv.DictReader(io.StringIO(run(differ, "--format", "csv")[1])))
    assert sorted(r["jit_compile_resolved"] for r in exported) == ["off", "on"]


def theano_run(speed, linked, library, version, model="cnn"):
    """A Keras 2 Theano run on a linked BLAS or NumPy's C API (environment.blas)."""
    one = record(model, "theano", "theano", speed=speed, batch_size=16)
    one["environment"]["blas"] = {
        "ldflags": "-L/usr/lib/x86_64-linux-gnu -lopenblas" if linked else "", "linked": linked,
        "library": library, "version": version, "config": "OpenBLAS %s" % version,
        "note": None}
    return one


def test_theano_s_blas_is_a_column_where_rows_differ_only_in_it(tmp_path):
    linked = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so"
    numpy_s = "/venv/numpy.libs/libopenblas64_p-r0-742d56dc.3.20.so"
    alone = run(write(tmp_path / "alone", theano_run(250.0, True, linked, "0.3.21"),
                      record("cnn", "tensorflow", "tensorflow", speed=400.0)))[1]
    assert "BLAS" not in alone  # rows told apart by their backend need no BLAS column
    folder = write(tmp_path / "both", theano_run(250.0, True, linked, "0.3.21"),
                   theano_run(180.0, False, numpy_s, "0.3.20"))
    rows = table(run(folder)[1], "### Synthetic Dataset", "#### Results").splitlines()
    header = [cell.strip() for cell in rows[0].split("|")]
    assert [[cell.strip() for cell in row.split("|")][header.index("BLAS")] for row in rows[2:]] \
        == ["NumPy C API: OpenBLAS 0.3.20 (libopenblas64_p-r0-742d56dc.3.20.so)",
            "linked: OpenBLAS 0.3.21 (libopenblasp-r0.3.21.so)"]
    exported = list(csv.DictReader(io.StringIO(run(folder, "--format", "csv")[1])))
    assert sorted(r["blas"] for r in exported)[0].startswith("NumPy C API")
    odd = theano_run(200.0, True, linked, "0.3.21")
    odd["environment"]["blas"]["linked"] = "yes"
    status, _, errors = run(write(tmp_path / "odd", odd))
    assert status == 0 and "environment.blas.linked is str \"yes\", not true or false" in errors


def chart_of(folder):
    """The chart's Figure for the results in `folder` (closed by the caller)."""
    from harness.collector.chart import chart_figure
    from harness.collector.groups import collapse, identities_of
    runs = load(folder)[0]
    return chart_figure(collapse([run for run in runs if run.status == "ok"],
                                 identities_of(runs)))


def error_bars(plot):
    """Per bar series of `plot`: [(height, low end, high end)] of each bar and its error bar."""
    from matplotlib.container import BarContainer
    series = []
    for bars in [c for c in plot.containers if isinstance(c, BarContainer)]:
        assert bars.errorbar is not None, "bars without error bars"
        segments = bars.errorbar.lines[2][0].get_segments()
        series.append([(round(bar.get_height(), 6), round(low[1], 6), round(high[1], 6))
                       for bar, (low, high) in zip(bars, segments)])
    return series


def test_chart_shows_each_workloads_speeds_relative_to_its_fastest_with_their_spread(tmp_path):
    """All on the CPU: one panel, no scaling panel with a single count; linear axis."""
    pytest.importorskip("matplotlib")
    from matplotlib import pyplot
    folder = write(tmp_path / "results",
                   record("mlp", "jax", "jax", speed=100.0, epoch_speeds=[90.0, 100.0, 110.0]),
                   record("mlp", "torch", "torch", speed=50.0, epoch_speeds=[45.0, 50.0, 60.0]),
                   record("cnn", "jax", "jax", speed=10.0, epoch_speeds=[10.0, 10.0, 10.0]),
                   # Repeats: their medians' range is the spread.
                   record("cnn", "torch", "torch", speed=20.0, epoch_speeds=[20.0] * 3),
                   record("cnn", "torch", "torch", speed=16.0, epoch_speeds=[16.0] * 3),
                   record("cnn", "torch", "torch", speed=22.0, epoch_speeds=[22.0] * 3))
    figure = chart_of(folder)
    try:
        (plot,) = figure.axes
        assert plot.get_yscale() == "linear" and "relative" in plot.get_ylabel()
        ticks = [t.get_text() for t in plot.get_xticklabels()]  # one per workload
        assert len(ticks) == 2 and all("train" in tick for tick in ticks)
        jax, torch = error_bars(plot)  # the series in name order: JAX, then PyTorch
        assert jax == [(1.0, 0.9, 1.1), (0.5, 0.5, 0.5)]  # mlp, then cnn (the seeds' order)
        assert torch == [(0.5, 0.45, 0.6), (1.0, 0.8, 1.1)]
    finally:
        pyplot.close(figure)


def test_chart_adds_a_scaling_panel_only_where_runs_used_several_counts(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib import pyplot
    folder = write(tmp_path / "results", record(speed=10.0), record(gpus=1, speed=100.0),
                   record(gpus=4, speed=360.0))
    figure = chart_of(folder)
    try:
        gpus, devices, workloads = figure.axes
        assert "number of GPUs" in gpus.get_title() and "number of devices" in devices.get_title()
        assert all(plot.get_yscale() == "linear" for plot in figure.axes)
        (line,) = gpus.get_lines()  # one backend and package: speed over the CPU's
        assert list(line.get_xdata()) == [0, 1, 4] and list(line.get_ydata()) == [1.0, 10.0, 36.0]
        cpu, gpu = devices.get_lines()  # per device kind: the GPU runs over one GPU's
        assert list(gpu.get_xdata()) == [1, 4] and list(gpu.get_ydata()) == [1.0, 3.6]
        assert "(gpu)" in gpu.get_label() and list(cpu.get_xdata()) == [1]
        (bars,) = error_bars(workloads)  # one backend, alone in each of three workloads
        assert [height for height, _, _ in bars] == [1.0] * 3
    finally:
        pyplot.close(figure)


def test_chart_labels_print_dollars_and_a_format_matplotlib_lacks_is_one_line(tmp_path):
    pytest.importorskip("matplotlib")
    odd = record(speed=9.0, instance="$\\frac{$")
    odd["environment"]["backend_package"] = "mxnet$^"
    folder = write(tmp_path / "results", odd)
    assert chart_size(folder, str(tmp_path / "speed.png"))[0] > 500
    status, markdown, errors = run(folder, "--chart", str(tmp_path / "speed.xyz"))
    assert (status, markdown) == (1, "")
    assert errors.startswith("collect: cannot write the chart: ") and len(errors.splitlines()) == 1


def _run_script(*arguments, prelude=""):
    """The collector as a user runs it, optionally after `prelude` (Python) has run."""
    command = [sys.executable, "-c", prelude + "\nimport runpy, sys\nsys.argv = sys.argv[1:]\n"
               "runpy.run_path(sys.argv[0], run_name='__main__')",
               "harness/collect.py"] if prelude else [sys.executable, "harness/collect.py"]
    return subprocess.run(command + list(arguments), cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)


def test_runs_as_a_script_and_as_a_module(tmp_path):
    folder = write(tmp_path, *seed_rnn_records())
    script = _run_script(folder)
    module = subprocess.run([sys.executable, "-m", "harness.collect", folder], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    command = subprocess.run([sys.executable, "-m", "harness", "collect", folder], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
    assert (script.returncode, script.stderr) == (0, "")
    assert SEED_RNN_TABLE in script.stdout
    assert module.stdout == script.stdout
    assert (command.returncode, command.stdout) == (0, script.stdout)


def test_imports_no_framework_and_nothing_that_might(tmp_path):
    check = ("import sys, harness.collect\n"
             "loaded = [m for m in ('tensorflow', 'jax', 'torch', 'mxnet', 'theano', 'cntk',"
             " 'keras', 'numpy', 'harness.spec', 'harness.datasets', 'matplotlib', 'scipy')"
             " if m in sys.modules]\n"
             "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", check], cwd=ROOT, check=True)


def test_needs_no_tabulate(tmp_path):
    folder = write(tmp_path, *seed_rnn_records())
    result = _run_script(folder, prelude="import sys; sys.modules['tabulate'] = None")
    assert (result.returncode, result.stderr) == (0, "")
    assert SEED_RNN_TABLE in result.stdout


def test_a_pool_reads_what_one_process_reads(tmp_path):
    """Large folders are read by a pool of processes: the same runs, notes and skips."""
    bad = record(speed=9.0)
    bad["metrics"]["loss"] = "high"
    folder = write(tmp_path, *(seed_rnn_records() + [bad, record(status="error",
                                                                 error={"type": "E"})]))
    (tmp_path / "broken.json").write_text("{")
    alone, pooled = runs.load(folder, processes=1), runs.load(folder, processes=2)
    assert alone == pooled
    assert len(alone[0]) == len(seed_rnn_records()) + 2 and len(alone[1]) == len(alone[2]) == 1


def test_chart_without_matplotlib_says_so_and_writes_nothing(tmp_path):
    folder = write(tmp_path / "results", record(speed=9.0))
    chart = str(tmp_path / "speed.png")
    result = _run_script(folder, "--chart", chart,
                         prelude="import sys; sys.modules['matplotlib'] = None")
    assert result.returncode == 2 and result.stdout == ""
    assert "needs matplotlib" in result.stderr
    assert not os.path.exists(chart)


def test_profile_traces_beside_results_are_not_read_as_results(tmp_path):
    """--profile writes RESULT.profile/ beside RESULT.json; its JSON traces are no results."""
    write(tmp_path, record(speed=100.0))
    trace = tmp_path / "x.profile" / "trace.json"
    trace.parent.mkdir()
    trace.write_text('{"traceEvents": []}')
    records, unreadable, emptied = load(str(tmp_path))
    assert records and unreadable == [] and emptied == []


# The VGG16 seed's table

def vgg16_run(backend, step_ms, epoch_seconds, **config):
    """A CPU VGG16 run at the seed's batch of 16; the seed's figure is measured seconds over
    measured steps (3 epochs of 20 steps here), which the step median does not give."""
    settings = dict(data_format="channels_last", jit_compile="off")
    settings.update(config)
    return record("vgg16", backend, backend.replace("native-", ""), "2-core AMD EPYC",
                  batch_size=16, step_ms=step_ms, epoch_seconds=epoch_seconds,
                  keras_version="3.15.1", **settings)


def test_vgg16_runs_are_the_seeds_table_with_every_system_it_lists(tmp_path):
    skipped = record("vgg16", "native-tensorflow", "tensorflow", "2-core AMD EPYC",
                     status="skipped", data_format="channels_first", jit_compile="on",
                     batch_size=16, error={"type": "Unsupported",
                                           "message": "NCHW needs oneDNN", "traceback": None})
    folder = write(
        tmp_path, vgg16_run("tensorflow", 100, 3.0, jit_compile="auto"),
        vgg16_run("native-tensorflow", 90, 2.4), vgg16_run("native-tensorflow", 80, 2.1,
                                                            jit_compile="on"),
        vgg16_run("native-jax", 70, 2.0, jit_compile="on"),
        vgg16_run("native-torch", 60, 1.5, data_format="channels_first"), skipped,
        # Inference and other models are not the seed's trials.
        vgg16_run("native-jax", 10, 0.5, inference=True), record(speed=50))
    status, markdown, _ = run(folder)
    assert status == 0
    expected = """\
| System                     | Mean time per trial                     | Trials   | Batch size   | Image size   | Layout   | Compiled   | Device               |
|----------------------------|-----------------------------------------|----------|--------------|--------------|----------|------------|----------------------|
| Keras (TensorFlow backend) | 150.000 ms                              | 60       | 16           | 224          | NHWC     | auto       | CPU, 2-core AMD EPYC |
| Keras (Theano backend)     | not run                                 |          |              |              |          |            |                      |
| TensorFlow NHWC no XLA     | 120.000 ms                              | 60       | 16           | 224          | NHWC     | off        | CPU, 2-core AMD EPYC |
| TensorFlow NHWC with XLA   | 105.000 ms                              | 60       | 16           | 224          | NHWC     | on         | CPU, 2-core AMD EPYC |
| TensorFlow NCHW no XLA     | not run                                 |          |              |              |          |            |                      |
| TensorFlow NCHW with XLA   | skipped: Unsupported: NCHW needs oneDNN |          | 16           | 224          | NCHW     | on         | CPU, 2-core AMD EPYC |
| JAX (jax.jit)              | 100.000 ms                              | 60       | 16           | 224          | NHWC     | on         | CPU, 2-core AMD EPYC |
| PyTorch eager              | 75.000 ms                               | 60       | 16           | 224          | NCHW     | off        | CPU, 2-core AMD EPYC |"""
    assert table(markdown, "## CNN Benchmarks", "### VGG16 (the seed's table)") == expected
    # --kind vgg16: that table alone; the figure also in the numbers behind the tables.
    status, alone, _ = run(folder, "--kind", "vgg16")
    assert status == 0 and "### Synthetic Dataset" not in alone
    assert table(alone, "### VGG16 (the seed's table)") == expected
    status, text, _ = run(folder, "--kind", "vgg16", "--format", "json")
    rows = json.loads(text)["rows"]
    assert sorted(round(r["trial_ms"], 3) for r in rows if r["status"] == "ok") == [
        25.0, 75.0, 100.0, 105.0, 120.0, 150.0]


def test_the_vgg16_table_tells_theano_rows_apart_by_their_blas(tmp_path):
    linked = theano_run(1.6, True, "/usr/lib/libopenblas.so", "0.3.21", model="vgg16")
    c_api = theano_run(1.0, False, "/numpy.libs/libopenblas64_.so", "0.3.20", model="vgg16")
    lines = table(run(write(tmp_path, linked, c_api), "--kind", "vgg16")[1],
                  "### VGG16 (the seed's table)").splitlines()
    rows = [[cell.strip() for cell in line.split("|")[1:3]] for line in lines]
    assert rows[0] == ["System", "BLAS"] and sorted(r for r in rows if "Theano" in r[0]) == [
        ["Keras (Theano backend)", "NumPy C API: OpenBLAS 0.3.20 (libopenblas64_.so)"],
        ["Keras (Theano backend)", "linked: OpenBLAS 0.3.21 (libopenblas.so)"]]
    assert "BLAS" not in run(write(tmp_path / "one", linked), "--kind", "vgg16")[1]


def test_the_vgg16_table_says_which_figures_noise_could_explain(tmp_path):
    unstable = {"verdict": "unstable", "reasons": ["..."], "failed": ["cv", "load"],
                "cv_pct": 23.0}
    stable = {"verdict": "stable", "reasons": [], "failed": [], "cv_pct": 1.5}
    folder = write(tmp_path, vgg16_run("tensorflow", 100, 3.0, stability=unstable),
                   vgg16_run("native-torch", 60, 1.5, stability=stable))
    status, markdown, _ = run(folder, "--kind", "vgg16")
    lines = table(markdown, "### VGG16 (the seed's table)").splitlines()
    header = [cell.strip() for cell in lines[0].split("|")[1:-1]]
    rows = {cells["System"]: cells for cells in (
        dict(zip(header, (c.strip() for c in line.split("|")[1:-1]))) for line in lines[2:])}
    assert status == 0 and header[-2:] == ["Epoch CV %", "Stability"]
    assert rows["Keras (TensorFlow backend)"]["Stability"] == "UNSTABLE: cv, load"
    assert rows["Keras (TensorFlow backend)"]["Epoch CV %"] == "\u00b1 23.0"
    assert rows["PyTorch eager"]["Stability"] == "stable"
    assert rows["Keras (Theano backend)"]["Stability"] == ""  # a seed system not run


def test_no_vgg16_table_without_vgg16_runs(tmp_path):
    status, markdown, _ = run(write(tmp_path, record(speed=50)))
    assert status == 0 and "VGG16 (the seed's table)" not in markdown
