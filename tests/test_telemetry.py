"""The telemetry sampler against real load: busy and idle CPUs, real allocations, a
process tree, the machine's NVML (or its absence), and a stand-in NVML for the GPU math."""
import glob
import os
import subprocess
import sys
import time

import numpy
import pytest

from harness import environment, gpu_reader, telemetry
from helpers import FakeNvml

INTERVAL = 0.05


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def rates(sampler, since=0.0):
    """The cpu_percent of the samples taken from `since` seconds on that have one."""
    return [s["cpu_percent"] for s in sampler.samples if s["t"] >= since and s["cpu_percent"] is not None]


def median(values):
    return sorted(values)[len(values) // 2]


# On a machine busy with other work a busy loop gets less than a core; the
# truth to compare with is what the kernel's own CPU clock gave the process.
BUSY_CHILD = """import time
wall, cpu = time.perf_counter(), time.process_time()
while time.perf_counter() - wall < 1.5:
    pass
print(100 * (time.process_time() - cpu) / (time.perf_counter() - wall))
"""


def skip_if_starved(truth):
    """Below a quarter of a core, an idle reading would pass for a busy one: nothing is tested."""
    if truth < 25:
        pytest.skip("this machine is too busy: a busy loop got %.0f%% of a core" % truth)


def test_busy_loop_in_this_process_reads_its_share_of_a_core():
    """The summary's mean is the span's CPU time over its wall time. CPU time counts in clock
    ticks, so it may differ from the kernel's exact count by a tick at each end of the span,
    plus the moments the span has beyond the busy loop; the scheduler cannot move it further.
    A single window's rate is rounded far more (the kernel charges CPU time in chunks of tens
    of milliseconds here): at the runs' own interval, its peak stays under two cores."""
    with telemetry.Sampler(0.5) as sampler:
        wall, cpu = time.perf_counter(), time.process_time()
        busy(2.0)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    truth = 100 * cpu / wall
    skip_if_starved(truth)
    span = sampler.samples[-1]["t"] - sampler.samples[0]["t"]
    tick = 1.0 / os.sysconf("SC_CLK_TCK")
    tolerance = 100 * (2 * tick + max(0.0, span - wall)) / span + 1  # + the readings' rounding
    summary = sampler.summary()["host"]["cpu_percent"]
    assert abs(summary["mean"] - truth) < tolerance, (truth, tolerance, sampler.samples)
    assert summary["peak"] < 250  # one busy thread and the sampler: not the whole machine


def test_sleeping_process_reads_near_zero():
    with telemetry.Sampler(INTERVAL) as sampler:
        time.sleep(0.8)
    assert sampler.summary()["host"]["cpu_percent"]["mean"] < 15, sampler.samples


def test_busy_child_counts_while_it_runs_and_after_it_ends():
    with telemetry.Sampler(INTERVAL) as sampler:
        child = subprocess.Popen([sys.executable, "-c", BUSY_CHILD], stdout=subprocess.PIPE,
                                 universal_newlines=True)
        time.sleep(1.2)
        while_alive = rates(sampler, since=0.3)  # past the interpreter's start
        truth = float(child.communicate()[0])
    skip_if_starved(truth)
    assert abs(median(while_alive) - truth) < 20, (truth, sampler.samples)
    # Reaped, its time moves to os.times()'s children: no dip, no spike.
    assert max(rates(sampler)) < 250, sampler.samples


def test_rss_grows_with_a_touched_array_here_and_in_a_child():
    with telemetry.Sampler(INTERVAL) as sampler:
        time.sleep(0.15)
        array = numpy.ones(200 * 2 ** 20 // 8)  # 200 MB, every page written
        time.sleep(0.15)
        here = sampler.samples[-1]["rss_mb"]
        del array
        child = subprocess.Popen([sys.executable, "-c", "import sys, time\nx = b'x' * (200 << 20)\n"
                                  "print(1, flush=True)\ntime.sleep(5)"], stdout=subprocess.PIPE)
        child.stdout.readline()  # the child holds its 200 MB now
        time.sleep(0.15)
        with_child = sampler.samples[-1]["rss_mb"]
        child.kill()
        child.wait()
        child.stdout.close()
    first = sampler.samples[0]["rss_mb"]
    assert here - first > 150, sampler.samples
    assert with_child - first > 150, sampler.samples
    assert sampler.summary()["host"]["rss_mb"]["peak"] >= max(here, with_child)


def test_a_window_too_short_for_the_clock_ticks_gives_no_rate():
    """stop() right after a sample: CPU time moves in 10 ms ticks, so 2 ms could read 500%.
    (Descheduled for 50 ms, the window is long enough for a rate, within one tick.)"""
    for _ in range(50):
        sampler = telemetry.Sampler(10).start()
        busy(0.002)
        sampler.stop()
        assert all(rate <= 150 for rate in rates(sampler)), sampler.samples


def test_both_ways_of_finding_descendants_agree():
    """The per-thread children lists, and the /proc scan used where the kernel has none."""
    child = subprocess.Popen([sys.executable, "-c", "import subprocess, sys\n"
                              "p = subprocess.Popen(['sleep', '5'])\nprint(p.pid, flush=True)\n"
                              "sys.stdin.read()\np.kill()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, universal_newlines=True)
    try:
        grandchild = int(child.stdout.readline())
        # This process may have other children (a test worker's Docker engine, say).
        by_ppid = telemetry._children_by_ppid()
        assert child.pid in by_ppid(os.getpid()) and by_ppid(child.pid) == [grandchild]
        if not glob.glob("/proc/self/task/*/children"):
            pytest.skip("this kernel lists no children per thread")
        children = telemetry._HostReader._children
        assert sorted(children(os.getpid())) == sorted(by_ppid(os.getpid()))
        assert children(child.pid) == [grandchild]
    finally:
        child.communicate("")


def test_system_cpu_is_a_share_of_the_machine():
    with telemetry.Sampler(INTERVAL) as sampler:
        busy(0.5)
    system = sampler.summary()["host"]["system_cpu_percent"]
    assert system is not None and 0 < system["mean"] <= system["peak"] <= 100


def test_sample_count_follows_duration_over_interval():
    interval, duration = 0.05, 1.0
    with telemetry.Sampler(interval) as sampler:
        time.sleep(duration)
    # One at start, one per interval, one at stop.
    expected = 1 + duration / interval + 1
    assert abs(sampler.summary()["count"] - expected) <= 3, [s["t"] for s in sampler.samples]
    times = [s["t"] for s in sampler.samples]
    assert times == sorted(times) and times[0] == 0


def test_stop_is_idempotent_and_start_only_once():
    sampler = telemetry.Sampler(INTERVAL)
    sampler.stop()  # never started: nothing to do
    sampler.start()
    time.sleep(0.1)
    sampler.stop()
    count = len(sampler.samples)
    sampler.stop()
    time.sleep(0.1)
    assert len(sampler.samples) == count
    with pytest.raises(RuntimeError):
        sampler.start()


@pytest.mark.parametrize("interval", [0, -1])
def test_an_interval_must_be_positive(interval):
    with pytest.raises(ValueError):
        telemetry.Sampler(interval_s=interval)


def test_a_cpu_run_records_no_gpu_and_why():
    with telemetry.Sampler(INTERVAL, gpus=0) as sampler:
        time.sleep(0.1)
    assert sampler.summary()["gpu"] == {"available": False, "reason": "no GPU used", "devices": []}
    assert all(s["gpus"] == [] for s in sampler.samples)


def test_this_machines_nvml():
    """No NVIDIA driver: unavailable with the reason, no exception. With one: the GPU is read."""
    with telemetry.Sampler(INTERVAL, gpus=1) as sampler:
        time.sleep(0.2)
    gpu = sampler.summary()["gpu"]
    if not environment.nvidia_gpus():
        assert gpu["available"] is False and gpu["devices"] == []
        assert gpu["reason"]  # e.g. "NVML: NVML Shared Library Not Found"
    else:
        assert gpu["available"] is True and len(gpu["devices"]) == 1
        device = gpu["devices"][0]
        assert device["memory_total_mb"] > 0 and device["name"]
        assert 0 <= device["util_percent"]["peak"] <= 100
        assert 0 < device["memory_used_mb"]["peak"] <= device["memory_total_mb"]


UUIDS = ["GPU-aaaa1111", "GPU-bbbb2222", "GPU-cccc3333"]


@pytest.mark.parametrize("visible, indices", [
    (None, [0, 1, 2]),
    ("", []),
    ("-1", []),
    ("2,0", [2, 0]),
    (" 1 ", [1]),
    ("0,7,1", [0]),                       # CUDA ignores an invalid entry and all after it
    ("GPU-cccc3333,GPU-aaaa1111", [2, 0]),
    ("GPU-bbbb", [1]),                    # a UUID's leading part
    ("bbbb2222", [1]),                    # without "GPU-"
    ("GPU-", []),                         # fits every GPU: names none
    ("GPU-cccc,MIG-0a1b,0", [2]),
])
def test_cuda_visible_devices_map_to_nvml_indices(visible, indices):
    assert gpu_reader.nvml_indices(visible, UUIDS) == indices


def fake_gpus():
    return [
        {"uuid": "GPU-aaaa", "name": "Fake A", "total_mib": 1000, "util": [0],
         "used_mib": [1], "power_mw": [1000]},
        {"uuid": "GPU-bbbb", "name": "Fake B", "total_mib": 16000, "util": [10, 90, 50, 20, 70, 30],
         "used_mib": [100, 400, 300, 200, 500, 250], "power_mw": None},
        {"uuid": "GPU-cccc", "name": "Fake C", "total_mib": 80000, "util": [100, 0, 60, 40, 80, 20],
         "used_mib": [7000, 9000, 8000, 8500, 7500, 9500],
         "power_mw": [300000, 350000, 250000, 400000, 310000, 320000]},
    ]


def test_gpu_summary_is_mean_and_peak_per_device_of_the_visible_ones(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-cccc,GPU-bbbb,0")
    nvml = FakeNvml(fake_gpus())
    with telemetry.Sampler(INTERVAL, gpus=2, nvml=nvml) as sampler:
        time.sleep(0.15)
    assert not nvml.initialized  # stop() shut NVML down
    n = len(sampler.samples)
    assert 2 <= n <= 6  # within the scripted series, so the expected figures are exact
    gpu = sampler.summary()["gpu"]
    assert gpu["available"] is True and gpu["reason"] is None
    c, b = fake_gpus()[2], fake_gpus()[1]
    assert [d["index"] for d in gpu["devices"]] == [2, 1]
    assert [d["name"] for d in gpu["devices"]] == ["Fake C", "Fake B"]
    assert [d["memory_total_mb"] for d in gpu["devices"]] == [80000, 16000]
    for device, script in zip(gpu["devices"], (c, b)):
        assert device["util_percent"] == {"mean": round(sum(script["util"][:n]) / float(n), 2),
                                          "peak": max(script["util"][:n])}
        assert device["memory_used_mb"] == {"mean": round(sum(script["used_mib"][:n]) / float(n), 2),
                                            "peak": max(script["used_mib"][:n])}
    watts = [mw / 1000.0 for mw in c["power_mw"][:n]]
    assert gpu["devices"][0]["power_w"] == {"mean": round(sum(watts) / n, 2), "peak": max(watts)}
    assert gpu["devices"][1]["power_w"] is None  # the board reports no power
    assert [s["gpus"][0]["util_percent"] for s in sampler.samples] == c["util"][:n]


def test_fewer_visible_gpus_than_used_are_read_and_said():
    nvml = FakeNvml(fake_gpus()[:1])
    with telemetry.Sampler(INTERVAL, gpus=2, nvml=nvml) as sampler:
        time.sleep(0.1)
    gpu = sampler.summary()["gpu"]
    assert gpu["available"] is True and [d["index"] for d in gpu["devices"]] == [0]
    assert "2 GPU(s) used but NVML finds 1" in gpu["reason"]


def test_nvml_failing_to_start_is_a_reason_not_an_error():
    nvml = FakeNvml(fake_gpus(), fail_init="Driver Not Loaded")
    with telemetry.Sampler(INTERVAL, gpus=1, nvml=nvml) as sampler:
        time.sleep(0.1)
    assert sampler.summary()["gpu"] == {"available": False, "reason": "NVML: Driver Not Loaded",
                                        "devices": []}
    assert sampler.summary()["host"]["rss_mb"]["peak"] > 0  # the host is still sampled
