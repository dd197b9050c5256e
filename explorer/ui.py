"""Small UI helpers shared by the tabs: warnings that never stop the app, empty outputs."""
from __future__ import annotations

import functools
import logging
import traceback
import warnings
from typing import Callable, Iterator, Sequence

import gradio as gr

from sdpose_core.io.checkpoint import CheckpointError
from sdpose_core.viz import empty_figure

log = logging.getLogger("explorer")


def warn(message: str) -> None:
    """A yellow toast in the browser (a log line when called outside a request)."""
    log.warning(message)
    try:
        with warnings.catch_warnings():  # outside a request gradio re-emits it as a UserWarning
            warnings.simplefilter("ignore", UserWarning)
            gr.Warning(message)
    except Exception:  # no request context (handlers called directly, e.g. from tests)
        pass


def placeholders(kinds: Sequence[str], message: str) -> tuple:
    """One empty output per kind: 'plot' -> a figure showing the message, 'md' -> the message."""
    return tuple(empty_figure(message) if k == "plot" else f"**{message}**" for k in kinds)


USER_ERRORS = (ValueError, CheckpointError, OSError, FloatingPointError)


def failure_outputs(fn: Callable, kinds: Sequence[str], err: Exception) -> tuple:
    """Warn about a handler's error and return placeholder outputs: a user-facing error by its
    message, anything else (a bug) as an "internal error" with its traceback in the log."""
    if isinstance(err, USER_ERRORS):
        msg = str(err)
    else:  # a bug: keep serving, show what happened
        log.error("handler %s failed:\n%s", fn.__name__, traceback.format_exc())
        msg = f"internal error in {fn.__name__}: {type(err).__name__}: {err}"
    warn(msg)
    return placeholders(kinds, msg)


def guarded(*kinds: str) -> Callable:
    """Turn errors of a handler into a warning toast plus placeholder outputs."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Exception as err:
                return failure_outputs(fn, kinds, err)
        return inner
    return wrap


def guarded_stream(*kinds: str) -> Callable:
    """:func:`guarded` for generator handlers (streaming outputs)."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def inner(*args, **kwargs) -> Iterator[tuple]:
            try:
                yield from fn(*args, **kwargs)
            except Exception as err:
                yield failure_outputs(fn, kinds, err)
        return inner
    return wrap
