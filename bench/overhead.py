"""What measuring costs: the harness's steady-state speed against a plain Keras program's.

    python bench/overhead.py [--backends jax,torch] [--models mlp,cnn] [--pairs 5] [--step-hook]
                             [--timing step|epoch] [--quick]

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
target is that cost, reported as measured. --step-hook says which part it is:
it adds a third program to every pair, plain_keras.py --step-hook (an empty
per-step hook), and reports hook/plain (what Keras's handling of any per-step
hook costs) and harness/hook (what the harness's own work in its hook costs).
"""
import common

TARGET = 0.98
MODEL_STEPS = {"mlp": 200, "cnn": 25}  # cnn: fewer steps keep JAX's slow cnn within the time
QUICK_STEPS = 10


def measure_pairs(model, backend, steps, epochs, pairs, step_hook, timing=None):
    """`pairs` rounds of the harness and the plain program (and the plain program with an
    empty step hook), each in a fresh process, in an order that rotates from round to round;
    their speeds and the ratios of each round. `timing` is the harness's --timing (None:
    its default; the plain program reads the clock at epoch ends only)."""
    sizes = ["--steps-per-epoch", steps, "--epochs", epochs, "--warmup", 1]
    # The plain program runs exactly these epochs: the harness too, no minimum time.
    harness_options = ["--min-seconds", 0] + (["--timing", timing] if timing else [])
    programs = ["harness", "plain"] + (["hook"] if step_hook else [])
    speeds = {program: [] for program in programs}
    for pair in range(pairs):
        for program in programs[pair % len(programs):] + programs[:pair % len(programs)]:
            if program == "harness":
                record = common.run_harness([model, "--backend", backend] + sizes +
                                            harness_options)[0]
                speeds[program].append(record["metrics"]["throughput"]["median"])
            else:
                plain = common.run_python("bench/plain_keras.py", [model, backend] + sizes +
                                          (["--step-hook"] if program == "hook" else []))
                speeds[program].append(plain["median"])
    result = {"model": model, "backend": backend, "steps_per_epoch": steps, "epochs": epochs,
              "warmup": 1, "pairs": pairs, "timing": timing or "default"}
    result.update(("%s_samples_per_s" % program, values) for program, values in speeds.items())
    for numerator, denominator in (("harness", "plain"), ("hook", "plain"), ("harness", "hook")):
        if numerator in speeds and denominator in speeds:
            ratios = [n / d for n, d in zip(speeds[numerator], speeds[denominator])]
            result["%s_over_%s" % (numerator, denominator)] = ratios
            result["median_%s_over_%s" % (numerator, denominator)] = common.median(ratios)
    result["passed"] = result["median_harness_over_plain"] >= TARGET
    return result


def main():
    options = common.parser("overhead", __doc__.splitlines()[0])
    options.add_argument("--models", type=lambda text: text.split(","), default=["mlp", "cnn"],
                         help="comma-separated, of mlp and cnn (default: mlp,cnn)")
    options.add_argument("--pairs", type=int, help="harness/plain pairs per configuration "
                                                   "(default: 5; --quick: 1)")
    options.add_argument("--epochs", type=int, help="measured epochs per run (default: 3; "
                                                    "--quick: 1)")
    options.add_argument("--timing", choices=("step", "epoch"),
                         help="the harness's --timing (default: its own, per step on the CPU)")
    options.add_argument("--step-hook", action="store_true",
                         help="also run plain Keras with an empty per-step hook, to split the cost")
    args = common.parse(options)
    pairs = args.pairs or (1 if args.quick else 5)
    epochs = args.epochs or (1 if args.quick else 3)
    results = []
    for model in args.models:
        for backend in args.backends:
            steps = QUICK_STEPS if args.quick else MODEL_STEPS[model]
            result = measure_pairs(model, backend, steps, epochs, pairs, args.step_hook,
                                   args.timing)
            results.append(result)
            print("%s on %s: harness/plain %.3f (median of %d pairs; ratios %s)"
                  % (model, backend, result["median_harness_over_plain"], pairs,
                     ", ".join("%.3f" % r for r in result["harness_over_plain"])), flush=True)
            if args.step_hook:
                print("    empty hook/plain %.3f, harness/empty hook %.3f"
                      % (result["median_hook_over_plain"], result["median_harness_over_hook"]),
                      flush=True)
    return common.report("overhead", args, "median harness/plain ratio >= %.2f" % TARGET,
                         {"configurations": results}, all(r["passed"] for r in results))


if __name__ == "__main__":
    raise SystemExit(main())
