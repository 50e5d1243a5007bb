"""`python -m harness rerun RESULT.json [--repeat N] [--out DIR] [--force]`: run a recorded
configuration again in this environment, and compare the new runs with the original.

The recorded config gives the run again: the workload, options, seed, batch, devices,
precision, timing and knobs as the original resolved them; not what only names or places
a run (its id, folder, repeat numbering), nor the data folder or instance label of the
machine it ran on. Before it starts it lists what differs from the recorded environment
(Keras and framework versions, the packages that matter, Python, platform, CPU, GPUs and
driver, image, git commit, the variables that change a backend). It refuses (exit 2) when
the workload itself changed (harness.workload_digest: the model's, recipe's or data
generator's code) unless --force, since the comparison would then not be of the same
network. It runs the configuration in several fresh processes (--repeat, default 3 as
the sweep's) and ends with `collect compare` of the original against the new runs,
matched whatever the instance label. Significance is judged between processes
(harness.significance): the original side is the recorded run with the other processes
of its repeat group found beside it (a sweep's or --repeat's); a lone original is one
process, and the comparison then says "untested: 1 vs N processes" and never fails.
Exit status: 2 refused or unusable, 1 when a new run failed or is significantly slower
beyond the factor, else 0.
"""
import glob
import os
import sys

from harness import environment, schema, spec as specs, workload_digest
from harness.console import say
from harness.spec import UsageError

# Config fields that only name or place a run, or belong to the machine it ran on (a
# job's ranks and coordinator too: its launcher placed them).
NOT_REPEATED = ("run_id", "out", "repeat", "repeat_index", "repeat_group", "data_dir",
                "instance", "process_id", "num_processes", "coordinator")
# Environment facts compared as they are; packages are compared where they matter.
COMPARED = ("python", "platform", "cpu_model", "cpu_cores", "image", "git_commit")
# Distributions whose version changes what a run computes or how fast.
PACKAGE_PREFIXES = ("keras", "tensorflow", "tf-keras", "jax", "torch", "mxnet", "theano",
                    "numpy", "optax", "nvidia-", "intel-", "mkl")
# Variables the backend adapters set themselves when they are unset (a result records them
# as the adapter left them): unset here, they are no difference, the run sets them again.
SET_BY_THE_HARNESS = ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_FORCE_GPU_ALLOW_GROWTH",
                      "JAX_PLATFORMS", "XLA_FLAGS", "THEANO_FLAGS", "CUDA_VISIBLE_DEVICES",
                      "MASTER_ADDR", "MASTER_PORT")


def main(args):
    """Run `args` (the parsed `rerun` command); returns the exit status."""
    try:
        record = schema.read(args.result)
    except (schema.SchemaError, OSError) as error:
        raise UsageError("%s: %s" % (args.result, error))
    if args.repeat is not None and args.repeat < 1:
        raise UsageError("--repeat must be at least 1")
    config = record["config"]
    model, backend = config.get("model"), config.get("backend")
    if (config.get("num_processes") or 1) > 1:
        raise UsageError("the result is rank 0's of a job of %d processes: run it again "
                         "through its launcher (docs/multi-node.md)" % config["num_processes"])
    options = options_of(record)
    specs.make_spec(model=model, backend=backend, **options)  # refuses what cannot run now
    say("rerun of %s (%s on %s, %s)" % (record["run_id"], model, backend, record["status"]))
    for line in environment_changes(record["environment"], environment.snapshot()):
        say("  differs: " + line)
    changed = workload_changes(record)
    if changed is None:
        say("  the result records no workload digest (an older harness): whether the "
             "workload changed cannot be told")
    elif changed:
        say("  the workload changed since the result: %s" % ", ".join(changed))
        if not args.force:
            raise UsageError("the workload's code changed (%s); the comparison would not be "
                             "of the same network: --force runs it anyway" % ", ".join(changed))
    from harness import sweep  # the runs' own processes; nothing here imports a framework
    new = sweep.run_rounds([(model, backend)], sweep.several_processes(
        dict(options, out=args.out, repeat=args.repeat)), args.out, timeout=None)
    original = group_of(args.result, record)
    say("  the original: %d process(es) of its repeat group" % len(original))
    text, status = comparison(original, new, args.result, args.out, args.factor)
    sys.stdout.write(text)
    failed = any(one["status"] not in ("ok", "skipped") for one in new)
    return 1 if failed else status


