"""Python DSPy's side of examples/bench_llama_instruct.rs: the same BBC headline split (train,
val, dev), the task model and the prompt model served by two llama-servers, ChatAdapter,
temperature 0 on the task model: zero-shot, COPRO (breadth 4, depth 2), MIPROv2 zero-shot
(auto light) and GEPA (max_metric_calls, feedback naming the right topic), each scored on dev.
usage: python dspy_instruct_llama.py --task URL --prompt URL --data split.json [--threads 4]
       [--gepa-calls 200] [--only NAME]
"""
import argparse, json, os, sys, time
from typing import Literal
sys.path.insert(0, os.getcwd())  # run from ../shared/bench/dspy-py/bench, beside common.py
import common  # noqa: sets LITELLM_LOCAL_MODEL_COST_MAP
import dspy
from dspy.clients import base_lm
from dspy.teleprompt import COPRO, MIPROv2

ap = argparse.ArgumentParser()
ap.add_argument("--task", required=True); ap.add_argument("--prompt", required=True)
ap.add_argument("--data", required=True); ap.add_argument("--threads", type=int, default=4)
ap.add_argument("--gepa-calls", type=int, default=200); ap.add_argument("--only", default=None)
a = ap.parse_args()
common.disable_cache()
data = json.load(open(a.data))


class Classify(dspy.Signature):
    """Classify the topic of a BBC News headline."""
    headline: str = dspy.InputField()
    topic: Literal["business", "entertainment", "politics", "sports", "tech"] = dspy.OutputField()


def examples(rows):
    return [dspy.Example(headline=r["headline"], topic=r["topic"]).with_inputs("headline") for r in rows]


train, val, dev = examples(data["train"]), examples(data["val"]), examples(data["dev"])
task = dspy.LM("openai/qwen-0.5b", api_base=a.task, api_key="none", cache=False, temperature=0.0, max_tokens=32)
prompt = dspy.LM("openai/qwen-1.5b", api_base=a.prompt, api_key="none", cache=False, temperature=1.0, max_tokens=600)
dspy.configure(lm=task)
metric = lambda ex, pred, trace=None: getattr(pred, "topic", None) == ex.topic
metric_calls = []


def feedback(gold, pred, trace=None, pred_name=None, pred_trace=None):
    if pred_name is None:
        metric_calls.append(1)
    said = getattr(pred, "topic", None)
    if said == gold.topic:
        return dspy.Prediction(score=1.0, feedback=f"Correct: the topic is {gold.topic}.")
    return dspy.Prediction(score=0.0, feedback=f"Wrong: this headline's topic is {gold.topic}, not {said}.")


def calls(model):
    """LM calls to `model` so far: DSPy's global history holds every call, also those made
    through copies of an LM (MIPROv2's proposer calls a copy of the prompt model)."""
    return sum(1 for e in base_lm.GLOBAL_HISTORY if e.get("model") == model)


def run(name, compile_fn):
    if a.only and a.only.lower() != name.lower():
        return
    t0, p0 = calls(task.model), calls(prompt.model)
    metric_calls.clear()
    start = time.perf_counter()
    program = compile_fn()
    compile_s = time.perf_counter() - start
    task_calls, prompt_calls = calls(task.model) - t0, calls(prompt.model) - p0
    mc = len(metric_calls) if name == "GEPA" else "–"
    start = time.perf_counter()
    ev = dspy.Evaluate(devset=dev, metric=metric, num_threads=a.threads, display_progress=False,
                       display_table=False, max_errors=1000)
    score = ev(program).score
    eval_s = time.perf_counter() - start
    print(f"[dspy {name}] score {score / 100:.2f} task_calls {task_calls} prompt_calls {prompt_calls} "
          f"metric_calls {mc} compile_s {compile_s:.1f} eval_s {eval_s:.1f}", flush=True)
    print(f"  instruction {json.dumps(program.signature.instructions)}", flush=True)


run("zero-shot", lambda: dspy.Predict(Classify))
run("COPRO", lambda: COPRO(prompt_model=prompt, metric=metric, breadth=4, depth=2).compile(
    dspy.Predict(Classify), trainset=train,
    eval_kwargs={"num_threads": a.threads, "display_progress": False}))
run("MIPROv2", lambda: MIPROv2(metric=metric, auto="light", prompt_model=prompt, task_model=task,
                               max_bootstrapped_demos=0, max_labeled_demos=0, num_threads=a.threads).compile(
    dspy.Predict(Classify), trainset=train, valset=val))
run("GEPA", lambda: dspy.GEPA(metric=feedback, max_metric_calls=a.gepa_calls, reflection_lm=prompt,
                              num_threads=a.threads).compile(dspy.Predict(Classify), trainset=train, valset=val))
