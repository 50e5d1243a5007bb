"""The energy meter: RAPL on made powercap trees laid out as the kernel lays them out, NVML's
energy counter and power through a stand-in NVML, the meter read at the Recorder's clock
points, and this machine's real runs, which have neither and say why."""
import json
import time

import pytest

from conftest import SHARED_RUNS
from harness import energy, schema, timing
from helpers import TINY, FakeNvml, ok_record, record, run, write

# A server package's range as the kernel publishes it (max_energy_range_uj).
RANGE_UJ = 262143328850


def zone(root, name, label, energy_uj, range_uj=RANGE_UJ):
    """One powercap zone folder as /sys/class/powercap shows it (values end in a newline)."""
    folder = root / name
    folder.mkdir()
    for file, value in (("name", label), ("energy_uj", energy_uj),
                        ("max_energy_range_uj", range_uj), ("enabled", 1)):
        (folder / file).write_text("%s\n" % value)
    return folder


def set_uj(folder, value):
    (folder / "energy_uj").write_text("%d\n" % value)


@pytest.fixture
def powercap(tmp_path):
    """Two packages with core, uncore and DRAM zones, and the platform (psys) zone."""
    (tmp_path / "intel-rapl").mkdir()  # the control type's own folder: no zone
    (tmp_path / "intel-rapl" / "enabled").write_text("1\n")
    zone(tmp_path, "intel-rapl:0", "package-0", 1000000)
    zone(tmp_path, "intel-rapl:0:0", "core", 500000)
    zone(tmp_path, "intel-rapl:0:1", "uncore", 10)
    zone(tmp_path, "intel-rapl:0:2", "dram", 200000, range_uj=65712999613)
    zone(tmp_path, "intel-rapl:1", "package-1", RANGE_UJ - 1000000)
    zone(tmp_path, "intel-rapl:1:0", "dram", 0, range_uj=65712999613)
    zone(tmp_path, "intel-rapl:2", "psys", 7)
    return tmp_path


def test_rapl_zones_are_the_packages_and_their_dram_not_their_parts_nor_psys(powercap):
    zones, problems = energy.rapl_zones(str(powercap))
    assert problems == []
    assert [z.name for z in zones] == ["package-0", "package-0/dram", "package-1",
                                       "package-1/dram"]
    assert [z.range_uj for z in zones] == [RANGE_UJ, 65712999613, RANGE_UJ, 65712999613]


def test_a_rapl_counter_that_wraps_counts_on_and_says_so(powercap):
    zones, _ = energy.rapl_zones(str(powercap))
    package = zones[2]  # package-1 starts 1 J before its range's end
    set_uj(powercap / "intel-rapl:1", 2500000)  # past the end, 2.5 J into the next lap
    package.poll(0)
    assert package.joules == pytest.approx(3.5) and package.wraps == 1
    set_uj(powercap / "intel-rapl:1", 4000000)
    package.poll(0)
    assert package.joules == pytest.approx(5.0) and package.wraps == 1
    assert package.describe()["range_j"] == pytest.approx(262143.32885)


def test_no_powercap_and_an_unreadable_zone_are_reasons(tmp_path, powercap):
    assert energy.rapl_zones(str(tmp_path / "none")) == (
        [], ["RAPL: %s has no intel-rapl zone (no powercap driver, or a VM)" % (tmp_path / "none")])
    for name in ("intel-rapl:0", "intel-rapl:1"):  # as where only root may read energy_uj
        (powercap / name / "energy_uj").unlink()
    zones, problems = energy.rapl_zones(str(powercap))
    assert [z.name for z in zones] == ["package-0/dram", "package-1/dram"]
    assert problems == ["RAPL: cannot read %s: No such file or directory" % (powercap / name)
                        for name in ("intel-rapl:0", "intel-rapl:1")]
    (powercap / "intel-rapl:0:2" / "energy_uj").unlink()
    (powercap / "intel-rapl:1:0" / "energy_uj").unlink()
    zones, problems = energy.rapl_zones(str(powercap))
    assert zones == [] and len(problems) == 4 and "intel-rapl:1:0" in problems[-1]