def options_of(record):
    """The run options that repeat the recorded run (spec field -> value): its config as
    it ran, but the steps per epoch as asked (`asked`): measured epochs that were sized
    from the warm-up's pace are sized again here, where a given value would fix them."""
    config = dict(record["config"])
    if "steps_per_epoch" in record["asked"]:
        config["steps_per_epoch"] = record["asked"]["steps_per_epoch"]
    return dict((name, config[name]) for name in specs.FIELD_NAMES
                if name not in NOT_REPEATED + ("model", "backend")
                and config.get(name) is not None)


def environment_changes(recorded, current):
    """'name: recorded -> now' for each fact of the environment that differs."""
    lines = []
    packages_now = current.get("packages") or {}
    packages_then = recorded.get("packages") or {}
    for name in COMPARED:
        _differs(lines, name, recorded.get(name), current.get(name))
    _differs(lines, "keras", recorded.get("keras_version"), packages_now.get("keras"))
    package = recorded.get("backend_package")
    if package:
        _differs(lines, "backend %s" % package, recorded.get("backend_version"),
                 packages_now.get(package))
    for name in sorted(set(packages_then) | set(packages_now)):
        if name.startswith(PACKAGE_PREFIXES) and name != package:
            _differs(lines, "package %s" % name, packages_then.get(name), packages_now.get(name))
    _differs(lines, "GPUs", _gpus(recorded.get("gpus")), _gpus(current.get("gpus")))
    then, now = recorded.get("env_vars") or {}, current.get("env_vars") or {}
    for name in sorted(set(then) | set(now)):
        if name in now or name not in SET_BY_THE_HARNESS:
            _differs(lines, "$%s" % name, then.get(name), now.get(name))
    return lines


def _differs(lines, name, then, now):
    if then != now:
        lines.append("%s: %s -> %s" % (name, _text(then), _text(now)))


def _text(value):
    return "(none)" if value in (None, "", []) else str(value)


def _gpus(gpus):
    """The GPUs' models and drivers, as one text."""
    if not isinstance(gpus, list):
        return None
    return ", ".join("%s (driver %s)" % (gpu.get("name"), gpu.get("driver"))
                     for gpu in gpus if isinstance(gpu, dict)) or None


def workload_changes(record):
    """The workload's files that changed since `record`, [] where none did, or None where the
    record has no digest to tell."""
    recorded = record.get("workload")
    if not isinstance(recorded, dict) or not recorded.get("digest"):
        return None
    config = record["config"]
    current = workload_digest.compute(config.get("model"), config.get("dataset", "synthetic"),
                                      config.get("backend"))
    if current["digest"] == recorded["digest"]:
        return []
    return workload_digest.changed(recorded, current) or ["(the digest's form)"]


def group_of(path, record):
    """The recorded run and the other processes of its repeat group (config.repeat_group)
    among the result files beside it: the original side of the comparison."""
    group = record["config"].get("repeat_group")
    if not group:
        return [record]
    members = [record]
    for other in glob.glob(os.path.join(os.path.dirname(os.path.abspath(path)), "*.json")):
        if os.path.samefile(other, path):
            continue
        try:
            one = schema.read(other)
        except (schema.SchemaError, OSError):
            continue
        if one.get("config", {}).get("repeat_group") == group:
            members.append(one)
    return members


def comparison(original, new, original_name, new_name, factor):
    """(Markdown, exit status) of the original records against the new ones, matched on
    everything but the instance label."""
    from harness.collector import compare, compare_text, records, runs
    fields = tuple(name for name in compare.MATCH_FIELDS if name != "instance")
    sides = []
    for some in (original, new):
        summaries = []
        for one in some:
            try:
                summaries.append(runs.summarize(records.checked(one)[0]))
            except schema.SchemaError as error:
                say("  not compared: run %s: %s" % (one.get("run_id"), error))
        sides.append(compare.runs_side(summaries, fields))
    return compare_text.of_sides(sides[0], sides[1], original_name, new_name, factor)
