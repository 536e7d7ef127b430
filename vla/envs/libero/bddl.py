"""LIBERO task goals from BDDL problem files: parse the ``(:goal ...)`` section into predicates and order
them so that they can be reached one after another."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GoalPredicate:
    """One conjunct of a task goal, e.g. ``("in", "alphabet_soup_1", "basket_1_contain_region")``."""

    predicate: str  # lower case: in, on, open, close, turnon, turnoff
    subject: str
    target: str | None = None


def _tokenize(text: str) -> list[str]:
    text = re.sub(r";[^\n]*", "", text)  # BDDL comments
    return re.findall(r"\(|\)|[^\s()]+", text)


def _parse_sexpr(tokens: list[str], start: int) -> tuple[list | str, int]:
    """Returns the expression that starts at ``tokens[start]`` and the index after it."""
    if tokens[start] != "(":
        return tokens[start], start + 1
    items: list = []
    i = start + 1
    while tokens[i] != ")":
        item, i = _parse_sexpr(tokens, i)
        items.append(item)
    return items, i + 1


def parse_bddl_goal(text: str) -> list[GoalPredicate]:
    """The conjuncts of the ``(:goal (And ...))`` section of a BDDL problem, in file order."""
    tokens = _tokenize(text)
    problem, _ = _parse_sexpr(tokens, tokens.index("("))
    sections = [s for s in problem if isinstance(s, list) and s and s[0] == ":goal"]
    if not sections:
        raise ValueError("BDDL problem has no (:goal ...) section")
    goal = sections[0][1]
    conjuncts = goal[1:] if str(goal[0]).lower() == "and" else [goal]
    predicates = []
    for conjunct in conjuncts:
        name, *args = conjunct
        if not 1 <= len(args) <= 2 or any(isinstance(a, list) for a in args):
            raise ValueError(f"unsupported goal predicate {conjunct!r}")
        predicates.append(GoalPredicate(name.lower(), args[0], args[1] if len(args) == 2 else None))
    return predicates


PLACING = ("in", "on")
SHUTTING = ("close", "turnoff")


def order_goals(goals: list[GoalPredicate]) -> list[GoalPredicate]:
    """File order, except that closing a fixture waits for the objects to be put into it.

    BDDL conjunctions are unordered: ``(And (Close cabinet_bottom_region) (In bowl cabinet_bottom_region))``
    can only be reached by placing first. A Close/TurnOff goal moves after every In/On goal whose target
    is the fixture or one of its regions.
    """

    def inside(target: str | None, fixture: str) -> bool:
        return target is not None and (target == fixture or target.startswith(fixture + "_"))

    ordered = list(goals)
    for goal in [g for g in goals if g.predicate in SHUTTING]:
        placing = [
            i for i, g in enumerate(ordered) if g.predicate in PLACING and inside(g.target, goal.subject)
        ]
        if placing and ordered.index(goal) < max(placing):
            ordered.remove(goal)
            ordered.insert(max(placing), goal)
    return ordered


def task_goal(env) -> list[GoalPredicate]:
    """The goal of a ``LiberoEnv``'s task, parsed from the BDDL file the simulator was built from."""
    return parse_bddl_goal(Path(env.bddl_file).read_text())
