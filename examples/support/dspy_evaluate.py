"""dspy.Evaluate over N examples with T threads against a given OpenAI-compatible base URL
(bench_evaluate.py starts its own mockserver.py; this one takes the server the Rust side runs).
usage: python dspy_evaluate.py --base http://127.0.0.1:PORT/v1 [--n 10000] [--threads 512]
"""
import argparse, os, sys, time
sys.path.insert(0, os.getcwd())  # run from ../shared/bench/dspy-py/bench, beside common.py
import common  # noqa: sets LITELLM_LOCAL_MODEL_COST_MAP
import dspy

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True); ap.add_argument("--n", type=int, default=10000)
ap.add_argument("--threads", type=int, default=512)
a = ap.parse_args()
common.disable_cache()
dspy.configure(lm=common.make_lm(a.base))
devset = [dspy.Example(question=f"What is {i} + {i}?", answer=str(2 * i)).with_inputs("question") for i in range(a.n)]
metric = lambda ex, pred, trace=None: float(bool(pred.answer))
prog = dspy.Predict("question -> answer")
ev = dspy.Evaluate(devset=devset, metric=metric, num_threads=a.threads, display_progress=False, display_table=False)
ev(prog, devset=devset[:a.threads])  # warm-up
t0 = time.perf_counter()
res = ev(prog)
print(f"[dspy Evaluate] {a.n} examples, num_threads={a.threads}: wall {time.perf_counter() - t0:.3f}s score={res.score}")
