"""Subjects and bodies are Jinja2 templates rendered in the sandbox, with a bounded cost.

Templates are code written by tenants. The sandbox refuses attribute tricks
(``{{ ''.__class__ }}``); on top of it:

- At save time (``syntax_error``): a source is at most MAX_SOURCE_CHARS characters and
  MAX_NESTING blocks deep, and every way compiling can fail becomes a sentence. ``**``,
  ``*``, ``+`` and ``%`` are intercepted (the sandbox's ``intercepted_binops``), which
  also keeps Jinja's compiler from folding them into constants: folding ran
  ``{{ 9**9**9 }}`` inside the request that saved it. ``~`` is compiled into a call
  that refuses values over MAX_VALUE, so no value doubles its way to gigabytes.
- At send time (``render``): a Budget per message, time and output size. Output comes
  from ``Template.generate()`` and stops once over the size; time is checked between
  chunks and in the sandbox's call/getattr hooks, and in the main thread an
  ITIMER_REAL alarm also interrupts a loop that produces nothing to check between.

A missing variable renders empty, so ``{{ firstName | default("there") }}`` is the way
to give a fallback.
"""
import contextvars
import functools
import re
import signal
import threading
import time
from collections import OrderedDict

from jinja2 import Environment, TemplateSyntaxError, nodes
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

# Save-time bounds. A compiled template's size grows with its source once nothing is
# folded into constants: measured, at most about 50 bytes kept per source character
# (a 20,000-character template of ``{{ a~b~c }}`` keeps about 1 MB). The cache holds at
# most COMPILED_CACHE templates and COMPILED_CACHE_CHARS characters of source in all,
# so about 50 MB per process at the very worst, and far less for real templates.
MAX_SOURCE_CHARS = 20_000
MAX_NESTING = 10
COMPILED_CACHE = 256
COMPILED_CACHE_CHARS = 1_000_000
# Run-time bounds on values: a range, and what one operator or call may produce.
MAX_RANGE = 1_000
MAX_ITEMS = 10_000          # characters or items a repetition (``'-' * 40``) may produce
MAX_VALUE = 256 * 1024      # characters or items of any value made by + % ~ or a call
MAX_INT_BITS = 4_096        # integers from ** * +: about 1,200 decimal digits
# A message's default budget (the RENDER_SECONDS / RENDER_MAX_BYTES settings).
RENDER_SECONDS = 1.0
RENDER_MAX_BYTES = 256 * 1024

_BLOCKS = (nodes.For, nodes.If, nodes.With, nodes.Macro, nodes.CallBlock,
           nodes.FilterBlock, nodes.Block, nodes.ScopedEvalContextModifier)


class RenderError(Exception):
    pass


class _Overtime(BaseException):
    """Raised by the alarm inside a render. A BaseException, so that no ``except
    Exception`` along the way (a filter, a library) takes it for an ordinary error."""


class Budget:
    """What rendering one message may cost: the renders of its subject and body share
    ``seconds``; each may write at most ``max_bytes`` (UTF-8)."""

    def __init__(self, *, seconds=RENDER_SECONDS, max_bytes=RENDER_MAX_BYTES):
        self.seconds, self.max_bytes = seconds, max_bytes
        self.deadline = time.monotonic() + seconds

    def check(self):
        global _armed
        if time.monotonic() > self.deadline:
            _armed = False  # one _Overtime per render (see _on_alarm)
            raise _Overtime

    def overtime(self):
        return RenderError(f"rendering took longer than {self.seconds:g} s")

    def too_large(self):
        return RenderError(f"the rendered body is larger than {_size(self.max_bytes)}")


def _size(count):
    if count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"


_budget = contextvars.ContextVar("render_budget", default=None)


def _check_time():
    budget = _budget.get()
    if budget is not None:
        budget.check()


def _bounded_value(value):
    """``value``, unless it is a string or sequence longer than MAX_VALUE or an integer
    over MAX_INT_BITS."""
    if isinstance(value, str | bytes | list | tuple) and len(value) > MAX_VALUE:
        raise SecurityError(f"a value longer than {MAX_VALUE} items is not allowed")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise SecurityError("a number that large is not allowed")
    return value


def _length(value):
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


# The widths and precisions of printf-style (``%10s``) and str.format (``{:>10}``) specs.
_PRINTF_WIDTHS = re.compile(r"%[#0 +-]*(\d*)(?:\.(\d*))?")
_FORMAT_WIDTHS = re.compile(r"\{[^{}]*?:[^{}]*?(\d+)(?:\.(\d+))?[^{}]*\}")


