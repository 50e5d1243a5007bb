"""What a run tells the user on stderr: its set-up, each epoch, and its outcome."""
import sys

from harness.timing import CV_LIMIT_PCT


def say(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def epoch_progress(spec):
    """The Recorder's progress callback: one line per epoch, warm-up or measured."""
    total = "%d%s" % (spec.warmup + spec.epochs, "+" if spec.min_steps or spec.min_seconds else "")
    unit = spec.workload.unit

    def progress(number, epoch):
        kind = "warm-up" if number <= spec.warmup else "measured"
        say("  epoch %d/%s (%s): %d steps in %.2f s, %.0f %s/s"
            % (number, total, kind, epoch["steps"], epoch["seconds"],
               epoch["samples"] / epoch["seconds"], unit))
    return progress


def devices_text(config):
    if config["devices"] == 1:
        return "%d GPU" % config["gpus"]
    return "%d %s devices, %s, global batch %d" % (config["devices"], config["device_kind"].upper(),
                                                   config["parallel"], config["global_batch_size"])


def report(record, path):
    """The run's summary line: its speed and stability, or why it did not run."""
    metrics = record["metrics"]
    path = path or "rank 0 writes the job's result"
    if record["status"] == "ok":
        say("%s %s: %.1f %s/s (median of %d epochs), %.2f ms/step, first epoch %.2f s, %s%s -> %s"
            % (record["config"]["model"], record["config"]["backend"],
               metrics["throughput"]["median"], metrics["unit"], metrics["throughput"]["n"],
               metrics["step_ms"]["median"], metrics["warmup"]["first_epoch_s"],
               stability_text(metrics.get("stability")),
               blas_text(record["environment"].get("blas")), path))
    else:
        message = record["error"]["message"]
        say("%s: %s: %s -> %s" % (record["status"], record["error"]["type"],
                                  message.splitlines()[0] if message else "", path))


def stability_text(stability):
    """'stable (CV 2.1%)', or 'UNSTABLE (CV 23.0%): the reasons'."""
    if not stability:
        return "stability not judged"
    cv = "CV %.1f%%" % stability["cv_pct"] if stability.get("cv_pct") is not None else "CV n/a"
    if stability["verdict"] == "stable":
        return "stable (%s)" % cv
    return stability_label(stability["reasons"], detail=" (%s)" % cv, separator="; ")


def stability_label(failed, process_cv=None, detail="", separator=", "):
    """The words for a stability verdict, a run's line's and the tables' cells alike:
    'stable', or 'UNSTABLE: cv, load', what `failed` (check names, or a run's reasons)
    and 'processes' where the processes' speeds spread by CV_LIMIT_PCT or more
    (`process_cv`: their CV in %); `detail` follows UNSTABLE ("(1 of 3 runs)")."""
    failed = list(failed)
    if process_cv is not None and process_cv >= CV_LIMIT_PCT:
        failed.append("processes")
    return "UNSTABLE%s: %s" % (detail, separator.join(failed)) if failed else "stable"


def blas_text(blas):
    """Theano's BLAS note (on NumPy's C-API BLAS, slower), where the run has one."""
    return ", " + blas["note"] if blas and blas.get("note") else ""
