"""Python DSPy 3.4.1's side of tests/parity.rs: one rule's cases in, DSPy's answers out.

Reads {"op": ..., "cases": [...]} as JSON from stdin and writes a JSON list, one answer per case.
"""
import inspect
import json
import sys

import dspy


def messages(sig, adapter, demos, inputs):
    adapter = dspy.JSONAdapter() if adapter == "json" else dspy.ChatAdapter()
    return [{"role": m["role"], "content": m["content"]} for m in adapter.format(sig, demos, inputs)]


def cleandoc(case):
    return inspect.cleandoc(case)


def render(case):
    """The messages for a string signature with these instructions (a class's raw docstring)."""
    sig = dspy.Signature(case["signature"], case["instructions"])
    return {
        "instructions": sig.instructions,
        "messages": messages(sig, case.get("adapter", "chat"), case.get("demos", []), case["inputs"]),
    }


OPS = {"cleandoc": cleandoc, "render": render}

request = json.load(sys.stdin)
json.dump([OPS[request["op"]](case) for case in request["cases"]], sys.stdout, ensure_ascii=False)
