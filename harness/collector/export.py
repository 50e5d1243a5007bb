"""CSV and JSON: the numbers behind the tables, unrounded, one row per configuration of
successful runs and one per failed, skipped or interrupted run."""
import csv
import io
import json
from collections import OrderedDict

from harness import schema
from harness.collector.labels import PHASES, error_text, kind_of

# What --format csv and json write per row.
EXPORT_FIELDS = (
    "kind", "status", "model", "resnet_version", "resnet_layers", "dataset", "inference",
    "backend", "backend_package", "backend_version", "blas", "keras_version", "instance", "gpus",
    "devices", "device_kind", "cpu_devices", "parallel", "global_batch_size",
    "device_batch_size", "data_format", "method", "precision", "jit_compile",
    "jit_compile_resolved", "tf32", "timing", "image_size", "epochs", "warmup",
    "steps_per_epoch", "min_seconds", "epoch_seconds", "profile", "runs", "unit", "speed_median", "speed_min", "speed_max",
    "speed_cv_pct", "epoch_cv_pct", "unstable_runs", "step_ms_median", "trial_ms", "epoch_seconds", "loss", "accuracy", "gpu_memory_mb",
    "gpu_memory_source", "gpu_util_percent", "joules_per_sample", "energy_source",
) + tuple(PHASES) + (
    "workload_digest", "error", "run_ids", "repeat_speeds",
)


def export_rows(groups, failures):
    """One OrderedDict of EXPORT_FIELDS per group and per failure; run_ids and
    repeat_speeds (each repeat's median speed) are lists, in repeat order."""
    rows = []
    for group in groups:
        row = dict(group.identity, kind=kind_of(group.identity), status="ok", runs=group.runs,
                   unit=group.unit, speed_median=group.speed, speed_min=group.speed_min,
                   speed_max=group.speed_max, speed_cv_pct=group.cv,
                   epoch_cv_pct=group.epoch_cv,
                   unstable_runs=len(group.unstable) if group.judged else None,
                   step_ms_median=group.step_ms, trial_ms=group.trial_ms,
                   epoch_seconds=group.epoch_seconds,
                   loss=group.loss, accuracy=group.accuracy, gpu_memory_mb=group.gpu_memory,
                   gpu_memory_source=group.gpu_memory_source, gpu_util_percent=group.gpu_util,
                   joules_per_sample=group.joules_per_sample,
                   energy_source="+".join(group.energy_sources) or None,
                   run_ids=group.run_ids, repeat_speeds=group.repeat_speeds)
        row.update(group.phases)
        rows.append(row)
    for failure in failures:
        rows.append(dict(failure.identity, kind=kind_of(failure.identity), runs=1,
                         status=failure.run.status, error=error_text(failure.run),
                         run_ids=[failure.run.run_id]))
    return [OrderedDict((name, row.get(name)) for name in EXPORT_FIELDS) for row in rows]



def csv_text(rows):
    """export_rows as CSV, with a header line."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    # A CSV cell holds no list: the run ids and repeat speeds are space-separated.
    writer.writerows({name: " ".join(map(str, value)) if isinstance(value, list) else value
                      for name, value in row.items()} for row in rows)
    return buffer.getvalue()


def json_text(rows, unreadable, emptied):
    """export_rows as JSON, with the files skipped (`unreadable`) and the fields emptied in
    records that were kept (`emptied`)."""
    return json.dumps({"rows": schema.finite(rows),  # 1e400 in an unchecked field: null
                       "unreadable_files": [{"path": p, "reason": r} for p, r in unreadable],
                       "emptied_fields": [{"path": p, "note": n} for p, n in emptied]},
                      indent=1) + "\n"
