"""Hostile and random ``%%nk`` specs: nothing runs, nothing crashes, every error is located.

10,000 inputs from a fixed seed: mutations of valid specs, random grammar-shaped
specs, random characters and bytes, and hand-written attacks (imports, dunder
walks, lambdas, exec/eval/open, huge numbers, deep nesting, non-UTF-8, NUL).
Each must either parse into a :class:`Spec` or raise :class:`SpecError` with a
line and column inside the text. A Python audit hook watches for code being
executed, processes started, files written or sockets opened while parsing; a
sentinel file and a sentinel builtin catch payloads that would act.
"""

from __future__ import annotations

import ast
import builtins
import random
import sys
import time
from pathlib import Path

import pytest

from nkwidgets.spec import (
    FUNCTION_NAMES,
    MAX_SPEC_CHARS,
    Spec,
    SpecError,
    _layer_registry,
    parse,
)

N_INPUTS = 10_000
SEED = 20240610
SPEC_PACKAGE = Path(__file__).resolve().parents[1] / "nkwidgets" / "_spec"

VALID = [
    "net = serial(Dense(512, W_std=1.5, b_std=0.05), Relu(), Dense(10))\n"
    "data = digits(train=100, test=50)\ncompute = nngp, ntk\n"
    "predict = gradient_descent_mse(t=[1, 10, inf], diag_reg=1e-4)\n",
    "net = serial(Conv(8, (3, 3), padding='SAME'), Erf(), GlobalAvgPool(), Dense(10))\n"
    "data = digits(train=20, test=10, images=True)\ndtype = float64\nblock_size = 10\n",
    "net = serial(FanOut(2), parallel(Dense(64), serial(Dense(64), Relu())), FanInSum(), Dense(1))\n"
    "compute = ntk\ncache = 'nk-cache'\nbudget = \"8GB\"\ndevices = 1\n",
    "net = serial(Dense(32), ElementwiseNumerical(tanh, deg=9), repeat(serial(Dense(32), Relu()), 3))\n",
    "net = serial(Dense(8, parameterization='standard'), LeakyRelu(0.1), Dropout(0.5), Dense(1))\n",
]

#: Payloads that would act if anything evaluated them. Each writes the sentinel
#: file or sets the sentinel builtin.
ATTACKS = [
    "__import__('os').system('touch {sentinel}')",
    "open('{sentinel}', 'w').write('x')",
    "exec(\"open('{sentinel}', 'w')\")",
    "eval(\"__import__('builtins').__setattr__('NK_PWNED', 1)\")",
    "().__class__.__bases__[0].__subclasses__()",
    "Dense.__globals__['__builtins__']['exec']('import os')",
    "(lambda: __import__('builtins').__setattr__('NK_PWNED', 1))()",
    "[x for x in ().__class__.__mro__[1].__subclasses__()]",
    "Dense(10).__class__",
    "getattr(__builtins__, 'exec')('NK_PWNED = 1')",
    "compile('1', 'x', 'exec')",
    "globals()['NK_PWNED']",
    "vars()",
    "breakpoint()",
    "input()",
    "f\"{{__import__('os').system('touch {sentinel}')}}\"",
    "(NK := 1)",
    "Dense(*[10])",
    "Dense(**{{'out_dim': 10}})",
    "9**9**9**9",
    "'a' * 10**9",
    "1e999999",
    "10" * 3000,
    "-" * 5000 + "1",
    "(" * 300 + "1" + ")" * 300,
    "[" * 40 + "]" * 40,
    "serial(" * 60 + "Relu()" + ")" * 60,
    "Dense(10) if True else Relu()",
    "Dense(10) + Relu()",
    "b'bytes'",
    "1j",
    "...",
    "{{1: 2}}",
    "{{1, 2}}",
    "yield 1",
    "await x",
    "Dense(10)[0]",
    "x.y.z",
    "Dense",
    "__builtins__",
    "__import__",
    "nkwidgets.stax.Dense(1)",
    # Slice[...] is the one subscript a spec may write: its entries are read, never run.
    "Index(Slice[__import__('os').system('touch {sentinel}')])",
    "Index(Slice[open('{sentinel}', 'w'):])",
    "Index(Slice[::exec('NK_PWNED = 1')])",
    "Index(Slice[(lambda: 0)(), ...])",
    "Index(Slice[().__class__])",
    "Index(Slice[Slice[0]])",
    "Slice[0]",
    "Slice.__getitem__(0)",
]

STATEMENT_ATTACKS = [
    "import os",
    "from os import system",
    "import os; os.system('touch {sentinel}')",
    "del net",
    "net += Dense(1)",
    "net: int = 3",
    "def f(): pass",
    "class A: pass",
    "@decorator\ndef f(): pass",
    "with open('{sentinel}', 'w'): pass",
    "for i in range(10**9): pass",
    "while True: pass",
    "try:\n    pass\nexcept: pass",
    "global net",
    "assert False",
    "raise SystemExit",
    "lambda: 0",
    "net = data = Dense(1)",
    "net, data = Dense(1), digits()",
    "net.x = 1",
    "async def f(): pass",
    "print('hi')",
    "exit()",
]

