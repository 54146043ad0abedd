import contextlib
"""Python DSPy 3.4.1's side of tests/parity.rs: one rule's cases in, DSPy's answers out.

Reads {"op": ..., "cases": [...]} as JSON from stdin and writes a JSON list, one answer per case.
"""
import inspect
import json
import sys
from typing import Literal, Optional

import dspy
import pydantic


def messages(sig, adapter, demos, inputs):
    adapter = {"json": dspy.JSONAdapter, "xml": dspy.XMLAdapter}.get(adapter, dspy.ChatAdapter)()
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


class Address(pydantic.BaseModel):
    city: str
    zip: Optional[str] = None


class Pin(pydantic.BaseModel):
    zone: str
    at: int


class Person(pydantic.BaseModel):
    name: str
    age: Optional[int] = None
    nick: str = "x"
    count: int = 3
    ratio: float = 0.5
    home: Optional[Address] = None
    work: Address = pydantic.Field(description="Where they work.")
    friends: list[Address]
    pin: Pin = Pin(zone="z", at=1)
    tags: list[str] = []


class Profile(dspy.Signature):
    """Profile the text."""

    text: str = dspy.InputField()
    person: Person = dspy.OutputField()
    spouse: Optional[Person] = dspy.OutputField()
    address: Address = dspy.OutputField()
    n: Optional[int] = dspy.OutputField()


def schema(case):
    """Profile's messages with either adapter, and JSONAdapter's structured-output schema."""
    from dspy.adapters.json_adapter import _get_structured_outputs_response_format

    sig = {"Profile": Profile}[case["signature"]]
    return {
        "chat": messages(sig, "chat", [], case["inputs"]),
        "json": messages(sig, "json", [], case["inputs"]),
        "xml": messages(sig, "xml", [], case["inputs"]),
        "response_format": _get_structured_outputs_response_format(sig).model_json_schema(),
    }


def parse(case):
    """DSPy's parse of a reply, and the messages with the parsed outputs as a demo."""
    sig = dspy.Signature(case["signature"])
    adapter = dspy.JSONAdapter() if case["adapter"] == "json" else dspy.ChatAdapter()
    try:
        fields = adapter.parse(sig, case["completion"])
    except Exception as e:  # noqa: BLE001 - any parse failure is the answer
        return {"error": f"{type(e).__name__}: {e}"}
    demo = {**case["inputs"], **fields}
    return {"fields": fields, "messages": messages(sig, case["adapter"], [demo], case["inputs"])}


class Two(dspy.Module):
    def __init__(self):
        super().__init__()
        self.think = dspy.ChainOfThought("question -> answer")
        self.label = dspy.Predict("text -> topic: Literal['sport', 'tech']")


def saved_program(case):
    """Saves Two with the case's demos (extra keys and all) to case["path"], loads the file into
    a fresh Two, and renders each predictor for case["inputs"]."""
    program = Two()
    for name, pred in program.named_predictors():
        pred.demos = [dspy.Example(**d) for d in case["demos"][name]]
    program.save(case["path"])
    loaded = Two()
    loaded.load(case["path"])
    return {
        name: messages(pred.signature, "chat", pred.demos, case["inputs"][name])
        for name, pred in loaded.named_predictors()
    }


def proposer(case):
    """Renders one of the optimizers' own proposer signatures, by its DSPy name (with the
    instruction generator's flags for GenerateSingleModuleInstruction)."""
    from dspy.propose import dataset_summary_generator, grounded_proposer
    from dspy.teleprompt import copro_optimizer, simba_utils

    name = case["signature"]
    if name == "GenerateSingleModuleInstruction":
        sig = grounded_proposer.generate_instruction_class(**case["flags"]).signature
    else:
        modules = (copro_optimizer, grounded_proposer, dataset_summary_generator, simba_utils)
        sig = next(getattr(m, name) for m in modules if hasattr(m, name))
    return messages(sig, "chat", [], case["inputs"])


