"""Theano on NumPy's C-API BLAS against Theano linked to an OpenBLAS: a CNN's speed.

    .venv-theano/bin/python bench/theano_blas.py [--model cnn] [--rounds 3] [--quick]

Runs `python -m harness MODEL --backend theano` in fresh processes, alternated round
by round between the BLAS settings: THEANO_FLAGS=blas.ldflags= (Theano's calls go
through NumPy's C API: what the harness did before it searched for a BLAS), the
harness's default (the first OpenBLAS Theano can call, harness/backends/theano_blas.py),
and each other OpenBLAS file that Theano could link here (the system's, a wheel's).
Reports each setting's runs (median images/s of each), their median, and the ratio of
the default's median to the C API's (and round by round). Target: the default at least 10% faster.
Run it in the Keras 2 + Theano environment (`make test` builds .venv-theano).
"""
import os

import common
from harness.backends import theano_blas

TARGET_RATIO = 1.1


def settings():
    """(name, THEANO_FLAGS' blas.ldflags or None for the harness's default), one per
    setting: the C API, the default, then every other OpenBLAS file Theano can call."""
    found = [("numpy-c-api", ""), ("default", None)]
    default = theano_blas.find_ldflags()
    seen = {default, os.path.realpath(theano_blas.library_of(default) or "")}
    for path in theano_blas.system_openblas() + theano_blas.wheel_openblas():
        ldflags = theano_blas.ldflags_of(path)
        if os.path.realpath(path) not in seen and ldflags not in seen \
                and theano_blas.callable_by_theano(path):
            seen.update((os.path.realpath(path), ldflags))
            found.append((path, ldflags))
    return found


def run(model, ldflags, plan):
    """One run in a fresh process; returns its median speed, its BLAS and its stability."""
    flags = [f for f in os.environ.get("THEANO_FLAGS", "").split(",")
             if f and not f.startswith("blas.ldflags")]
    if ldflags is not None:
        flags.append("blas.ldflags=" + ldflags)
    record = common.run_harness([model, "--backend", "theano"] + plan,
                                {"THEANO_FLAGS": ",".join(flags)})[0]
    metrics = record["metrics"]
    return {"speed": metrics["throughput"]["median"], "blas": record["environment"]["blas"],
            "stability": metrics["stability"]["verdict"],
            "stability_reasons": metrics["stability"]["reasons"]}


def main():
    options = common.parser("theano_blas", __doc__.splitlines()[0])
    options.add_argument("--model", default="cnn")
    options.add_argument("--rounds", type=int, help="runs per setting, alternated (default: 3; "
                                                    "--quick: 1)")
    args = common.parse(options)
    rounds = args.rounds or (1 if args.quick else 3)
    steps = ["--steps-per-epoch", "3", "--batch-size", "8"] if args.quick else \
        ["--steps-per-epoch", "20"]
    plan = ["--epochs", "3", "--warmup", "1", "--epoch-seconds", "0", "--min-seconds", "0"] + steps
    compared = settings()
    runs = {name: [] for name, _ in compared}
    for number in range(rounds):
        for name, ldflags in compared:
            runs[name].append(run(args.model, ldflags, plan))
            print("round %d, %s: %.1f images/s (%s)" % (number + 1, name, runs[name][-1]["speed"],
                                                       runs[name][-1]["stability"]), flush=True)
    figures = {name: {"runs": each, "median": common.median([r["speed"] for r in each])}
               for name, each in runs.items()}
    ratio = figures["default"]["median"] / figures["numpy-c-api"]["median"]
    figures["default_over_c_api"] = ratio
    # Round by round: the two runs of a round saw about the same load.
    figures["default_over_c_api_by_round"] = [
        linked["speed"] / c_api["speed"]
        for linked, c_api in zip(runs["default"], runs["numpy-c-api"])]
    print("default (%s) over the C API: %.2fx" % (runs["default"][0]["blas"]["ldflags"], ratio))
    return common.report("theano_blas", args, "the default at least %.1fx the C API's speed"
                         % TARGET_RATIO, figures, ratio >= TARGET_RATIO)


if __name__ == "__main__":
    raise SystemExit(main())