def gpus(**energy_mj):
    """Stand-in GPUs with the power of test_telemetry's and the given energy series."""
    return [{"uuid": "GPU-%s" % name, "name": "Fake %s" % name, "total_mib": 1000, "util": [0],
             "used_mib": [1], "power_mw": power, "energy_mj": series}
            for name, (series, power) in sorted(energy_mj.items())]


def test_nvml_energy_counter_in_millijoules_and_a_reset_counted_from_zero():
    nvml = FakeNvml(gpus(a=([5000000, 5001500, 5004000, 700, 1700], [100000])))
    counter = energy.NvmlEnergy(nvml, 0, "gpu 0: Fake a")
    for _ in range(4):
        counter.poll(0)
    # 1.5 J, 2.5 J, then the driver reloaded: 0.7 J since, then 1 J
    assert counter.joules == pytest.approx(5.7) and counter.resets == 1
    assert counter.describe() == {"name": "gpu 0: Fake a", "kind": "gpu",
                                  "source": "nvml_energy_counter", "wraps": 0, "resets": 1}


def test_a_gpu_without_an_energy_counter_has_its_power_integrated():
    nvml = FakeNvml(gpus(a=(None, [100000, 300000, 200000])))
    counter = energy.NvmlPower(nvml, 0, "gpu 0: Fake a", now=10.0)
    counter.poll(10.5)  # 100 W to 300 W over half a second
    counter.poll(12.5)  # 300 W to 200 W over two seconds
    assert counter.joules == pytest.approx(0.5 * 200 + 2 * 250)
    assert "integrated" in counter.describe()["note"]


