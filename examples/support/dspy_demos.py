"""Python DSPy's in-process overhead with 4 demos (bench_dummy.py covers 0): DummyLM under
Predict and ChainOfThought, demos dq{j} -> da{j} as in examples/bench_overhead.rs.
usage: python dspy_demos.py [--calls 500] [--runs 5]   (run from ../shared/bench/dspy-py/bench)
"""
import argparse, os, statistics, sys, time
sys.path.insert(0, os.getcwd())  # run from ../shared/bench/dspy-py/bench, beside common.py
import common  # noqa: sets LITELLM_LOCAL_MODEL_COST_MAP
import dspy
from dspy.utils import DummyLM

ap = argparse.ArgumentParser(); ap.add_argument("--calls", type=int, default=500); ap.add_argument("--runs", type=int, default=5)
a = ap.parse_args()
common.disable_cache()
demos = [dspy.Example(question=f"dq{j}", answer=f"da{j}") for j in range(4)]

def bench(label, prog, fields):
    n = a.calls * a.runs + 20
    dspy.configure(lm=DummyLM([dict(fields, answer=f"a{i}") for i in range(n)]))
    prog.predictors()[0].demos = demos
    for i in range(10):
        prog(question=f"warm {i}")
    ts, k = [], 0
    for _ in range(a.runs):
        t0 = time.perf_counter()
        for _ in range(a.calls):
            k += 1
            prog(question=f"What is {k} + {k}?")
        ts.append(time.perf_counter() - t0)
    med = statistics.median(ts)
    print(f"[{label}] {a.calls} calls x {a.runs} runs: median {med/a.calls*1e6:.0f} us/call")

bench("DummyLM Predict 4 demos", dspy.Predict("question -> answer"), {})
bench("DummyLM ChainOfThought 4 demos", dspy.ChainOfThought("question -> answer"), {"reasoning": "r"})