HOSTILE_TEXT = [
    "\x00",
    "\ud800",
    "\udcff\udcfe",
    "\u202e",
    "\ufeff",
    "é",
    "\U0001f600",
    "\t",
    "\r",
    "\\",
    "'",
    '"""',
    "#",
    "%%nk",
]


class _Watch:
    """Audit events that mean "something ran", recorded while ``active``."""

    FORBIDDEN_PREFIXES = (
        "exec",
        "os.system",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "os.fork",
        "os.remove",
        "os.rename",
        "os.mkdir",
        "subprocess.",
        "socket.",
        "shutil.",
        "ctypes.",
        "builtins.input",
        "import",
        "code.__new__",
        "function.__new__",
        "object.__setattr__",
    )

    def __init__(self):
        self.active = False
        self.events: list[tuple[str, str]] = []

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            mode = args[1] if len(args) > 1 else "r"
            if isinstance(mode, str) and any(c in mode for c in "wax+"):
                self.events.append((event, repr(args)[:200]))
            return
        if event.startswith(self.FORBIDDEN_PREFIXES):
            self.events.append((event, repr(args)[:200]))


_WATCH = _Watch()
sys.addaudithook(_WATCH)


def _random_literal(rng: random.Random, depth: int = 0) -> str:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return str(rng.choice([0, 1, 2, 3, 10, 64, 512, -1, 2**31, 2**31 + 1, 10**12]))
    if kind == 1:
        return repr(
            rng.choice([0.0, 0.5, 1.5, -2.0, 1e-300, 1e300, 1e999, float("nan")])
        )
    if kind == 2:
        return rng.choice(["True", "False", "None", "inf", "-inf", "nan"])
    if kind == 3:
        return repr(
            rng.choice(["SAME", "VALID", "CIRCULAR", "standard", "ntk", "", "x" * 300])
        )
    if kind == 4:
        return rng.choice(FUNCTION_NAMES + ("exp", "print", "os"))
    if kind == 5:
        return rng.choice(["(3, 3)", "(1,)", "()", "[1, 2]", "[[1]]", "(2, 2, 2)"])
    if kind == 6:
        return (
            "("
            + ", ".join(
                _random_literal(rng, depth + 1) for _ in range(rng.randrange(4))
            )
            + ")"
        )
    if kind == 7:
        return (
            "["
            + ", ".join(
                _random_literal(rng, depth + 1) for _ in range(rng.randrange(4))
            )
            + "]"
        )
    return _random_layer(rng, depth + 1)


def _random_layer(rng: random.Random, depth: int = 0) -> str:
    registry = _layer_registry()
    name = rng.choice(list(registry) + ["Dnse", "relu", "Lambda", "__init__"])
    params = (
        list(getattr(registry.get(name), "__code__", None).co_varnames)
        if name in registry
        else []
    )
    args = []
    for _ in range(rng.randrange(4)):
        if depth < 4 and name in ("serial", "parallel") or rng.random() < 0.2:
            args.append(_random_layer(rng, depth + 1) if depth < 4 else "Relu()")
        else:
            args.append(_random_literal(rng, depth + 1))
    for _ in range(rng.randrange(3)):
        key = rng.choice(params + ["W_sdt", "fn", "__class__"]) if params else "W_std"
        args.append(f"{key}={_random_literal(rng, depth + 1)}")
    return f"{name}({', '.join(args)})"


def _random_spec(rng: random.Random) -> str:
    lines = [f"net = {_random_layer(rng)}"]
    if rng.random() < 0.6:
        kw = [
            f"{k}={rng.choice(['0', '1', '20', '-5', 'True', '1.5', '2000', 'None'])}"
            for k in rng.sample(
                ["train", "test", "seed", "images", "tran"], rng.randrange(4)
            )
        ]
        lines.append(
            f"data = {rng.choice(['digits', 'mnist', 'digits'])}({', '.join(kw)})"
        )
    if rng.random() < 0.5:
        lines.append(
            f"compute = {rng.choice(['nngp', 'ntk', 'nngp, ntk', 'ntk, ntk', 'gp', '()', '1'])}"
        )
    if rng.random() < 0.4:
        lines.append(
            f"predict = gradient_descent_mse(t={_random_literal(rng)}, learning_rate={_random_literal(rng)})"
        )
    for key in ("block_size", "dtype", "devices", "cache", "budget"):
        if rng.random() < 0.15:
            lines.append(f"{key} = {_random_literal(rng)}")
    rng.shuffle(lines)
    return "\n".join(lines)


