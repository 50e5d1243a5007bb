"""What measuring costs: the harness's steady-state speed against a plain Keras program's.

    python bench/overhead.py [--backends jax,torch] [--models mlp,cnn] [--pairs N]
                             [--max-pairs 30] [--resolution 0.02] [--step-hook]
                             [--timing step|epoch] [--quick]

For each workload (mlp and cnn by default) and Keras 3 backend (every installed
one), runs `python -m harness MODEL --backend B` and bench/plain_keras.py (the
same network, data, seed and epochs trained by one plain fit() call, timed per
epoch with time.perf_counter and no per-step hook) alternately, each in a fresh
process; the first of a pair alternates too, so that neither always runs on a
machine the other has just warmed. Each pair gives a ratio, harness over plain,
of their headline figures (the median of the measured epochs' samples/s, one
warm-up epoch excluded in both); the figure is the median of the ratios, with
its 95% interval: the distribution-free one of the sign test (order statistics
of the ratios; no assumption about their spread, and exact for any number of
pairs from 6 up). Target: a median of at least 0.98 (the harness costs at most
2% of the speed it reports).

How many pairs: enough to resolve 2%. Pairs of fresh processes scatter far
more than the cost to be measured (0.83 to 1.19 over 13 pairs of JAX's mlp on
the loaded 2-core VM, 0.97 to 1.09 over 5 less loaded), so a fixed count is
either too few for a noisy backend or wasted on a quiet one. Without --pairs,
each configuration runs pairs until the interval reaches no further than
--resolution (0.02) from the median on either side, from the 6 pairs the
sign test needs for a 95% interval up to --max-pairs (30). The JSON also gives
the ratios' robust spread (1.4826 x their median absolute deviation) and the
pairs that spread asks for: (1.96 x 1.2533 x spread / resolution)^2, the
large-sample width of a median's interval (1.2533 = sqrt(pi/2), the median's
standard error over the mean's).

What the harness adds is its per-step timing callback: Keras 3 runs batch
hooks synchronously and converts each step's logs to Python numbers for them,
so every step waits for its results on the host, where a plain fit() queues
the next step first; the harness's callback is async_safe, so Keras runs it in
a worker thread as it does a plain fit()'s own hooks. --step-hook says which
part a gap is: it adds a third program to every pair, plain_keras.py
--step-hook (an empty synchronous per-step hook), and reports hook/plain (what
Keras's handling of a synchronous per-step hook costs) and harness/hook.
"""
import math

import common

TARGET = 0.98
MODEL_STEPS = {"mlp": 200, "cnn": 25}  # cnn: fewer steps keep JAX's slow cnn within the time
QUICK_STEPS = 10
CONFIDENCE = 0.95
MIN_PAIRS = 6  # the fewest whose sign-test interval reaches 95% (1 - 2/2^6 = 0.969)
# The large-sample 95% interval of a median is +-1.96 x 1.2533 x sigma / sqrt(n).
Z_MEDIAN = 1.96 * math.sqrt(math.pi / 2)


