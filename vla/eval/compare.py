"""``vla compare A B``: two policies compared episode by episode, on the same initial states.

Two evaluations of the standard protocol start every episode from the same initial state, so their
outcomes pair up: an episode both succeed from (or both fail) says nothing about which policy is better,
only the episodes where they disagree do. Pairing removes the spread of the initial states from the
comparison, which matters here: one policy's 50 episodes alone give a 95% interval about 27 points wide.

``A`` and ``B`` are evaluation folders (``vla eval --out``) or experiment folders (``vla experiment``'s
``output_dir``; its ``eval/policy-*`` folder), or several of each separated by commas: pair i compares
``A[i]`` with ``B[i]`` (e.g. training seed i of two recipes), and the counts add up over the pairs.

Statistics (McNemar's test for paired binary outcomes): ``b`` episodes only A succeeds from, ``c`` only B
does. The exact two-sided p-value is the binomial probability of a split at least as uneven as ``b``:``c``
when either policy is as likely to win a disagreement; the difference in success rate (B - A) is
``(c - b) / n`` with a 95% Wald interval for paired proportions.
"""

from __future__ import annotations

import json
import math
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from vla.config import ConfigError
from vla.eval.results import EPISODES_DIR, read_episodes

#: Evaluation settings that decide where episodes start: two runs pair up only if they agree on them.
PAIRING_SETTINGS = ("init_states", "seed")


def eval_run_folder(path: str | Path) -> Path:
    """An evaluation folder, or the policy evaluation of an experiment folder (its ``eval/policy-*``);
    refused in one line when neither, or when an experiment holds several policy evaluations."""
    folder = Path(path)
    if (folder / EPISODES_DIR).is_dir():
        return folder
    candidates = sorted(p for p in (folder / "eval").glob("policy-*") if (p / EPISODES_DIR).is_dir())
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = ", ".join(str(p) for p in candidates)
        raise ConfigError(f"{folder} holds several policy evaluations ({names}); name one of them")
    raise ConfigError(
        f"{folder} is not an evaluation folder (no {EPISODES_DIR}/ inside) nor an experiment folder with "
        "one eval/policy-* evaluation; give what `vla eval --out` or `vla experiment` wrote"
    )


def _settings(folder: Path) -> dict[str, Any]:
    results = folder / "results.json"
    if not results.is_file():
        return {}
    config = json.loads(results.read_text()).get("config", {})
    return {key: config.get(key) for key in PAIRING_SETTINGS if key in config}


def _exact_mcnemar(b: int, c: int) -> float:
    """Two-sided exact p-value of ``b`` against ``c`` disagreements, each side equally likely."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass(frozen=True)
class PairCounts:
    """Paired outcomes: episodes both policies succeed from, only A, only B, neither."""

    both: int = 0
    only_a: int = 0
    only_b: int = 0
    neither: int = 0

    def __add__(self, other: PairCounts) -> PairCounts:
        return PairCounts(*(x + y for x, y in zip(astuple(self), astuple(other), strict=True)))

    @property
    def episodes(self) -> int:
        return sum(astuple(self))

    def summary(self) -> dict[str, Any]:
        n, b, c = self.episodes, self.only_a, self.only_b
        diff = (c - b) / n if n else 0.0
        # Wald interval for the difference of paired proportions (Agresti, Categorical Data Analysis 10.1)
        half = 1.96 * math.sqrt(max(0.0, (b + c) / n - diff**2) / n) if n else 0.0
        return {
            "episodes": n,
            "both": self.both,
            "only_a": b,
            "only_b": c,
            "neither": self.neither,
            "success_a": (self.both + b) / n if n else 0.0,
            "success_b": (self.both + c) / n if n else 0.0,
            "difference_b_minus_a": diff,
            "difference_ci95": [diff - half, diff + half],
            "mcnemar_exact_p": _exact_mcnemar(b, c),
        }


def pair_counts(a: Path, b: Path) -> tuple[PairCounts, int]:
    """Counts over the episodes both runs finished, and how many episodes only one of them holds."""
    rows_a, rows_b = read_episodes(a), read_episodes(b)
    shared = sorted(set(rows_a) & set(rows_b))
    if not shared:
        raise ConfigError(f"{a} and {b} share no finished episode (suite, task, episode); nothing to pair")
    tally = [0, 0, 0, 0]
    for key in shared:
        won_a, won_b = bool(rows_a[key]["success"]), bool(rows_b[key]["success"])
        tally[{(True, True): 0, (True, False): 1, (False, True): 2, (False, False): 3}[won_a, won_b]] += 1
    unpaired = len(set(rows_a) ^ set(rows_b))
    return PairCounts(*tally), unpaired


def compare_runs(a_specs: list[str], b_specs: list[str]) -> dict[str, Any]:
    """Pair ``a_specs[i]`` with ``b_specs[i]`` episode by episode; per-pair and pooled statistics."""
    if len(a_specs) != len(b_specs):
        raise ConfigError(
            f"A names {len(a_specs)} evaluation(s) and B {len(b_specs)}: pair i compares A[i] with B[i], "
            "give as many on each side"
        )
    pairs, total = [], PairCounts()
    for a_spec, b_spec in zip(a_specs, b_specs, strict=True):
        a, b = eval_run_folder(a_spec), eval_run_folder(b_spec)
        settings_a, settings_b = _settings(a), _settings(b)
        differing = [k for k in PAIRING_SETTINGS if settings_a.get(k) != settings_b.get(k)]
        if differing:
            detail = ", ".join(f"{k}={settings_a.get(k)!r} against {settings_b.get(k)!r}" for k in differing)
            raise ConfigError(
                f"{a} and {b} did not start their episodes from the same states ({detail}); "
                "paired comparison needs the same --init-states and --seed"
            )
        counts, unpaired = pair_counts(a, b)
        pairs.append({"a": str(a), "b": str(b), "unpaired_episodes": unpaired, **counts.summary()})
        total += counts
    return {"pairs": pairs, "pooled": total.summary()}


def format_comparison(comparison: dict[str, Any]) -> str:
    """The terminal table: one row per pair, then the pooled counts and test."""

    def row(label: str, s: dict[str, Any]) -> str:
        low, high = s["difference_ci95"]
        return (
            f"| {label} | {s['episodes']} | {100 * s['success_a']:.0f}% | {100 * s['success_b']:.0f}% | "
            f"{s['both']} | {s['only_a']} | {s['only_b']} | {s['neither']} | "
            f"{100 * s['difference_b_minus_a']:+.1f} [{100 * low:+.1f}, {100 * high:+.1f}] | "
            f"{s['mcnemar_exact_p']:.3f} |"
        )

    lines = [
        "| pair | episodes | A | B | both | only A | only B | neither | B - A, points [95% CI] | McNemar p |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, pair in enumerate(comparison["pairs"]):
        lines.append(row(f"{i}", pair))
    if len(comparison["pairs"]) > 1:
        lines.append(row("**all**", comparison["pooled"]))
    for i, pair in enumerate(comparison["pairs"]):
        lines.append(f"pair {i}: A = {pair['a']}, B = {pair['b']}")
        if pair["unpaired_episodes"]:
            lines.append(f"  {pair['unpaired_episodes']} episode(s) finished in only one of them: left out")
    return "\n".join(lines)