def _check_arguments(values):
    """Refuse, before the work is done, arguments that ask for a huge value: a count or
    width over MAX_VALUE (``center(10**8)``, ``'%*d' % (10**8, 1)``)."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_VALUE:
            raise SecurityError(f"a number over {MAX_VALUE} is not allowed here")
        if isinstance(value, tuple | list):
            _check_arguments(value)


def _check_format(text, pattern):
    """Refuse a format string whose widths or precisions ask for a huge value."""
    if isinstance(text, str):
        for match in pattern.finditer(text):
            if any(group and int(group) > MAX_VALUE for group in match.groups()):
                raise SecurityError(f"a width over {MAX_VALUE} is not allowed")


def _check_replace(text, old, new):
    """Refuse a replace whose result could be over MAX_VALUE, before making it."""
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        if len(text) + count * (len(new) - len(old)) > MAX_VALUE:
            raise SecurityError(f"a value longer than {MAX_VALUE} items is not allowed")


# Filters and str methods whose arguments are widths: a huge one is a huge result.
_WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap", "truncate"})
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _check_printf(text, values):
    """``text % values``: refuse widths over MAX_VALUE, written or given by ``*``."""
    _check_format(text, _PRINTF_WIDTHS)
    if isinstance(text, str) and "*" in text:
        _check_arguments(values if isinstance(values, tuple) else (values,))


def _bounded_filter(name, func):
    """``func`` (a filter), with its arguments checked first and its result after."""
    @functools.wraps(func)
    def bounded(*args, **kwargs):
        _check_time()
        # Filters that take the context, eval context or environment get it first.
        first = 1 if args and isinstance(args[0], Context | nodes.EvalContext
                                         | Environment) else 0
        value, options = (args[first], args[first + 1:]) if len(args) > first else (None, ())
        if name in _WIDTH_FILTERS:
            _check_arguments(options)
            _check_arguments(kwargs.values())
        if name == "format":
            _check_printf(value, options)
        elif name == "replace" and len(options) >= 2:
            _check_replace(value, options[0], options[1])
        return _bounded_value(func(*args, **kwargs))
    return bounded


def bounded_concat(*parts):
    """What ``a ~ b`` makes, refused before it is made when longer than MAX_VALUE.

    The sandbox has no hook for ``~`` (it is not one of the binary operators), and a
    chain of ``{% set b = a ~ a %}`` doubles a value each line: templates are compiled
    with ``~`` rewritten into a call of this function (see _BoundConcat).
    """
    texts = [str(part) for part in parts]
    if sum(map(len, texts)) > MAX_VALUE:
        raise SecurityError(f"a value longer than {MAX_VALUE} items is not allowed")
    return "".join(texts)


class _BoundConcat(NodeTransformer):
    """Rewrites each ``~`` (nodes.Concat) into a call of bounded_concat."""

    def visit_Concat(self, node):
        args = [self.visit(child) for child in node.nodes]
        return nodes.Call(nodes.ImportedName(f"{__name__}.bounded_concat"), args, [],
                          None, None, lineno=node.lineno)


def _bounded_range(*args):
    bounds = range(*args)
    if len(bounds) > MAX_RANGE:
        raise SecurityError(f"range() may produce at most {MAX_RANGE} items")
    return bounds


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with operators that cannot build huge values."""

    intercepted_binops = frozenset({"**", "*", "+", "%"})

    def __init__(self, **options):
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, func)
                        for name, func in self.filters.items()}
        self.globals["range"] = _bounded_range

    def call_binop(self, context, operator, left, right):
        _check_time()
        if operator == "**":
            self._check_power(left, right)
        elif operator == "*":
            self._check_product(left, right)
        elif operator == "%":
            _check_printf(left, right)
        result = super().call_binop(context, operator, left, right)
        return _bounded_value(result)

    @staticmethod
    def _check_power(base, exponent):
        # The result's size, known before computing it.
        if (isinstance(base, int) and isinstance(exponent, int) and exponent > 0
                and max(base.bit_length(), 1) * exponent > MAX_INT_BITS):
            raise SecurityError("a power that large is not allowed")

    @staticmethod
    def _check_product(left, right):
        for seq, count in ((left, right), (right, left)):
            if (_length(seq) is not None and isinstance(count, int)
                    and _length(seq) * count > MAX_ITEMS):
                raise SecurityError(
                    f"a repeated value longer than {MAX_ITEMS} items is not allowed")
        if (isinstance(left, int) and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_INT_BITS):
            raise SecurityError("a product that large is not allowed")

    def call(__self, __context, __obj, *args, **kwargs):  # noqa: N805 (the sandbox's own signature)
        _check_time()
        # A str method: its name and string are plain Python attributes of the method
        # (str.format comes wrapped by the sandbox, with functools' __wrapped__).
        method = getattr(__obj, "__wrapped__", __obj)
        text, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
        if isinstance(text, str):
            if name in ("format", "format_map"):
                _check_format(text, _FORMAT_WIDTHS)
            elif name in _WIDTH_METHODS:
                _check_arguments(args)
            elif name == "replace" and len(args) >= 2:
                _check_replace(text, args[0], args[1])
        return _bounded_value(super().call(__context, __obj, *args, **kwargs))

    def getattr(self, obj, attribute):
        _check_time()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        _check_time()
        return super().getitem(obj, argument)


_env = BoundedEnvironment(autoescape=False, keep_trailing_newline=True)