VALID_BLOCKS = [
    "Dense({w})",
    "Dense({w}, W_std={x}, b_std={x})",
    "Dense({w}, parameterization='standard')",
    "Relu()",
    "Erf()",
    "Gelu()",
    "Sin(a={x})",
    "LeakyRelu({x})",
    "ABRelu(-{x}, {x})",
    "Monomial({d})",
    "Hermite({d})",
    "RectifiedMonomial({d})",
    "Polynomial([{x}, {x}, {x}])",
    "ElementwiseNumerical({f}, deg={d})",
    "Rbf(gamma={x})",
    "Dropout(0.{d})",
    "Identity()",
    "serial(Dense({w}), Relu())",
    "serial(FanOut(2), parallel(Dense({w}), Identity()), FanInSum())",
    "repeat(serial(Dense({w}), Erf()), {d})",
    "Index(Slice[:{d}, ...])",
]


def _valid_spec(rng: random.Random) -> str:
    """A spec the grammar accepts: random but well-formed networks and settings."""

    def block() -> str:
        return rng.choice(VALID_BLOCKS).format(
            w=rng.randrange(1, 2048),
            x=round(rng.uniform(0.01, 3), 3),
            d=rng.randrange(1, 9),
            f=rng.choice(FUNCTION_NAMES),
        )

    lines = [
        f"net = serial({', '.join(block() for _ in range(rng.randrange(1, 6)))}, Dense(10))"
    ]
    if rng.random() < 0.7:
        lines.append(
            f"data = digits(train={rng.randrange(1, 1000)}, test={rng.randrange(1, 500)}, seed={rng.randrange(9)})"
        )
    if rng.random() < 0.5:
        lines.append(f"compute = {rng.choice(['nngp', 'ntk', 'nngp, ntk'])}")
    if rng.random() < 0.5:
        lines.append(
            f"predict = gradient_descent_mse(t=[{rng.randrange(100)}, inf], diag_reg={rng.random():.3g})"
        )
    if rng.random() < 0.3:
        lines.append(f"dtype = {rng.choice(['float32', 'float64'])}  # comment")
    rng.shuffle(lines)
    return "\n".join(lines)


def _mutate(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(4)
        i = rng.randrange(len(chars) + 1)
        if op == 0 and chars:
            del chars[min(i, len(chars) - 1)]
        elif op == 1:
            chars.insert(
                i,
                rng.choice("()[],=.:'\"#\n\\ _*-+0123456789eE" + "".join(HOSTILE_TEXT)),
            )
        elif op == 2 and chars:
            j = rng.randrange(len(chars))
            chars[min(i, len(chars) - 1)], chars[j] = (
                chars[j],
                chars[min(i, len(chars) - 1)],
            )
        else:
            chars[i:i] = list(rng.choice(ATTACKS + HOSTILE_TEXT))
    return "".join(chars)


def _inputs(sentinel: Path) -> list[str | bytes]:
    rng = random.Random(SEED)
    fill = {"sentinel": str(sentinel)}
    attacks = [a.format(**fill) for a in ATTACKS]
    statements = [s.format(**fill) for s in STATEMENT_ATTACKS]
    out: list[str | bytes] = list(VALID)
    out += [f"net = {a}" for a in attacks]
    out += [f"net = Dense({a})" for a in attacks]
    out += [f"net = serial(Dense(10), Relu(), Dense({a}))" for a in attacks]
    out += [f"net = Dense(10)\ndata = digits(train={a})" for a in attacks]
    out += [
        f"net = Dense(10)\npredict = gradient_descent_mse(t=[1, {a}])" for a in attacks
    ]
    out += [f"net = Dense(10)\n{s}" for s in statements] + statements
    out += [
        "",
        "\n\n\n",
        "net = Dense(10)\n" * 2,
        "net = Dense(10)\n" + "#" * (MAX_SPEC_CHARS + 1),
        "net = " + "serial(" * 33 + "Relu()" + ")" * 33,
        "net = Dense(" + "[" * 33 + "]" * 33 + ")",
        "net = Polynomial(coef=[" + "1, " * 1001 + "])",
        "net = Dense(10, W_std=" + "-" * 40 + "1)",
        b"net = Dense(10)\ndata = digits(train=\xff\xfe)",
        b"\x80\x81\x82",
        b"net = Dense(10) # \xc3\x28",
        "net = Dense('\udcff')",
        12345,
        None,
    ]
    while len(out) < N_INPUTS:
        r = rng.random()
        if r < 0.15:
            out.append(_valid_spec(rng))
        elif r < 0.35:
            out.append(
                _mutate(
                    rng, rng.choice(VALID) if rng.random() < 0.5 else _valid_spec(rng)
                )
            )
        elif r < 0.65:
            out.append(_random_spec(rng))
        elif r < 0.75:
            out.append(_mutate(rng, _random_spec(rng)))
        elif r < 0.85:
            alphabet = "netdaDsRlu()[]{},.=:;'\"#\n\t _-+*/%@!&|^~<>0123456789eEjx\\\x00é\U0001f600"
            out.append("".join(rng.choice(alphabet) for _ in range(rng.randrange(80))))
        elif r < 0.92:
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(60))))
        else:
            a = rng.choice(attacks + statements)
            out.append(
                _mutate(rng, f"net = serial(Dense(10), {a})")
                if rng.random() < 0.5
                else a
            )
    return out[:N_INPUTS]