def reflection(case):
    """GEPA's default reflection prompt (InstructionProposer's ProposeInstruction, JSON adapter)."""
    from dspy.teleprompt.gepa.instruction_proposal import ProposeInstruction

    return messages(ProposeInstruction, "json", [], case["inputs"])


def weather(city: str, days: int = 3) -> str:
    """Looks up the weather."""


def search(query: str, k: int, tags: list[str], exact: bool = False) -> list[str]:
    """Searches the notes."""


def mean(xs: list[float], weights: Optional[list[float]] = None) -> float:
    """Weighted mean."""


def now() -> str:
    """The time."""


TOOLS = {"weather": weather, "search": search, "mean": mean, "now": now}


def tool(case):
    """A tool as ReAct lists it (`str(Tool)`) and as native tool calling sends it."""
    t = dspy.Tool(TOOLS[case["name"]], arg_desc=case.get("arg_desc"))
    return {"str": str(t), "openai": t.format_as_litellm_function_call()}


class Research(dspy.Signature):
    """Answer the question from the notes.

    Cite the notes you used."""

    question: str = dspy.InputField()
    context: list[str] = dspy.InputField(desc="notes found so far")
    answer: str = dspy.OutputField(desc="a short answer")
    confidence: float = dspy.OutputField()


def react(case):
    """ReAct's step and extraction prompts after a trajectory (its own formatting of it)."""
    tools = [dspy.Tool(TOOLS[n], arg_desc={"city": "The city."} if n == "weather" else None) for n in case["tools"]]
    agent = dspy.ReAct(Research, tools=tools)
    trajectory = {}
    for i, step in enumerate(case["steps"]):
        for key in ("thought", "tool_name", "tool_args", "observation"):
            trajectory[f"{key}_{i}"] = step[key]
    adapter = dspy.JSONAdapter() if case["adapter"] == "json" else dspy.ChatAdapter()
    with dspy.context(adapter=adapter):
        inputs = {**case["inputs"], "trajectory": agent._format_trajectory(trajectory)}
    return {
        "react": messages(agent.react.signature, case["adapter"], [], inputs),
        "extract": messages(agent.extract.predict.signature, case["adapter"], [], inputs),
        "paths": [name for name, _ in agent.named_predictors()],
    }


def refine(case):
    """Every request of a Refine run (attempt, advice, hinted attempt) and the reply given."""
    from dspy.clients import base_lm
    from dspy.utils import DummyLM

    # The attempts' copies of the LM and the original share one list of answers, given out in
    # call order.
    lm = DummyLM(case["answers"])
    qa = dspy.ChainOfThought(case["signature"])

    def reward(args, pred):
        return 1.0 if len(pred.answer.split()) == 1 else 0.0

    r = dspy.Refine(module=qa, N=case["n"], reward_fn=reward, threshold=1.0)
    r.module_code = case["program_code"]
    r.reward_fn_code = case["reward_code"]
    base_lm.GLOBAL_HISTORY.clear()
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()), contextlib.redirect_stdout(sys.stderr):
        r(**case["inputs"])
    return [
        {"messages": [{"role": m["role"], "content": m["content"]} for m in e["messages"]], "output": e["outputs"][0]}
        for e in base_lm.GLOBAL_HISTORY
    ]


def multi_chain(case):
    """MultiChainComparison's request for some completions, and the reply given."""
    from dspy.clients import base_lm
    from dspy.utils import DummyLM

    lm = DummyLM([case["answer"]])
    mcc = dspy.MultiChainComparison(case["signature"], M=len(case["completions"]))
    base_lm.GLOBAL_HISTORY.clear()
    with dspy.context(lm=lm, adapter=dspy.ChatAdapter()):
        pred = mcc(case["completions"], **case["inputs"])
    e = base_lm.GLOBAL_HISTORY[0]
    return {
        "messages": [{"role": m["role"], "content": m["content"]} for m in e["messages"]],
        "output": e["outputs"][0],
        "temperature": e["kwargs"].get("temperature"),
        "prediction": dict(pred),
    }


class PatientAddress(pydantic.BaseModel):
    """Where the patient lives."""

    street: str
    city: str
    country: Literal["US", "CA"]


