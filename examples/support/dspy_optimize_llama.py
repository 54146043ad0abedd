"""Python DSPy's side of examples/bench_llama_optimize.rs: the same BBC headline split, the same
model served by llama-server, ChatAdapter, temperature 0: zero-shot, BootstrapFewShot and
BootstrapFewShotWithRandomSearch, each scored on the dev split.
usage: python dspy_optimize_llama.py --base http://127.0.0.1:PORT/v1 --data split.json [--threads 4] [--candidates 2]
"""
import argparse, json, os, sys, time
from typing import Literal
sys.path.insert(0, os.getcwd())  # run from ../shared/bench/dspy-py/bench, beside common.py
import common  # noqa: sets LITELLM_LOCAL_MODEL_COST_MAP
import dspy
from dspy.teleprompt import BootstrapFewShot, BootstrapFewShotWithRandomSearch

ap = argparse.ArgumentParser()
ap.add_argument("--base", required=True); ap.add_argument("--data", required=True)
ap.add_argument("--threads", type=int, default=4); ap.add_argument("--candidates", type=int, default=2)
a = ap.parse_args()
common.disable_cache()
data = json.load(open(a.data))

class Classify(dspy.Signature):
    """Classify the topic of a BBC News headline."""
    headline: str = dspy.InputField()
    topic: Literal["business", "entertainment", "politics", "sports", "tech"] = dspy.OutputField()

def examples(rows):
    return [dspy.Example(headline=r["headline"], topic=r["topic"]).with_inputs("headline") for r in rows]

train, dev = examples(data["train"]), examples(data["dev"])
lm = dspy.LM("openai/qwen", api_base=a.base, api_key="none", cache=False, temperature=0.0, max_tokens=32)
dspy.configure(lm=lm)
metric = lambda ex, pred, trace=None: getattr(pred, "topic", None) == ex.topic

def run(name, compile_fn):
    calls0 = len(lm.history)
    t0 = time.perf_counter()
    program = compile_fn()
    compile_s = time.perf_counter() - t0
    compile_calls = len(lm.history) - calls0
    t1 = time.perf_counter()
    ev = dspy.Evaluate(devset=dev, metric=metric, num_threads=a.threads, display_progress=False, display_table=False, max_errors=1000)
    score = ev(program).score
    eval_s = time.perf_counter() - t1
    print(f"[dspy {name}] score {score / 100:.2f} compile_calls {compile_calls} compile_s {compile_s:.1f} eval_s {eval_s:.1f}", flush=True)

run("zero-shot", lambda: dspy.Predict(Classify))
run("BootstrapFewShot", lambda: BootstrapFewShot(metric=metric).compile(dspy.Predict(Classify), trainset=train))
run("RandomSearch", lambda: BootstrapFewShotWithRandomSearch(metric=metric, num_candidate_programs=a.candidates, num_threads=a.threads).compile(dspy.Predict(Classify), trainset=train))
