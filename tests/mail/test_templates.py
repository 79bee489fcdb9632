"""Templates are code written by tenants: their cost is bounded when they are saved
(syntax_error) and when they are rendered (render, with a Budget per message)."""
import signal
import threading

import pytest

from app.mail import templates
from app.mail.templates import Budget, RenderError, render, syntax_error

LONG_LOOP = ("{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(1000) %}"
             "{% endfor %}{% endfor %}{% endfor %}")


# ---- save time -------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    "Hello {{ firstName }}", "{{ firstName | default('there') }}", "{{ 2 ** 10 }}",
    "{{ '-' * 40 }}", "{% for i in range(10) %}{{ i }}{% endfor %}", "{{ 1e400 }}",
    "{% if a %}" * 10 + "x" + "{% endif %}" * 10,
])
def test_ordinary_templates_compile(source):
    assert syntax_error(source) is None


@pytest.mark.parametrize("source", ["{{ 99999 ** 99999 ** 99 }}", "{{ 2 ** 5000 }}",
                                    "{{ 'x' * 100000000 }}", "{{ [1] * 100000000 }}",
                                    "{{ 10 ** 5000 }}"])
def test_huge_constant_expressions_compile_at_once_and_fail_to_render(source):
    """Intercepted operators are not folded into constants by the compiler, so saving
    them costs nothing; rendering one refuses the value."""
    assert syntax_error(source) is None
    with pytest.raises(RenderError, match="not allowed"):
        render(source, {})


def test_a_syntax_error_is_a_sentence_with_its_line():
    assert syntax_error("Hi\n{% if firstName %}").startswith("line 2: Unexpected end")


def test_a_template_over_the_size_limit_is_refused():
    assert syntax_error("x" * (templates.MAX_SOURCE_CHARS + 1)) == (
        "the template is longer than 20000 characters")
    assert syntax_error("x" * templates.MAX_SOURCE_CHARS) is None


def test_blocks_nested_too_deep_are_refused():
    source = "{% for i in x %}" * 11 + "{% endfor %}" * 11
    assert syntax_error(source) == "blocks are nested more than 10 deep"


def test_an_expression_nested_too_deep_is_a_recursion_error_and_a_sentence():
    assert syntax_error("{{ " + "(" * 500 + "1" + ")" * 500 + " }}") == (
        "the template is nested too deeply")


def test_too_many_statically_nested_blocks_for_python_is_a_sentence(monkeypatch):
    monkeypatch.setattr(templates, "MAX_NESTING", 40)
    source = "{% for i in x %}" * 30 + "{% endfor %}" * 30
    error = syntax_error(source)
    assert error is not None and error.startswith("the template is too complex")


def test_an_integer_with_too_many_digits_is_a_sentence():
    error = syntax_error("{{ " + "1" * 5000 + " }}")
    assert error.startswith("the template has a value that cannot be used")


@pytest.mark.parametrize("exception, sentence", [
    (MemoryError(), "the template is too large to compile"),
    (OverflowError("too big"), "the template has a value that cannot be used (too big)"),
    (RecursionError(), "the template is nested too deeply"),
    (SyntaxError("too many statically nested blocks"),
     "the template is too complex (too many statically nested blocks)"),
])
def test_every_failure_to_compile_is_a_sentence(monkeypatch, exception, sentence):
    def fail(source):
        raise exception
    monkeypatch.setattr(templates._env, "parse", fail)
    assert syntax_error("{{ a }} and something new") == sentence


def test_the_compiled_cache_is_bounded_in_count():
    for n in range(templates.COMPILED_CACHE + 10):
        syntax_error(f"{{{{ x }}}} {n}")
    assert len(templates._cache.entries) == templates.COMPILED_CACHE
    assert f"{{{{ x }}}} {templates.COMPILED_CACHE + 9}" in templates._cache.entries
    assert "{{ x }} 0" not in templates._cache.entries


def test_the_compiled_cache_is_bounded_in_source_characters(monkeypatch):
    monkeypatch.setattr(templates, "COMPILED_CACHE_CHARS", 50_000)
    templates._cache.clear()
    sources = [f"{n:05d}" + "x" * 19_995 for n in range(5)]
    for source in sources:
        assert syntax_error(source) is None
    assert list(templates._cache.entries) == sources[-2:]
    assert templates._cache.chars == 40_000
    assert render(sources[-1], {}) == sources[-1]


DOUBLING = "{% set a = 'x' * 10000 %}" + "".join(
    f"{{% set a{n + 1} = a{n} {{op}} a{n} %}}" for n in range(40)).replace("a0 ", "a ") + (
    "{{ a40 | length }}")


@pytest.mark.parametrize("op", ["~", "+"])
def test_a_value_doubled_line_by_line_is_refused_before_it_is_large(op):
    source = DOUBLING.replace("{op}", op)
    assert syntax_error(source) is None
    with pytest.raises(RenderError, match="longer than 262144 items"):
        render(source, {})


def test_a_namespace_doubled_in_a_loop_is_refused():
    source = ("{% set ns = namespace(s='x') %}{% for i in range(100) %}"
              "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}")
    with pytest.raises(RenderError, match="longer than 262144 items"):
        render(source, {})


