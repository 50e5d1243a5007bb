"""Does `compare` cry wolf, and does it find a real slowdown? A/A and A/B pairs of processes.

    python bench/aa_ab.py [--backends jax,torch] [--pairs 20] [--processes 3] [--until 15:15]
                          [--slowdown wider|one-core] [--runs DIR] [--first-block N] [--pool N]
                          [--analyze] [--quick]

Per backend, each block runs the mlp with default settings (the several-process
defaults: `--min-seconds 5`, as `sweep` runs it) as three sides of --processes fresh
processes each, interleaved round by round as `sweep` interleaves its configurations:
A1 and A2 are the same configuration, B the same configuration made slower in a way the
harness cannot see: `wider` (the default) runs it through bench/wider_mlp.py, whose mlp has
hidden layers 640 wide instead of 512 (37% more multiply-adds, the same name, digest and
matched fields); `one-core` pins it to one core (`taskset -c 0`), which on this 2-core VM
turned out to be no slowdown for TensorFlow's and JAX's mlp (faster, by 1.43 and 1.13).
Each block keeps its slowdown's name in its folder (file `slowdown`). Then
`collect.py compare A1 A2` is an A/A pair (any significant mark is a false alarm, any
"slower" a gate failure) and `compare A1 B` an A/B pair (a significant "slower" is the
slowdown found). Blocks run backend after backend, so that stopping at --until (no new
block starts after it) leaves every backend with as many pairs as fit. Every process's
wall time and the load average it started under are kept; the raw result files stay in
--runs (default: a new folder under /tmp). Target: no A/A gate failure, at most alpha's
share of A/A pairs marked significant, and the slowdown found in most A/B pairs.
--analyze --pool N judges too what N times the processes a side would give: pairs of N
neighbouring blocks' processes pooled (the interleaving kept within each block).
"""
import datetime
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

import common
from harness import significance
from harness.collector import compare, compare_text

SIDES = ("a1", "a2", "b")
HARNESS = ([], ["-m", "harness"])  # sides A: (before python, after it)
# Side B's, by --slowdown.
SLOWDOWNS = {"wider": ([], [os.path.join(common.ROOT, "bench", "wider_mlp.py")]),
             "one-core": (["taskset", "-c", "0"], ["-m", "harness"])}
PER_PROCESS = ["--min-seconds", "5"]  # the several-process defaults (sweep, rerun)
# One machine label for the three sides: the pinned side would otherwise be a "1-core" instance.
INSTANCE = ["--instance", "aa_ab"]
QUICK = ["--steps-per-epoch", "5", "--epochs", "4", "--min-seconds", "0", "--warmup", "1"]
SIGNIFICANT = ("faster", "slower", "within factor")