class Visit(pydantic.BaseModel):
    day: str = pydantic.Field(description="ISO date.")
    cost: float


class PatientDetails(pydantic.BaseModel):
    """A patient.
    As the note describes them."""

    name: str = pydantic.Field(description="Full name of the patient.")
    age: int
    address: Optional[PatientAddress]
    visits: list[Visit]
    codes: dict[str, int]


class ExtractPatient(dspy.Signature):
    """Extract patient information from the clinical note."""

    clinical_note: str = dspy.InputField()
    previous: Visit = dspy.InputField()
    patient: PatientDetails = dspy.OutputField()
    flags: list[str] = dspy.OutputField()


def baml(case):
    """BAMLAdapter's messages for a signature with nested models (used once each: DSPy's
    BAMLAdapter takes a model met twice for a recursive one and refuses it)."""
    from dspy.adapters.baml_adapter import BAMLAdapter

    sig = {"ExtractPatient": ExtractPatient}[case["signature"]]
    inputs = dict(case["inputs"])
    inputs["previous"] = Visit(**inputs["previous"])
    msgs = BAMLAdapter().format(sig, case.get("demos", []), inputs)
    return [{"role": m["role"], "content": m["content"]} for m in msgs]


class ChatTurn(dspy.Signature):
    """Answer questions."""

    question: str = dspy.InputField()
    history: dspy.History = dspy.InputField()
    answer: str = dspy.OutputField()
    n: int = dspy.OutputField()


def history(case):
    """A History input written as turns, with each adapter."""
    inputs = dict(case["inputs"])
    if "history" in inputs:
        inputs["history"] = dspy.History(messages=inputs["history"]["messages"])
    return {a: messages(ChatTurn, a, case["demos"], inputs) for a in ("chat", "json", "xml")}


class Think(dspy.Signature):
    """Think, then answer."""

    question: str = dspy.InputField()
    reasoning: dspy.Reasoning = dspy.OutputField()
    answer: str = dspy.OutputField()


def reasoning(case):
    """A dspy.Reasoning output on a model without native reasoning: a text field."""
    return {a: messages(Think, a, case["demos"], case["inputs"]) for a in ("chat", "json", "xml")}


def two_step(case):
    """A TwoStepAdapter call: the main LM's request and reply, then the extraction LM's."""
    from dspy.clients import base_lm
    from dspy.utils import DummyLM

    sig = dspy.Signature(case["signature"], case["instructions"])
    p = dspy.Predict(sig)
    p.demos = case["demos"]
    base_lm.GLOBAL_HISTORY.clear()
    adapter = dspy.TwoStepAdapter(DummyLM(case["extraction"]))
    with dspy.context(lm=DummyLM(case["main"]), adapter=adapter):
        pred = p(**case["inputs"])
    return {
        "calls": [
            {"messages": [{"role": m["role"], "content": m["content"]} for m in e["messages"]], "output": e["outputs"][0]}
            for e in base_lm.GLOBAL_HISTORY
        ],
        "prediction": dict(pred),
    }


class Describe(dspy.Signature):
    """Describe the picture."""

    photo: dspy.Image = dspy.InputField(desc="A photo")
    clip: dspy.Audio = dspy.InputField()
    doc: dspy.File = dspy.InputField()
    caption: str = dspy.OutputField()


class Album(dspy.Signature):
    photos: list[dspy.Image] = dspy.InputField()
    cover: dspy.Image = dspy.InputField()
    caption: str = dspy.OutputField()


def media(case):
    """Image, Audio and File inputs read from files and given as URLs, with each adapter: the
    messages with their content parts."""
    d = case["dir"]
    inputs = {
        "photo": dspy.Image.from_path(f"{d}/dot.png"),
        "clip": dspy.Audio.from_path(f"{d}/tone.wav"),
        "doc": dspy.File.from_path(f"{d}/note.pdf"),
    }
    album_demo = {"photos": [dspy.Image(u) for u in case["photos"]], "cover": dspy.Image(case["cover"]), "caption": "c"}
    album = {"photos": [dspy.Image(case["photos"][0])], "cover": dspy.Image.from_path(f"{d}/dot.png")}
    out = {a: messages(Describe, a, [], inputs) for a in ("chat", "json", "xml")}
    out["album"] = messages(Album, "chat", [album_demo], album)
    return out


