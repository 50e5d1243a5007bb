"""The run's typed record: its parts stay apart until written, and the document it is
written as is whole whenever the stop's watchdog asks for it."""
import json
import sys
import threading
import time

from harness import run_record, schema, stopping


def _record():
    record = run_record.RunRecord({"model": "mlp", "backend": "jax", "gpus": None,
                                   "steps_per_epoch": None, "warmup": 1},
                                  ["python", "-m", "harness", "mlp"], "r1")
    record.resolve(run_record.Placement(
        gpus=0, devices=1, processes=1, nodes=1, devices_per_process=1, launcher=None,
        device_kind="cpu", parallel=None, global_batch_size=4, device_batch_size=4,
        data_format="channels_last", unit="images", instance="here", keras_api="3",
        timing="step"))
    return record


def test_config_is_what_ran_and_asked_what_was_asked():
    record = _record()
    record.resolve(run_record.DataResolved(20, None, "f"))
    document = record.document()
    assert document["config"]["gpus"] == 0 and document["config"]["steps_per_epoch"] == 20
    assert document["asked"] == {"gpus": None, "steps_per_epoch": None}
    assert document["status"] == "interrupted" and document["metrics"] is None


def test_a_run_that_ended_early_keeps_its_finished_epochs():
    record = _record()
    record.phases = {"data_s": 0.5}
    record.epochs = [{"seconds": 1.0, "steps": 2, "samples": 8, "step_seconds": [0.5, 0.5],
                      "step_samples": [4, 4]}] * 3 + [
        {"seconds": None, "steps": 1, "samples": 4, "step_seconds": [0.5], "step_samples": [4]}]
    error = {"type": "RuntimeError", "message": "it broke", "traceback": "T"}
    outcome = record.ended_early("error", error)
    assert outcome.error == dict(error, phase=stopping.phase(), epochs_finished=3)
    assert outcome.metrics["partial"] is True and outcome.metrics["measured"]["epochs"] == 2
    assert outcome.metrics["phases"] == {"data_s": 0.5}
    assert len(record.document(outcome)["samples"]["epochs"]) == 4
    assert "phase" not in error  # the error given is not changed
    record.epochs = record.epochs[:1]  # only the warm-up finished: nothing measured
    assert record.ended_early("interrupted", error).metrics is None
    assert record.document(record.failed_by_peers(error))["samples"] is None


def test_the_document_is_whole_while_the_run_changes_its_parts(tmp_path):
    """The watchdog writes from another thread while the run appends steps, epochs and
    phases: every document it takes is one that json writes and the schema takes."""
    record = _record()
    record.phases, record.epochs = {}, []
    go = threading.Event()

    def run():
        go.wait()
        for epoch in range(300):
            record.epochs.append({"seconds": None, "steps": 0, "samples": 0,
                                  "step_seconds": [], "step_samples": []})
            for _ in range(20):
                record.epochs[-1]["steps"] += 1
                record.epochs[-1]["step_seconds"].append(0.01)
                record.epochs[-1]["step_samples"].append(4)
            record.epochs[-1]["seconds"] = 0.2
            record.phases["phase%d_s" % epoch] = 0.1
            record.environment["key%d" % epoch] = epoch
            time.sleep(0.001)  # a step's own work, without the GIL

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # the threads take turns as often as they can
    thread = threading.Thread(target=run)
    seen = set()
    try:
        thread.start()
        go.set()
        while thread.is_alive():
            document = record.document(record.ended_early("interrupted", {
                "type": "StopRequested", "message": "stopped", "traceback": None}))
            json.dumps(document, indent=1, allow_nan=False)  # as schema.write, in Python
            schema.validate(document)
            seen.add(len(document["samples"]["epochs"]))
    finally:
        sys.setswitchinterval(interval)
    assert seen - {0, 300}  # some taken while the run went on
