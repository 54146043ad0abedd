"""GEPA (max_metric_calls=300) compile wall time and LM calls against mockserver.py, Python
DSPy's side of examples/bench_gepa.rs: the same 50-example trainset ("What is i + i?", also the
valset), the metric passing every 8th example, one LM as task and reflection LM, caching off.
usage: python bench_gepa.py SHARED_BENCH_DIR [--latency-ms 50] [--threads 16] [--calls 300]
"""
import argparse, logging, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("bench_dir"); ap.add_argument("--latency-ms", type=float, default=50)
ap.add_argument("--threads", type=int, default=16); ap.add_argument("--calls", type=int, default=300)
a = ap.parse_args()
sys.path.insert(0, a.bench_dir)
import common  # noqa: E402
import dspy  # noqa: E402

logging.disable(logging.WARNING)
common.disable_cache()
trainset = [dspy.Example(id=i, question=f"What is {i} + {i}?", answer=str(2 * i)).with_inputs("question") for i in range(50)]
sparse = lambda gold, pred, trace=None, pred_name=None, pred_trace=None: gold.id % 8 == 0
with common.Mock(a.latency_ms) as mock:
    lm = common.make_lm(mock.base, "auto")
    dspy.configure(lm=lm)
    dspy.Predict("question -> answer")(question="warm-up")
    mock.reset()
    t0 = time.perf_counter()
    calls = []
    def metric(gold, pred, trace=None, pred_name=None, pred_trace=None):
        if pred_name is None:
            calls.append(1)
        return sparse(gold, pred)
    dspy.GEPA(metric=metric, max_metric_calls=a.calls, reflection_lm=lm, num_threads=a.threads).compile(
        dspy.Predict("question -> answer"), trainset=trainset)
    dt = time.perf_counter() - t0
    print(f"[GEPA] 50-example trainset, latency={a.latency_ms:.0f}ms: wall {dt:.3f}s, metric calls {len(calls)}, LM calls {mock.stats()}")
