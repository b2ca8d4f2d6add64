"""Result arithmetic: percentages per mode, the weighted final, rounding and the outcome.

All arithmetic is exact (fractions); rounding half-up to 2 decimals happens only for output.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from model.paredao import OutcomeKind, ParedaoKind
from model.vote import VoteMode

HUNDRED = Fraction(100)


@dataclass(frozen=True)
class Verdict:
    """What the final percentages decide: who leaves (or wins), or the nominees tied."""

    kind: OutcomeKind
    candidate_id: int | None = None
    tied: tuple[int, ...] = ()


# The name `db/results.py` still imports; `db.votes.Outcome` is a vote's, not this.
Outcome = Verdict


def round_half_up(value: Fraction, places: int = 2) -> float:
    """`value` rounded half away from zero to `places` decimals (12.345 → 12.35)."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return float(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def mode_percentages(counts: Mapping[int, int]) -> dict[int, Fraction] | None:
    """Each nominee's share of one mode's votes, in percent; None when the mode has no votes."""
    total = sum(counts.values())
    if total == 0:
        return None
    return {nominee: HUNDRED * votes / total for nominee, votes in counts.items()}


def final_percentages(
    per_mode: Mapping[VoteMode, Mapping[int, Fraction] | None],
    weights: Mapping[VoteMode, Fraction],
) -> dict[int, Fraction] | None:
    """The weighted average of the modes' percentages.

    A mode without votes drops out and the remaining weights are renormalised; a mode whose
    weight is zero does not count. None when no counted mode has votes.
    """
    counted = {mode: p for mode, p in per_mode.items() if p is not None and weights[mode] > 0}
    weight_sum = sum(weights[mode] for mode in counted)
    if not counted or weight_sum == 0:
        return None
    nominees = next(iter(counted.values())).keys()
    return {
        n: sum((weights[mode] * p[n] for mode, p in counted.items()), Fraction(0)) / weight_sum
        for n in nominees
    }


def decide(
    kind: ParedaoKind, final: Mapping[int, Fraction] | None, nominees: Sequence[int]
) -> Verdict:
    """Who leaves (or wins) by the exact final percentages; equal deciding values are a tie."""
    values = final or dict.fromkeys(nominees, Fraction(0))
    deciding = min(values.values()) if kind == ParedaoKind.save else max(values.values())
    chosen = tuple(n for n in nominees if values[n] == deciding)
    if len(chosen) > 1:
        return Verdict(OutcomeKind.tie, None, chosen)
    result = OutcomeKind.winner if kind == ParedaoKind.final else OutcomeKind.eliminated
    return Verdict(result, chosen[0])


@dataclass(frozen=True)
class NomineeResult:
    candidate_id: int
    votes: Mapping[VoteMode, int]
    percent: Mapping[VoteMode, Fraction | None]
    final: Fraction | None


def weights_of(unico_weight: float) -> dict[VoteMode, Fraction]:
    """The paredão's weights as exact fractions (0.5 → 1/2, not 0.5000000000000000277)."""
    unico = Fraction(Decimal(str(unico_weight)))
    return {VoteMode.unico: unico, VoteMode.torcida: 1 - unico}


def tally(
    nominee_ids: Sequence[int], counts: Mapping[tuple[int, VoteMode], int], unico_weight: float
) -> list[NomineeResult]:
    """Every nominee's votes and percentages per mode, and the weighted final percentage."""
    per_mode = {
        mode: mode_percentages({n: counts.get((n, mode), 0) for n in nominee_ids})
        for mode in VoteMode
    }
    final = final_percentages(per_mode, weights_of(unico_weight))
    return [
        NomineeResult(
            candidate_id=n,
            votes={mode: counts.get((n, mode), 0) for mode in VoteMode},
            percent={mode: (p[n] if p is not None else None) for mode, p in per_mode.items()},
            final=final[n] if final is not None else None,
        )
        for n in nominee_ids
    ]
