"""Argument types the commands share (``argparse`` ``type=`` callables): each says what is wrong in one line."""

from __future__ import annotations

import argparse


def positive(text: str) -> int:
    """A whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value


def size(text: str) -> int:
    """A size in bytes: ``16G``, ``512M``, or a plain number."""
    from .memory import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