def test_meter_names_each_gpus_source_and_why_one_has_none(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml(gpus(a=([1000, 3000], [1]), b=(None, [250000]), c=(None, None)))
    meter = energy.Meter(gpus=3, nvml=nvml, powercap=str(tmp_path)).start()
    try:
        assert [(c.name, c.source) for c in meter.counters] == [
            ("gpu 0: Fake a", "nvml_energy_counter"), ("gpu 1: Fake b", "nvml_power_integrated")]
        assert meter.unmeasured[0] == ("gpu 2: Fake c: NVML reports neither energy (Not "
                                       "Supported) nor power (Not Supported)")
        assert meter.unmeasured[1].startswith("RAPL: ")
    finally:
        meter.stop()
    assert not nvml.initialized  # NVML shut down


class DeviceWork(object):
    """A device whose queued work uses 1 J of package-0's counter each time it is drained."""

    def __init__(self, folder):
        self.folder = folder
        self.uj = 1000000

    def sync(self, outputs):
        self.uj += 1000000
        set_uj(self.folder, self.uj)


def test_recorder_reads_the_meter_at_its_clock_points_and_the_warmup_is_apart(powercap):
    """Energy used before an epoch's clock starts (the drain of earlier work) is not the
    epoch's; what its steps and its end drain is. So three 2-step epochs use 3 J each, and
    with one of them warm-up the run used 6 J over 6 samples."""
    work = DeviceWork(powercap / "intel-rapl:0")
    ticks = iter(range(100))
    meter = energy.Meter(powercap=str(powercap))
    recorder = timing.Recorder(work.sync, timing.Plan(1, 2, 0, 0), clock=lambda: next(ticks),
                               meter=meter)
    with meter:
        for _ in range(3):
            recorder.begin_epoch()
            recorder.end_step(1)
            recorder.end_step(2)
            recorder.end_epoch()
    summary = meter.summary(recorder.epochs, 1)
    assert summary["source"] == "rapl" and summary["unmeasured"] == ["GPU: no GPU used"]
    assert summary["epoch_joules"] == [pytest.approx(3.0)] * 2
    assert summary["joules"] == pytest.approx(6.0)
    assert summary["joules_per_sample"] == pytest.approx(1.0)
    assert summary["watts_mean"] == pytest.approx(6.0 / 6)  # each epoch: three clock ticks
    package = summary["devices"][0]
    assert package["name"] == "package-0" and package["joules"] == pytest.approx(6.0)
    assert package["wraps"] == 0 and "other processes" in package["note"]
    assert [d["joules"] for d in summary["devices"][1:]] == [0, 0, 0]


def test_the_meter_reads_between_the_epochs_ends_so_it_sees_every_wrap(powercap, monkeypatch):
    """Two laps of a RAPL counter within one epoch: read only at its ends, they would
    look like a small step forward."""
    monkeypatch.setattr(energy, "COUNTER_POLL_S", 0.01)
    package = powercap / "intel-rapl:0"
    with energy.Meter(powercap=str(powercap)) as meter:
        meter.begin_epoch()  # at 1 J
        for uj in (RANGE_UJ // 2, RANGE_UJ - 1, RANGE_UJ // 2, RANGE_UJ - 1, 2000000):
            set_uj(package, uj)
            time.sleep(0.1)  # ten of the meter's reads
        meter.end_epoch()
    assert meter.epochs[0][0] == pytest.approx((2 * RANGE_UJ + 1000000) / 1e6)
    assert meter.counters[0].wraps == 2


def test_a_gpu_without_a_counter_reads_its_mean_power_over_the_epochs(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakeNvml(gpus(a=(None, [250000])))  # 250 W throughout
    meter = energy.Meter(gpus=1, nvml=nvml, powercap="/nonexistent")
    recorder = timing.Recorder(lambda outputs: None, timing.Plan(0, 2, 0, 0), meter=meter)
    with meter:
        for _ in range(2):
            recorder.begin_epoch()
            time.sleep(0.3)
            recorder.end_step(10)
            recorder.end_epoch()
    summary = meter.summary(recorder.epochs, 0)
    assert summary["source"] == "nvml_power_integrated"
    # Each epoch's energy spans its clock readings and the moments between them and the
    # meter's own (microseconds; a few milliseconds on a loaded machine).
    assert summary["watts_mean"] == pytest.approx(250.0, rel=0.05)
    assert summary["joules_per_sample"] == pytest.approx(summary["joules"] / 20)
    assert summary["unmeasured"] == ["RAPL: /nonexistent has no intel-rapl zone (no powercap "
                                     "driver, or a VM)"]


def test_a_meter_with_no_counter_says_why():
    meter = energy.Meter(gpus=0, powercap="/nonexistent").start()
    meter.stop()
    assert meter.summary([], 0) == {
        "unavailable": "GPU: no GPU used; RAPL: /nonexistent has no intel-rapl zone (no "
                       "powercap driver, or a VM)"}


@SHARED_RUNS
def test_every_run_records_its_energy_or_why_not(shared_run, backend):
    """This machine (a VM: no powercap, no GPU) has no counter: the record says so."""
    energy_of_run = shared_run("cnn", backend, *TINY)["metrics"]["energy"]
    if "unavailable" in energy_of_run:
        assert "RAPL: " in energy_of_run["unavailable"]
        assert "GPU: no GPU used" in energy_of_run["unavailable"]
    else:  # a machine with RAPL
        assert energy_of_run["source"] == "rapl" and energy_of_run["joules"] > 0


@pytest.mark.parametrize("value, words", [
    ("12 J", "not an object"),
    ({"joules": 3.0}, "'unavailable' \\(why\\) or source"),
    ({"unavailable": 0}, "unavailable is not a string"),
])
def test_a_record_is_written_with_its_energy_whole_or_not_at_all(tmp_path, value, words):
    record = ok_record()
    record["metrics"]["energy"] = value
    with pytest.raises(schema.SchemaError, match=words):
        schema.write(record, str(tmp_path))
    record["metrics"]["energy"] = {"unavailable": "RAPL: none"}
    assert schema.read(schema.write(record, str(tmp_path)))["metrics"]["energy"] == {
        "unavailable": "RAPL: none"}


def test_the_collector_empties_a_wrong_energy_figure_and_keeps_the_run(tmp_path):
    broken = record(speed=9.0, energy={"source": "rapl", "joules_per_sample": "lots"})
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))  # as a writer without the check would
    status, markdown, errors = run(tmp_path)
    assert status == 0 and "| 9 " in markdown and "Energy" not in markdown
    assert "metrics.energy.joules_per_sample is str" in errors
