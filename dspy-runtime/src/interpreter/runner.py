# The sandboxed side of dspy's Python interpreter (dspy_runtime::interpreter): runs code sent by
# the host, one execution at a time, in one namespace kept between executions. Started by the
# host inside the sandbox (Landlock, seccomp and rlimits are already in force); nothing here is
# a security boundary. Protocol: one JSON object per line, on the descriptors the host passed as
# stdin and stdout, which are moved out of the code's reach first.
import ast
import io
import json
import os
import resource
import sys
import traceback

_proto_in = os.fdopen(os.dup(0), "r", encoding="utf-8", newline="\n")
_proto_out = os.fdopen(os.dup(1), "w", encoding="utf-8", newline="\n")
_null = os.open(os.devnull, os.O_RDWR)
for _fd in (0, 1, 2):
    os.dup2(_null, _fd)
del _fd


# The longest line the host reads (its MAX_LINE), less room for the envelope.
_MAX_LINE = (16 << 20) - 4096


def _line(msg):
    # No NaN or infinity (not JSON: the host would reject the line); lone surrogates (which
    # UTF-8 cannot carry) become "?".
    line = json.dumps(msg, ensure_ascii=False, default=repr, allow_nan=False)
    return line.encode("utf-8", "replace").decode("utf-8")


def _send(msg, line=None):
    _proto_out.write((line if line is not None else _line(msg)) + "\n")
    _proto_out.flush()


def _receive():
    line = _proto_in.readline()
    if not line:
        os._exit(0)
    return json.loads(line)


class _OutputLimit(BaseException):
    """The code printed more than the execution's output limit."""


class _Output(io.TextIOBase):
    """Captures what the code prints, up to a limit; past it, the execution stops."""

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.size = 0
        self.over = False

    def writable(self):
        return True

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError("write() argument must be str, not " + type(s).__name__)
        if self.over:
            raise _OutputLimit()
        room = self.limit - self.size
        if len(s) > room:
            self.parts.append(s[: max(room, 0)])
            self.size = self.limit
            self.over = True
            raise _OutputLimit()
        self.parts.append(s)
        self.size += len(s)
        return len(s)

    def text(self):
        return "".join(self.parts)


class _Submit(BaseException):
    """SUBMIT(...) was called: the execution ends with these outputs."""

    def __init__(self, fields):
        self.fields = fields


class HostError(Exception):
    """A host function failed; its message says why."""


def _host_call(name, args):
    msg = {"op": "call", "name": name, "args": args}
    try:
        line = _line(msg)
    except ValueError as e:
        raise HostError(f"{name}() got arguments JSON cannot carry: {e}") from None
    if len(line.encode("utf-8")) > _MAX_LINE:
        raise HostError(f"{name}() got arguments of {len(line)} characters; at most 16 MB can be sent")
    _send(msg, line)
    reply = _receive()
    if reply.get("op") == "return":
        return reply.get("value")
    raise HostError(reply.get("message", "the host function failed"))


def _make_host_function(name, params, doc):
    def call(*args, **kwargs):
        if len(args) > len(params):
            raise TypeError(f"{name}() takes {len(params)} positional arguments but {len(args)} were given")
        named = dict(zip(params, args))
        for k in kwargs:
            if k in named:
                raise TypeError(f"{name}() got multiple values for argument '{k}'")
        named.update(kwargs)
        return _host_call(name, named)

    call.__name__ = name
    call.__doc__ = doc
    return call


def SUBMIT(*args, **kwargs):
    """Ends the run with its outputs: SUBMIT(answer=...) or SUBMIT(value) for one output."""
    if args and kwargs:
        raise TypeError("SUBMIT takes its outputs by name, or one value")
    if len(args) > 1:
        raise TypeError("SUBMIT takes one positional value")
    raise _Submit(kwargs if kwargs else {"output": args[0] if args else None})


_globals = {"__name__": "__main__", "__builtins__": __builtins__, "SUBMIT": SUBMIT, "HostError": HostError}


def _cut(s, limit):
    return s if len(s) <= limit else s[:limit] + f"... ({len(s)} characters in all)"


def _json_value(v, limit):
    """The value as JSON, or its repr; either cut to `limit` characters."""
    try:
        if len(json.dumps(v, allow_nan=False)) <= limit:
            return {"json": v}
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        text = repr(v)
    except BaseException:  # noqa: BLE001 - a repr that fails
        text = f"<{type(v).__name__} object>"
    return {"repr": _cut(text, limit)}


def _arm_cpu(seconds):
    """Lets this execution use `seconds` more CPU time (the process's soft limit); past the hard
    limit nothing is granted."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(used.ru_utime + used.ru_stime) + seconds + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _run(code, limit, cpu):
    if cpu:
        _arm_cpu(cpu)
    out = _Output(limit)
    sys.stdout = sys.stderr = out
    result = {"op": "done", "stdout": "", "value": None, "error": None, "submitted": None}
    try:
        tree = ast.parse(code, "<code>", "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<code>", "exec"), _globals)
        if last is not None:
            value = eval(compile(last, "<code>", "eval"), _globals)
            if value is not None:
                result["value"] = _json_value(value, limit)
    except _Submit as s:
        # Each output on its own, so one that is too long or not JSON does not hide the others.
        result["submitted"] = {str(k): _json_value(v, limit) for k, v in s.fields.items()}
    except _OutputLimit:
        result["error"] = {"type": "OutputLimit", "message": f"printed more than {limit} characters"}
    except SyntaxError as e:
        result["error"] = {
            "type": "SyntaxError",
            "message": _cut(f"{e.msg} (line {e.lineno})", limit),
            "traceback": _cut("".join(traceback.format_exception_only(type(e), e)), limit),
        }
    except BaseException as e:  # noqa: BLE001 - every failure of the code is reported
        tb = traceback.format_exception(type(e), e, e.__traceback__)
        # Drop the runner's own frame.
        try:
            message = str(e)
        except BaseException:  # noqa: BLE001 - a __str__ that fails
            message = f"<{type(e).__name__}>"
        result["error"] = {
            "type": type(e).__name__,
            "message": _cut(message, limit),
            "traceback": _cut("".join(tb[:1] + tb[2:]) if len(tb) > 2 else "".join(tb), limit),
        }
    finally:
        sys.stdout = sys.stderr = io.StringIO()
    if out.over and result["error"] is None:
        result["error"] = {"type": "OutputLimit", "message": f"printed more than {limit} characters"}
    result["stdout"] = out.text()
    return result


_send({"op": "ready", "python": sys.version.split()[0]})
while True:
    msg = _receive()
    op = msg.get("op")
    if op == "exec":
        _send(_run(msg.get("code", ""), int(msg.get("max_output", 100000)), int(msg.get("cpu", 0))))
    elif op == "define":
        for f in msg.get("functions", []):
            _globals[f["name"]] = _make_host_function(f["name"], f.get("params", []), f.get("doc", ""))
        _send({"op": "defined"})
    elif op == "set":
        _globals.update(msg.get("values", {}))
        _send({"op": "defined"})
    else:
        _send({"op": "error", "message": f"unknown op {op!r}"})