def test_concatenation_renders_as_before():
    assert render("Hi {{ name ~ '!' }} {{ 'a' ~ 1 ~ none }} {{ 'x' ~ 'y' }}",
                  {"name": "Ada"}) == "Hi Ada! a1None xy"


def test_range_is_bounded():
    assert render("{{ range(1000) | length }}", {}) == "1000"
    with pytest.raises(RenderError, match="at most 1000 items"):
        render("{% for i in range(1001) %}{% endfor %}", {})


# ---- send time -------------------------------------------------------------------------

def test_a_fast_template_renders_within_its_budget():
    budget = Budget(seconds=1, max_bytes=1024)
    assert render("Hi {{ name }} {{ 2 ** 3 }}", {"name": "Ada"}, budget=budget) == "Hi Ada 8"
    assert render("{{ 'x' * 1024 }}", {}, budget=budget) == "x" * 1024


def test_a_tight_loop_is_stopped_by_the_time_budget():
    with pytest.raises(RenderError) as caught:
        render(LONG_LOOP, {}, budget=Budget(seconds=0.2))
    assert str(caught.value) == "rendering took longer than 0.2 s"


def test_the_time_budget_holds_off_the_main_thread_where_output_is_checked():
    """No alarm there: the deadline is checked between chunks and in the sandbox's hooks."""
    source = "{% for i in range(1000) %}{% for j in range(1000) %}{{ j }}{% endfor %}{% endfor %}"
    outcome = []

    def run():
        try:
            render(source, {}, budget=Budget(seconds=0.2, max_bytes=10**9))
        except RenderError as exc:
            outcome.append(str(exc))
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert outcome == ["rendering took longer than 0.2 s"]


def test_a_template_writing_too_much_is_stopped_by_the_size_budget():
    source = "{% for i in range(1000) %}{{ 'x' * 1000 }}{% endfor %}"
    with pytest.raises(RenderError) as caught:
        render(source, {})
    assert str(caught.value) == "the rendered body is larger than 256 KiB"


def test_the_size_budget_counts_utf8_bytes():
    with pytest.raises(RenderError, match="larger than 1 KiB"):
        render("{{ 'é' * 600 }}", {}, budget=Budget(max_bytes=1024))
    assert len(render("{{ 'é' * 500 }}", {}, budget=Budget(max_bytes=1024))) == 500


def test_one_budget_is_shared_by_the_renders_of_a_message():
    budget = Budget(seconds=0.2)
    with pytest.raises(RenderError, match="longer than 0.2 s"):
        render(LONG_LOOP, {}, budget=budget)
    with pytest.raises(RenderError, match="longer than 0.2 s"):
        render("{{ a }}", {"a": 1}, budget=budget)


def test_the_previous_alarm_handler_and_timer_are_put_back():
    fired = []

    def previous(signum, frame):
        fired.append(signum)
    old = signal.signal(signal.SIGALRM, previous)
    try:
        signal.setitimer(signal.ITIMER_REAL, 100)
        assert render("{{ 1 }}", {}) == "1"
        assert signal.getsignal(signal.SIGALRM) is previous
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 90 < remaining <= 100
        with pytest.raises(RenderError):
            render(LONG_LOOP, {}, budget=Budget(seconds=0.1))
        assert signal.getsignal(signal.SIGALRM) is previous
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert fired == []


def test_without_a_timer_before_none_is_left_running():
    assert render("{{ 1 }}", {}) == "1"
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, None)


def test_the_sandbox_still_refuses_attribute_tricks():
    with pytest.raises(RenderError):
        render("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})


@pytest.mark.parametrize("source", [
    "{{ 'a' | center(100000000) }}", "{{ 'x' | indent(100000000, true) }}",
    "{{ 'a' | wordwrap(100000000) }}", "{{ 'x'.rjust(100000000) }}",
    "{{ '%*d' % (100000000, 1) }}", "{{ '%100000000d' % 1 }}",
    "{{ '%*s' | format(100000000, 'x') }}", "{{ '{:>100000000}'.format(1) }}",
    "{{ ('a' * 10000) | replace('a', 'b' * 10000) }}",
    "{{ ('a' * 10000).replace('a', 'b' * 10000) }}",
])
def test_a_width_or_count_asking_for_a_huge_value_is_refused_before_it_is_made(source):
    with pytest.raises(RenderError, match="not allowed"):
        render(source, {})


def test_ordinary_widths_counts_and_numbers_render_as_before():
    source = ("{{ '%s' | format('x') }}|{{ 'a' | center(5) }}|{{ 'ab'.replace('a', 'c') }}|"
              "{{ '{:>4}'.format(1) }}|{{ '%5d' % 3 }}|{{ '%d' % 1000000 }}|"
              "{{ '{:,}'.format(1000000) }}|{{ 10 ** 30 }}|{{ [3, 1, 2] | sort | join(',') }}")
    assert render(source, {}) == (
        "x|  a  |cb|   1|    3|1000000|1,000,000|" + "1" + "0" * 30 + "|1,2,3")
