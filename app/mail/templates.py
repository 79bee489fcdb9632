"""Subjects and bodies are Jinja2 templates rendered in the sandbox.

The sandbox refuses attribute tricks (``{{ ''.__class__ }}``); a missing variable renders
empty, so ``{{ firstName | default("there") }}`` is the way to give a fallback.
"""
from functools import lru_cache

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

_env = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


def syntax_error(source):
    """A sentence describing why ``source`` does not parse, or None when it does."""
    try:
        _compile(source)
    except TemplateSyntaxError as exc:
        return f"line {exc.lineno}: {exc.message}"
    return None


@lru_cache(maxsize=1024)
def _compile(source):
    return _env.from_string(source)


class RenderError(Exception):
    pass


def render(source, variables):
    try:
        return _compile(source).render(**variables)
    except (SecurityError, TemplateError, ArithmeticError, TypeError, ValueError) as exc:
        raise RenderError(str(exc)) from exc
