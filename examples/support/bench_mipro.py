"""MIPROv2 (auto="light") compile wall time and LM calls against mockserver.py, Python DSPy's
side of examples/bench_mipro.rs: the same 50-example trainset ("What is i + i?"), the metric
passing every 8th example, one LM as task and prompt model, caching off.
usage: python bench_mipro.py SHARED_BENCH_DIR [--latency-ms 50] [--threads 16]
"""
import argparse, logging, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("bench_dir"); ap.add_argument("--latency-ms", type=float, default=50)
ap.add_argument("--threads", type=int, default=16)
a = ap.parse_args()
sys.path.insert(0, a.bench_dir)
import common  # noqa: E402
import dspy  # noqa: E402
from dspy.teleprompt import MIPROv2  # noqa: E402

logging.disable(logging.WARNING)
common.disable_cache()
trainset = [dspy.Example(id=i, question=f"What is {i} + {i}?", answer=str(2 * i)).with_inputs("question") for i in range(50)]
sparse = lambda ex, pred, trace=None: ex.id % 8 == 0
with common.Mock(a.latency_ms) as mock:
    lm = common.make_lm(mock.base, "auto")
    dspy.configure(lm=lm)
    dspy.Predict("question -> answer")(question="warm-up")
    mock.reset()
    t0 = time.perf_counter()
    MIPROv2(metric=sparse, auto="light", num_threads=a.threads, prompt_model=lm, task_model=lm).compile(
        dspy.Predict("question -> answer"), trainset=trainset)
    dt = time.perf_counter() - t0
    print(f"[MIPROv2 light] 50-example trainset, latency={a.latency_ms:.0f}ms: wall {dt:.3f}s, LM calls {mock.stats()}")