def pot(case):
    """ProgramOfThought's three steps, formatted with ChatAdapter for these inputs."""
    import warnings

    warnings.simplefilter("ignore")
    p = dspy.ProgramOfThought(case["signature"])
    steps = {
        "generate": (p.code_generate, {}),
        "regenerate": (p.code_regenerate, {"previous_code": case["previous_code"], "error": case["error"]}),
        "answer": (p.generate_output, {"final_generated_code": case["final_code"], "code_output": case["code_output"]}),
    }
    out = {}
    for name, (cot, extra) in steps.items():
        inputs = dict(case["inputs"], **extra)
        out[name] = messages(cot.predict.signature, "chat", [], inputs)
        out[name + "_paths"] = [n for n, _ in p.named_predictors()]
    return out


def rlm(case):
    """RLM's action request at each iteration and its extraction request after the history,
    formatted with ChatAdapter, on a runtime that describes itself as ours does."""
    import warnings

    warnings.simplefilter("ignore")
    from dspy.primitives.repl_types import REPLHistory

    class Runtime:
        execution_instructions = case["execution_instructions"]

        def __call__(self):
            raise RuntimeError("the oracle runs no code")

    sig = dspy.Signature(case["signature"], case["instructions"])
    r = dspy.RLM(sig, max_iters=case["max_iters"], max_llm_calls=case["max_llm_calls"],
                 max_output_chars=case["max_output_chars"], tools=[TOOLS[n] for n in case["tools"]])
    # Our sandbox has no in-REPL dspy facade: DSPy drops the sub-agent rules when a runtime
    # cannot host it.
    action = r._action_signature_for_current_factory(Runtime(), "")
    variables = [v.format() for v in r._build_variables(**case["inputs"])]
    history = REPLHistory(max_output_chars=case["max_output_chars"])
    steps = []
    for i, entry in enumerate(case["entries"] + [None]):
        inputs = {"variables_info": variables, "repl_history": history, "iteration": f"{i + 1}/{case['max_iters']}"}
        steps.append(messages(action, "chat", [], inputs))
        if entry is not None:
            history = history.append(**entry)
    return {
        "steps": steps,
        "extract": messages(r.extract.signature, "chat", [], {"variables_info": variables, "repl_history": history}),
        "paths": [n for n, _ in r.named_predictors()],
    }


def code_act(case):
    """CodeAct's step prompt after each trajectory (given as the dict DSPy passes) and its
    extraction prompt (the trajectory formatted as ReAct formats it)."""
    import warnings

    warnings.simplefilter("ignore")
    sig = dspy.Signature(case["signature"], case["instructions"])
    tools = [dspy.Tool(TOOLS[n], arg_desc={"city": "The city."} if n == "weather" else None) for n in case["tools"]]
    agent = dspy.CodeAct(sig, tools=tools)
    return {
        "steps": [messages(agent.codeact.signature, "chat", [], {**case["inputs"], "trajectory": t}) for t in case["trajectories"]],
        "extract": messages(agent.extractor.predict.signature, "chat", [],
                            {**case["inputs"], "trajectory": agent._format_trajectory(case["trajectory"])}),
        "paths": [n for n, _ in agent.named_predictors()],
    }


OPS = {"code_act": code_act, "rlm": rlm, "pot": pot, "media": media, "two_step": two_step, "reasoning": reasoning, "history": history, "baml": baml, "multi_chain": multi_chain, "refine": refine, "react": react, "tool": tool, "proposer": proposer, "reflection": reflection, "cleandoc": cleandoc, "render": render, "schema": schema, "parse": parse, "saved_program": saved_program}

request = json.load(sys.stdin)
json.dump([OPS[request["op"]](case) for case in request["cases"]], sys.stdout, ensure_ascii=False)