def median_interval(values, confidence=CONFIDENCE):
    """The distribution-free interval of the median of `values` (the sign test's:
    the k-th smallest and k-th largest, k the largest whose coverage is still
    at least `confidence`), as (low, high, its exact coverage); None where there
    are too few values for that coverage."""
    ordered, n = sorted(values), len(values)
    found = None
    for k in range(1, n // 2 + 1):
        # P(fewer than k of n values below the median) on each side
        tail = sum(math.comb(n, i) for i in range(k)) / 2.0 ** n
        if 1 - 2 * tail < confidence:
            break
        found = (ordered[k - 1], ordered[n - k], 1 - 2 * tail)
    return found


def spread(values):
    """A robust standard deviation: 1.4826 times the median absolute deviation."""
    middle = common.median(values)
    return 1.4826 * common.median([abs(v - middle) for v in values])


def pairs_needed(ratios, resolution):
    """The pairs that the ratios' spread asks for, to resolve `resolution` (None: too few)."""
    if len(ratios) < 3:
        return None
    return max(MIN_PAIRS, int(math.ceil((Z_MEDIAN * spread(ratios) / resolution) ** 2)))


def resolved(ratios, resolution):
    """Whether the median's interval reaches no further than `resolution` from it."""
    interval = median_interval(ratios)
    middle = common.median(ratios)
    return interval is not None and max(middle - interval[0], interval[1] - middle) <= resolution


def measure_pairs(model, backend, steps, epochs, pairs, step_hook, timing=None,
                  resolution=None):
    """Rounds of the harness and the plain program (and the plain program with an empty
    step hook), each in a fresh process, in an order that rotates from round to round:
    `pairs` of them, or, where `pairs` is a range (min, max), until the median ratio is
    resolved to `resolution`. Their speeds, the ratios of each round, the median ratio
    and its interval. `timing` is the harness's --timing (None: its default; the plain
    program reads the clock at epoch ends only)."""
    sizes = ["--steps-per-epoch", steps, "--epochs", epochs, "--warmup", 1]
    # The plain program runs exactly these epochs: the harness too, no minimum time.
    harness_options = ["--min-seconds", 0] + (["--timing", timing] if timing else [])
    programs = ["harness", "plain"] + (["hook"] if step_hook else [])
    speeds = {program: [] for program in programs}
    fewest, most = pairs if isinstance(pairs, tuple) else (pairs, pairs)
    pair = 0
    while pair < most and (pair < fewest or not resolved(_ratios(speeds), resolution)):
        for program in programs[pair % len(programs):] + programs[:pair % len(programs)]:
            if program == "harness":
                record = common.run_harness([model, "--backend", backend] + sizes +
                                            harness_options)[0]
                speeds[program].append(record["metrics"]["throughput"]["median"])
            else:
                plain = common.run_python("bench/plain_keras.py", [model, backend] + sizes +
                                          (["--step-hook"] if program == "hook" else []))
                speeds[program].append(plain["median"])
        pair += 1
    result = {"model": model, "backend": backend, "steps_per_epoch": steps, "epochs": epochs,
              "warmup": 1, "pairs": pair, "timing": timing or "default"}
    result.update(("%s_samples_per_s" % program, values) for program, values in speeds.items())
    for numerator, denominator in (("harness", "plain"), ("hook", "plain"), ("harness", "hook")):
        if numerator in speeds and denominator in speeds:
            ratios = _ratios(speeds, numerator, denominator)
            result["%s_over_%s" % (numerator, denominator)] = ratios
            result["median_%s_over_%s" % (numerator, denominator)] = common.median(ratios)
    ratios = result["harness_over_plain"]
    interval = median_interval(ratios)
    result["interval_harness_over_plain"] = list(interval[:2]) if interval else None
    result["interval_coverage"] = interval[2] if interval else None
    result["spread_harness_over_plain"] = spread(ratios)
    result["resolution"] = resolution
    result["resolved"] = resolved(ratios, resolution) if resolution else None
    result["pairs_needed"] = pairs_needed(ratios, resolution) if resolution else None
    result["passed"] = result["median_harness_over_plain"] >= TARGET
    return result


def _ratios(speeds, numerator="harness", denominator="plain"):
    return [n / d for n, d in zip(speeds[numerator], speeds[denominator])]


def main():
    options = common.parser("overhead", __doc__.splitlines()[0])
    options.add_argument("--models", type=lambda text: text.split(","), default=["mlp", "cnn"],
                         help="comma-separated, of mlp and cnn (default: mlp,cnn)")
    options.add_argument("--pairs", type=int,
                         help="harness/plain pairs per configuration (default: until the median "
                              "is resolved, %d to --max-pairs; --quick: 1)" % MIN_PAIRS)
    options.add_argument("--max-pairs", type=int, default=30,
                         help="the most pairs per configuration without --pairs (default: 30)")
    options.add_argument("--resolution", type=float, default=0.02,
                         help="how far the median's 95%% interval may reach from it, either "
                              "side, for the median to count as resolved (default: 0.02)")
    options.add_argument("--epochs", type=int, help="measured epochs per run (default: 3; "
                                                    "--quick: 1)")
    options.add_argument("--timing", choices=("step", "epoch"),
                         help="the harness's --timing (default: its own, per step on the CPU)")
    options.add_argument("--step-hook", action="store_true",
                         help="also run plain Keras with an empty per-step hook, to split the cost")
    args = common.parse(options)
    pairs = args.pairs or (1 if args.quick else (MIN_PAIRS, max(MIN_PAIRS, args.max_pairs)))
    epochs = args.epochs or (1 if args.quick else 3)
    results = []
    for model in args.models:
        for backend in args.backends:
            steps = QUICK_STEPS if args.quick else MODEL_STEPS[model]
            result = measure_pairs(model, backend, steps, epochs, pairs, args.step_hook,
                                   args.timing, args.resolution)
            results.append(result)
            interval = result["interval_harness_over_plain"]
            print("%s on %s: harness/plain %.3f (median of %d pairs, 95%% interval %s; "
                  "spread %.3f asks for %s pairs; ratios %s)"
                  % (model, backend, result["median_harness_over_plain"], result["pairs"],
                     "%.3f to %.3f" % tuple(interval) if interval else "none: too few pairs",
                     result["spread_harness_over_plain"], result["pairs_needed"],
                     ", ".join("%.3f" % r for r in result["harness_over_plain"])), flush=True)
            if args.step_hook:
                print("    empty hook/plain %.3f, harness/empty hook %.3f"
                      % (result["median_hook_over_plain"], result["median_harness_over_hook"]),
                      flush=True)
    return common.report("overhead", args, "median harness/plain ratio >= %.2f" % TARGET,
                         {"configurations": results}, all(r["passed"] for r in results))


if __name__ == "__main__":
    raise SystemExit(main())