def _depth(node):
    """How deeply blocks (loops, conditions, macros...) nest in ``node``."""
    deepest = 0
    for child in node.iter_child_nodes():
        deepest = max(deepest, _depth(child))
    return deepest + isinstance(node, _BLOCKS)


class _Compiled:
    """A least-recently-used cache of compiled templates, bounded by count and by the
    total length of their sources (functools.lru_cache bounds the count only)."""

    def __init__(self):
        self.entries = OrderedDict()
        self.chars = 0
        self.lock = threading.Lock()

    def get(self, source):
        with self.lock:
            template = self.entries.get(source)
            if template is not None:
                self.entries.move_to_end(source)
            return template

    def put(self, source, template):
        with self.lock:
            if source in self.entries:
                return
            self.entries[source] = template
            self.chars += len(source)
            while len(self.entries) > COMPILED_CACHE or self.chars > COMPILED_CACHE_CHARS:
                old, _ = self.entries.popitem(last=False)
                self.chars -= len(old)

    def clear(self):
        with self.lock:
            self.entries.clear()
            self.chars = 0


_cache = _Compiled()


def _compile(source):
    """The compiled template, from the cache or compiled now."""
    template = _cache.get(source)
    if template is None:
        template = _compile_new(source)
        _cache.put(source, template)
    return template


def _compile_new(source):
    """The compiled template; raises RenderError with a sentence for any source that
    cannot be compiled within the bounds."""
    if len(source) > MAX_SOURCE_CHARS:
        raise RenderError(f"the template is longer than {MAX_SOURCE_CHARS} characters")
    try:
        tree = _env.parse(source)
        if _depth(tree) > MAX_NESTING:
            raise RenderError(f"blocks are nested more than {MAX_NESTING} deep")
        return _env.from_string(_BoundConcat().visit(tree))
    except TemplateSyntaxError as exc:
        raise RenderError(f"line {exc.lineno}: {exc.message}") from exc
    except RecursionError as exc:
        raise RenderError("the template is nested too deeply") from exc
    except SyntaxError as exc:
        # Python's own compiler: "too many statically nested blocks", and the like.
        raise RenderError(f"the template is too complex ({exc.msg})") from exc
    except MemoryError as exc:
        raise RenderError("the template is too large to compile") from exc
    except (ValueError, OverflowError) as exc:
        # A number literal with more digits than Python converts (int_max_str_digits).
        raise RenderError(f"the template has a value that cannot be used ({exc})") from exc


def syntax_error(source):
    """A sentence describing why ``source`` cannot be used, or None when it can."""
    try:
        _compile(source)
    except RenderError as exc:
        return str(exc)
    return None


# Whether the alarm may still interrupt. It raises at most once per render: after the
# first _Overtime (from the alarm or a check) a late signal is let go, so that it cannot
# break into the clean-up that restores the previous handler.
_armed = False


def _on_alarm(signum, frame):
    global _armed
    if _armed:
        _armed = False
        raise _Overtime


def _alarm_state():
    """What _disarm needs to put back: the previous handler and any timer already
    running; None off the main thread, where no alarm is used (signals are delivered
    to the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    delay, interval = signal.getitimer(signal.ITIMER_REAL)
    return signal.getsignal(signal.SIGALRM), delay, interval, time.monotonic()


def _arm(budget, armed):
    """An ITIMER_REAL alarm at the budget's deadline."""
    global _armed
    if armed is None:
        return
    _armed = True
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, max(budget.deadline - time.monotonic(), 0.001))


def _disarm(armed):
    """Undo _arm; safe to call twice."""
    global _armed
    _armed = False
    if armed is None:
        return
    previous, delay, interval, started = armed
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
    if delay:
        signal.setitimer(signal.ITIMER_REAL,
                         max(delay - (time.monotonic() - started), 0.001), interval)


def render(source, variables, *, budget=None):
    """``source`` rendered with ``variables`` within ``budget`` (a Budget; a fresh one
    with the defaults when None). Raises RenderError with the reason."""
    global _armed
    budget = budget or Budget()
    template = _compile(source)
    token = _budget.set(budget)
    written, chunks, armed = 0, [], _alarm_state()
    try:
        try:
            _arm(budget, armed)
            budget.check()
            for chunk in template.generate(**variables):
                written += len(chunk) if chunk.isascii() else len(chunk.encode("utf-8",
                                                                               "surrogatepass"))
                if written > budget.max_bytes:
                    raise budget.too_large()
                chunks.append(chunk)
                budget.check()
        finally:
            _disarm(armed)
    except _Overtime:
        # The alarm may have broken into the clean-up above; it cannot raise again.
        _armed = False
        _disarm(armed)
        raise budget.overtime() from None
    except RecursionError as exc:
        raise RenderError("the template recurses too deeply") from exc
    except MemoryError as exc:
        raise RenderError("rendering needed too much memory") from exc
    except (SecurityError, TemplateError, ArithmeticError, TypeError, ValueError,
            LookupError, AttributeError) as exc:
        raise RenderError(str(exc)) from exc
    finally:
        _budget.reset(token)
    return "".join(chunks)