def run_process(backend, side, folder, sizes, log, slowdown):
    """One `python -m harness mlp` process of `side` into `folder` (side b: slowed by
    `slowdown`); appends its wall time and the load it started under to the file `log`."""
    before, after = SLOWDOWNS[slowdown] if side == "b" else HARNESS
    command = before + [sys.executable] + after + ["mlp", "--backend", backend, "--out", folder]
    command += INSTANCE + sizes
    load, started = os.getloadavg(), time.time()
    proc = subprocess.run(command, cwd=common.ROOT, env=common.child_environment(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          universal_newlines=True)
    with open(log, "a") as f:
        f.write(json.dumps({"backend": backend, "side": side, "folder": folder,
                            "exit": proc.returncode, "seconds": time.time() - started,
                            "load_before": load, "stderr_tail": proc.stderr[-300:]}) + "\n")


def collect(args, sizes):
    """Run blocks, backend after backend, until --pairs blocks each or --until."""
    log = os.path.join(args.runs, "processes.jsonl")
    for block in range(args.first_block, args.first_block + args.pairs):
        for backend in args.backends:
            if args.until and time.time() > args.until:
                return
            base = os.path.join(args.runs, backend, "%03d" % block)
            for round_ in range(args.processes):
                order = SIDES[round_ % 3:] + SIDES[:round_ % 3]
                for side in order:
                    run_process(backend, side, os.path.join(base, side), sizes, log,
                                args.slowdown)
            with open(os.path.join(base, "complete"), "w") as done:
                done.write(args.slowdown)
            print("%s block %d done (load %.1f)" % (backend, block, os.getloadavg()[0]),
                  flush=True)


def judge(blocks, baseline, new):
    """compare's verdict on side `baseline` against side `new`, each the processes of that
    side in all of `blocks`: its one row's mark, p, ratio and interval, and the exit status."""
    with tempfile.TemporaryDirectory() as pooled:
        for side in (baseline, new):
            os.mkdir(os.path.join(pooled, side))
            for path in sum((glob.glob(os.path.join(b, side, "*.json")) for b in blocks), []):
                os.symlink(path, os.path.join(pooled, side, os.path.basename(path)))
        text, status, _ = compare_text.of_paths(os.path.join(pooled, baseline),
                                                os.path.join(pooled, new), output_format="json")
    (row,) = json.loads(text)["rows"]
    return {"mark": row["mark"], "p": row["p"], "ratio": row["ratio"],
            "ratio_interval": row.get("ratio_interval"), "exit": status}


def rates(groups):
    """The A/A and A/B (by slowdown) verdicts and rates of `groups`, each a list of blocks
    pooled into one pair."""
    same = [judge(group, "a1", "a2") for group in groups]
    slowed = {}
    for kind in sorted(set(slowdown_of(group[0]) for group in groups)):
        judged = [judge(group, "a1", "b") for group in groups if slowdown_of(group[0]) == kind]
        found = sum(one["mark"] == compare.SLOWER for one in judged)
        slowed[kind] = {"pairs": len(judged), "slower_found": found,
                        "power": found / float(len(judged)), "pairs_judged": judged,
                        "median_ratio": common.median([one["ratio"] for one in judged])}
    return {"pairs": len(groups), "aa": same, "ab": slowed,
            "aa_significant": sum(one["mark"] in SIGNIFICANT for one in same),
            "aa_gate_failures": sum(one["exit"] != 0 for one in same)}


def analyze(args):
    """Each backend's A/A pairs, its A/B pairs by slowdown, their rates, the time they cost;
    with --pool N, also pairs of N neighbouring blocks' processes pooled (N times the
    processes a side)."""
    processes = [json.loads(line) for line in open(os.path.join(args.runs, "processes.jsonl"))]
    configurations = []
    for backend in args.backends:
        blocks = sorted(os.path.dirname(path) for path in
                        glob.glob(os.path.join(args.runs, backend, "*", "complete")))
        mine = [p for p in processes if p["backend"] == backend
                and os.path.dirname(p["folder"]) in blocks]
        seconds = {side: [p["seconds"] for p in mine if p["side"] == side] for side in SIDES}
        result = dict(rates([[b] for b in blocks]), model="mlp", backend=backend,
                      processes_per_side=args.processes)
        pairs = result["pairs"]
        result.update(
            aa_significant_share=result["aa_significant"] / float(pairs) if pairs else None,
            pair_seconds={"aa": sum(seconds["a1"] + seconds["a2"]) / max(pairs, 1),
                          "ab": sum(seconds["a1"] + seconds["b"]) / max(pairs, 1)},
            process_seconds_median=common.median(sum(seconds.values(), [])) if mine else None,
            load_before_processes={"min": min(p["load_before"][0] for p in mine),
                                   "median": common.median([p["load_before"][0] for p in mine]),
                                   "max": max(p["load_before"][0] for p in mine)}
            if mine else None,
            failed_processes=sum(p["exit"] != 0 for p in mine))
        if args.pool > 1:
            # Neighbouring blocks of one slowdown, N at a time: what N times the processes a
            # side would give, the interleaving kept within each block.
            groups = []
            for kind in sorted(set(map(slowdown_of, blocks))):
                kept = [b for b in blocks if slowdown_of(b) == kind]
                groups += [kept[i:i + args.pool]
                           for i in range(0, len(kept) - args.pool + 1, args.pool)]
            result["pooled"] = dict(rates(groups), blocks_per_pair=args.pool,
                                    processes_per_side=args.pool * args.processes)
        wanted = result["ab"].get(args.slowdown)
        result["passed"] = bool(pairs) and result["aa_gate_failures"] == 0 \
            and result["aa_significant"] <= significance.ALPHA * pairs + 0.5 \
            and wanted is not None and wanted["slower_found"] > wanted["pairs"] / 2.0
        configurations.append(result)
        for label, one in [("", result)] + ([("pooled %d processes a side: " % (
                args.pool * args.processes), result["pooled"])] if args.pool > 1 else []):
            print("mlp on %s: %s%d A/A pairs, %d marked significant, %d gate failures"
                  % (backend, label, one["pairs"], one["aa_significant"],
                     one["aa_gate_failures"]))
            for kind, slowed in one["ab"].items():
                print("  A/B (%s): %d pairs, median ratio %.2f, slowdown found in %d"
                      % (kind, slowed["pairs"], slowed["median_ratio"], slowed["slower_found"]),
                      flush=True)
    return configurations


def slowdown_of(block):
    """The --slowdown a block's side B ran with."""
    with open(os.path.join(block, "complete")) as f:
        return f.read() or "one-core"  # its blocks came before --slowdown, and left it empty


def main():
    options = common.parser("aa_ab", __doc__.splitlines()[0])
    options.add_argument("--pairs", type=int, help="A/A and A/B pairs per backend at most "
                                                   "(default: 20; --quick: 1)")
    options.add_argument("--processes", type=int, default=3,
                         help="processes a side (default: 3, the sweep's)")
    options.add_argument("--until", help="HH:MM (UTC): start no block after it")
    options.add_argument("--runs", help="folder of the raw result files (default: a new one "
                                        "under /tmp)")
    options.add_argument("--first-block", type=int, default=0,
                         help="number the blocks from this one: a second bench at once into the "
                              "same --runs (default: 0)")
    options.add_argument("--slowdown", choices=sorted(SLOWDOWNS), default="wider",
                         help="how side B is slowed (default: wider)")
    options.add_argument("--pool", type=int, default=1,
                         help="also judge pairs of N neighbouring blocks pooled: N times the "
                              "processes a side (default: 1, none)")
    options.add_argument("--analyze", action="store_true",
                         help="only judge the pairs already in --runs")
    args = common.parse(options)
    args.pairs = args.pairs or (1 if args.quick else 20)
    if args.until:
        hours, minutes = (int(x) for x in args.until.split(":"))
        now = datetime.datetime.utcnow()
        args.until = time.time() + (now.replace(hour=hours, minute=minutes, second=0)
                                    - now).total_seconds()
    args.runs = args.runs or tempfile.mkdtemp(prefix="aa_ab-")
    if not args.analyze:
        collect(args, QUICK if args.quick else PER_PROCESS)
    configurations = analyze(args)
    return common.report(
        "aa_ab", args, "no A/A gate failure, at most %g of A/A pairs significant, the slowdown "
        "found in most A/B pairs" % significance.ALPHA,
        {"configurations": configurations, "runs": args.runs, "slowdown": args.slowdown,
         "per_process": PER_PROCESS}, all(c["passed"] for c in configurations))


if __name__ == "__main__":
    raise SystemExit(main())
