"""LIBERO-PRO's perturbations as edits of a LIBERO BDDL problem file.

An edit changes one section and leaves every other character of the file as it was, so a perturbed file
differs from its source only where the perturbation says:

- language: the ``(:language ...)`` section holds another instruction;
- position (LIBERO-PRO's "swap"): objects of interest trade initial placements with other objects of the
  scene, i.e. their ``(On object place)`` facts in ``(:init ...)`` trade places. LIBERO's placement
  samplers then draw each object inside the region it was given, so initial states sampled from the
  perturbed file put the objects where the perturbation says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_WORD = re.compile(r"[^\s()]+")
_ON = re.compile(r"\(\s*On\s+([^\s()]+)\s+([^\s()]+)\s*\)", flags=re.IGNORECASE)


def section_span(text: str, head: str) -> tuple[int, int]:
    """``(start, end)`` of the parenthesised section that opens with ``(head``; ``end`` is past its ``)``."""
    match = re.search(r"\(\s*" + re.escape(head) + r"(?=[\s()])", text)
    if match is None:
        raise ValueError(f"the BDDL problem has no ({head} ...) section")
    depth = 0
    for i in range(match.start(), len(text)):
        if text[i] == "(":
            depth += 1
        elif text[i] == ")":
            depth -= 1
            if depth == 0:
                return match.start(), i + 1
    raise ValueError(f"the BDDL section ({head} ...) is not closed")


def section_words(text: str, head: str) -> list[str]:
    """The words of a section after its head: ``(:obj_of_interest a b)`` -> ``["a", "b"]``."""
    start, end = section_span(text, head)
    return _WORD.findall(text[start:end])[1:]


def language(text: str) -> str:
    """The instruction in the ``(:language ...)`` section."""
    return " ".join(section_words(text, ":language"))


def init_placements(text: str) -> dict[str, str]:
    """Object -> what it starts on (a region or another object), from the ``(On object place)`` facts of
    the ``(:init ...)`` section, in file order."""
    start, end = section_span(text, ":init")
    return dict(_ON.findall(text[start:end]))


def with_language(text: str, instruction: str) -> str:
    """``text`` with ``instruction`` as its ``(:language ...)``."""
    if not instruction or set(instruction) & set("()"):
        raise ValueError(f"an instruction must be non-empty text without parentheses, got {instruction!r}")
    start, end = section_span(text, ":language")
    return f"{text[:start]}(:language {instruction}){text[end:]}"


def owner(name: str, objects: Sequence[str]) -> str | None:
    """The object that ``name`` is or belongs to: ``wooden_cabinet_1_middle_region`` -> ``wooden_cabinet_1``
    (an object of interest may be a fixture's region); ``None`` if none of ``objects``."""
    for obj in sorted(objects, key=len, reverse=True):
        if name == obj or name.startswith(obj + "_"):
            return obj
    return None


def plan_swaps(text: str, candidates: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """The pairs of objects that trade initial placements.

    In ``(:obj_of_interest ...)`` order, each object of interest that has candidates takes the placement
    of its first candidate that is placed in ``(:init ...)`` and not already part of a pair. (LIBERO-PRO
    draws the candidate and the order at random when it writes its files; a fixed choice makes the suite
    the same on every machine.)
    """
    placed = init_placements(text)
    used: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for name in section_words(text, ":obj_of_interest"):
        obj = owner(name, list(placed))
        if obj is None or obj in used or obj not in candidates:
            continue
        other = next((c for c in candidates[obj] if c != obj and c in placed and c not in used), None)
        if other is not None:
            pairs.append((obj, other))
            used.update((obj, other))
    return pairs


def with_swapped_placements(text: str, pairs: Sequence[tuple[str, str]]) -> str:
    """``text`` with ``(On a x)`` and ``(On b y)`` rewritten to ``(On a y)`` and ``(On b x)`` for each pair."""
    placed = init_placements(text)
    new_place = dict(placed)
    for a, b in pairs:
        if a not in placed or b not in placed:
            raise ValueError(
                f"cannot swap {a} and {b}: both must be placed by an (On ...) fact in (:init ...)"
            )
        new_place[a], new_place[b] = placed[b], placed[a]
    start, end = section_span(text, ":init")

    def rewrite(match: re.Match) -> str:
        return f"(On {match.group(1)} {new_place[match.group(1)]})"

    return text[:start] + _ON.sub(rewrite, text[start:end]) + text[end:]