def _located_inside(error: SpecError, text: str | bytes) -> bool:
    if error.line is None or error.col is None or error.line < 1 or error.col < 1:
        return False
    if isinstance(text, bytes):
        n_lines = text.count(b"\n") + 1
    elif isinstance(text, str):
        n_lines = text.count("\n") + 1
    else:
        n_lines = 1  # not text at all: the error points at the start
    return error.line <= n_lines + 1


@pytest.fixture
def sentinel(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "a payload created the sentinel file"
    assert not hasattr(builtins, "NK_PWNED"), "a payload set the sentinel builtin"


@pytest.mark.timeout(120)
def test_ten_thousand_hostile_inputs_never_run_never_crash(sentinel):
    inputs = _inputs(sentinel)
    assert len(inputs) == N_INPUTS
    # Warm up every lazy import (layers, functions, budget parsing) so the
    # audit hook below sees only what parsing itself does.
    for text in VALID:
        parse(text)
    parse("net = Dense(1)\nbudget = '50%'")
    crashes, unlocated, parsed = [], [], 0
    t0 = time.perf_counter()
    _WATCH.events.clear()
    _WATCH.active = True
    try:
        for text in inputs:
            try:
                spec = parse(text)
            except SpecError as e:
                if (
                    not _located_inside(e, text)
                    or not e.message
                    or "Traceback" in str(e)
                ):
                    unlocated.append((text, str(e)))
            except BaseException as e:  # noqa: BLE001 - the point is to catch anything
                crashes.append((text, f"{type(e).__name__}: {e}"))
            else:
                parsed += 1
                assert isinstance(spec, Spec)
    finally:
        _WATCH.active = False
    seconds = time.perf_counter() - t0
    assert not crashes, crashes[:5]
    assert not unlocated, unlocated[:5]
    assert not _WATCH.events, _WATCH.events[:5]
    # Both outcomes are exercised: valid specs parse and hostile ones do not.
    assert 200 < parsed < N_INPUTS - 2000, parsed
    assert seconds < 30, f"{N_INPUTS} inputs took {seconds:.1f} s"


def test_the_spec_package_never_evaluates():
    """No call that could run text as code appears anywhere in nkwidgets/_spec.

    ``getattr`` is allowed only with a constant attribute name (reading an AST
    node's position); a name taken from the spec would be a lookup by user text.
    """
    forbidden = {
        "eval",
        "exec",
        "compile",
        "__import__",
        "globals",
        "locals",
        "setattr",
    }
    calls = 0
    for path in sorted(SPEC_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                calls += 1
                where = f"{path.name}:{node.lineno} calls {node.func.id}"
                assert node.func.id not in forbidden, where
                if node.func.id == "getattr":
                    assert isinstance(node.args[1], ast.Constant), where
    assert calls > 50  # the walk did see the package's code


def test_audit_hook_would_notice_execution():
    """The watch is not vacuous: an exec while active is recorded."""
    _WATCH.events.clear()
    _WATCH.active = True
    try:
        exec("1")  # noqa: S102 - the event under test
    finally:
        _WATCH.active = False
    assert any(event == "exec" for event, _ in _WATCH.events)
    _WATCH.events.clear()


@pytest.mark.parametrize(
    "text,line,col",
    [
        ("net = Dense(10)\ndata = digits(train=__import__('os'))", 2, 21),
        ("net = Dense(10)\n\nnet2 = 3", 3, 1),
        ("net = Dense('é', W_sdt=1)", 1, 24),  # characters, not UTF-8 bytes
        (b"net = Dense(10)\nnet = \xff", 2, 7),
        ("net = Dense(10)\x00", 1, 16),
        ("net = Dense(1" + "0" * 400 + ")", 1, 13),
        ("net = (lambda: 0)()", 1, 7),
    ],
    ids=[
        "import",
        "unknown-setting",
        "unicode-column",
        "non-utf8",
        "nul",
        "huge-int",
        "lambda",
    ],
)
def test_errors_point_at_the_offending_character(text, line, col):
    with pytest.raises(SpecError) as info:
        parse(text)
    assert (info.value.line, info.value.col) == (line, col), str(info.value)
