"""The numbered business checks of the reconciliation (对账), after the UK
ETS registry's: each has a number, a name, and fails with a list of what
disagrees."""

from __future__ import annotations

from dataclasses import dataclass, field

#: number → (code, what it checks)
CHECKS: dict[int, tuple[str, str]] = {
    1: ("journal_replays_to_balances", "each pool's journal replays to its stored balance"),
    2: ("lots_sum_to_pools", "each pool's lots add up to its credited, reserved and allocated"),
    3: (
        "lineage_sums_to_allocations",
        "each lot's movements replay to it; each live "
        "reservation's lots add up to what it holds or was allocated, and a held "
        "one's lots hold it by the movements made for it",
    ),
    4: ("holdings_sum_to_allocations", "each pool's holdings add up to its allocated quota"),
    5: ("debts_consistent", "open debts equal their advance lots' unrepaid tonnes"),
    6: ("register_chain_intact", "the public register's hash chain recomputes"),
}


@dataclass
class CheckResult:
    number: int
    failures: list[str] = field(default_factory=list)

    @property
    def code(self) -> str:
        return CHECKS[self.number][0]

    @property
    def description(self) -> str:
        return CHECKS[self.number][1]

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, what: str) -> None:
        # A check names at most this many disagreements; the count says the rest.
        if len(self.failures) < 100:
            self.failures.append(what)
