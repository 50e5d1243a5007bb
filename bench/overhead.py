"""What measuring costs: the harness's steady-state speed against a plain Keras program's.

    python bench/overhead.py [--backends jax,torch] [--models mlp,cnn] [--pairs 5] [--quick]

For each workload and backend, runs `python -m harness MODEL --backend B` and
bench/plain_keras.py (the same network, data, seed and epochs trained by one
plain fit() call, timed per epoch with time.perf_counter and no per-step hook)
alternately, each in a fresh process, --pairs times; the first of a pair
alternates too, so that neither always runs on a machine the other has just
warmed. Each pair gives a ratio, harness over plain, of their headline figures
(the median of the measured epochs' samples/s, one warm-up epoch excluded in
both); the figure is the median of the ratios. Target: at least 0.98 (the
harness costs at most 2% of the speed it reports).

What the harness adds is its per-step timing callback: Keras 3 runs batch
hooks synchronously and converts each step's logs to Python numbers for them,
so every step waits for its results on the host, where a plain fit() may
queue the next step first (JAX's asynchronous dispatch). A ratio below
target is that cost, reported as measured.
"""
import common

TARGET = 0.98
MODEL_STEPS = {"mlp": 200, "cnn": 25}  # cnn: fewer steps keep JAX's slow cnn within the time
QUICK_STEPS = 10


def measure_pairs(model, backend, steps, epochs, pairs):
    """`pairs` alternating runs of the harness and the plain program; their speeds and ratios."""
    sizes = ["--steps-per-epoch", steps, "--epochs", epochs, "--warmup", 1]
    harness_speeds, plain_speeds = [], []
    for pair in range(pairs):
        order = ("harness", "plain") if pair % 2 == 0 else ("plain", "harness")
        for program in order:
            if program == "harness":
                record = common.run_harness([model, "--backend", backend] + sizes)[0]
                harness_speeds.append(record["metrics"]["throughput"]["median"])
            else:
                plain = common.run_python("bench/plain_keras.py", [model, backend] + sizes)
                plain_speeds.append(plain["median"])
    ratios = [h / p for h, p in zip(harness_speeds, plain_speeds)]
    return {"model": model, "backend": backend, "steps_per_epoch": steps, "epochs": epochs,
            "warmup": 1, "pairs": pairs, "harness_samples_per_s": harness_speeds,
            "plain_samples_per_s": plain_speeds, "ratios": ratios,
            "median_ratio": common.median(ratios), "passed": common.median(ratios) >= TARGET}


def main():
    options = common.parser("overhead", __doc__.splitlines()[0])
    options.add_argument("--models", type=lambda text: text.split(","), default=["mlp", "cnn"],
                         help="comma-separated, of mlp and cnn (default: mlp,cnn)")
    options.add_argument("--pairs", type=int, help="harness/plain pairs per configuration "
                                                   "(default: 5; --quick: 1)")
    options.add_argument("--epochs", type=int, help="measured epochs per run (default: 3; "
                                                    "--quick: 1)")
    args = common.parse(options)
    pairs = args.pairs or (1 if args.quick else 5)
    epochs = args.epochs or (1 if args.quick else 3)
    results = []
    for model in args.models:
        for backend in args.backends:
            steps = QUICK_STEPS if args.quick else MODEL_STEPS[model]
            result = measure_pairs(model, backend, steps, epochs, pairs)
            results.append(result)
            print("%s on %s: harness/plain %.3f (median of %d pairs; ratios %s)"
                  % (model, backend, result["median_ratio"], pairs,
                     ", ".join("%.3f" % r for r in result["ratios"])), flush=True)
    return common.report("overhead", args, "median harness/plain ratio >= %.2f" % TARGET,
                         {"configurations": results}, all(r["passed"] for r in results))


if __name__ == "__main__":
    raise SystemExit(main())
