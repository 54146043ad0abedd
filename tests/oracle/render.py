"""Renders prompt cases with Python DSPy (the oracle for tests/dspy_oracle.rs).

Reads a JSON list of cases from stdin: {"signature", "instructions", "adapter", "demos", "inputs"};
writes a JSON list with the messages DSPy's adapter formats for each.
"""
import json
import sys

import dspy
from dspy.adapters.baml_adapter import BAMLAdapter

cases = json.load(sys.stdin)
out = []
for case in cases:
    sig = dspy.Signature(case["signature"], case["instructions"]) if case.get("instructions") else dspy.Signature(case["signature"])
    adapter = {"json": dspy.JSONAdapter, "xml": dspy.XMLAdapter, "baml": BAMLAdapter}.get(case["adapter"], dspy.ChatAdapter)()
    messages = adapter.format(sig, case["demos"], case["inputs"])
    out.append([{"role": m["role"], "content": m["content"]} for m in messages])
json.dump(out, sys.stdout, ensure_ascii=False)
