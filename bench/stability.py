"""How far the harness's figure moves between runs: `--repeat N` of the mlp on each backend.

    python bench/stability.py [--backends jax,torch] [--repeats 5] [--quick]

Runs `python -m harness mlp --backend B --repeat N` (N fresh processes, one
result file each) and reports the coefficient of variation (sample standard
deviation over the mean) of the repeats' headline figures, the median of
each run's measured epochs' samples/s. Target: at most 3% on every backend.
"""
import common

TARGET = 0.03
QUICK_STEPS, QUICK_EPOCHS = 10, 1  # else the defaults: the figure `python -m harness mlp` gives


def main():
    options = common.parser("stability", __doc__.splitlines()[0])
    options.add_argument("--repeats", type=int, help="runs per backend (default: 5; --quick: 2)")
    args = common.parse(options)
    repeats = args.repeats or (2 if args.quick else 5)
    sizes = ["--steps-per-epoch", QUICK_STEPS, "--epochs", QUICK_EPOCHS] if args.quick else []
    results = []
    for backend in args.backends:
        records = common.run_harness(["mlp", "--backend", backend, "--repeat", repeats] + sizes)
        speeds = [r["metrics"]["throughput"]["median"]
                  for r in sorted(records, key=lambda r: r["config"]["repeat_index"])]
        variation = common.variation(speeds)
        results.append({"model": "mlp", "backend": backend, "repeats": repeats,
                        "steps_per_epoch": [r["config"]["steps_per_epoch"] for r in records],
                        "epochs": [r["metrics"]["measured"]["epochs"] for r in records],
                        "repeat_group": records[0]["config"]["repeat_group"],
                        "samples_per_s": speeds, "median_samples_per_s": common.median(speeds),
                        "coefficient_of_variation": variation, "passed": variation <= TARGET})
        print("mlp on %s: %d repeats, median %.0f samples/s, coefficient of variation %.2f%%"
              % (backend, repeats, common.median(speeds), 100 * variation), flush=True)
    return common.report("stability", args, "coefficient of variation <= %d%%" % (100 * TARGET),
                         {"configurations": results}, all(r["passed"] for r in results))


if __name__ == "__main__":
    raise SystemExit(main())
