"""The numbered business checks of the reconciliation (对账), after the UK
ETS registry's: each has a number, a name, and fails with a list of what
disagrees."""

from __future__ import annotations

from dataclasses import dataclass, field

from svc_common.i18n import msg

#: number → (code, what it checks in English, in Chinese). The code is what
#: a machine reads; the answer says what it checks in the caller's language.
CHECKS: dict[int, tuple[str, str, str]] = {
    1: (
        "journal_replays_to_balances",
        "each pool's journal replays to its stored balance",
        "各总量池的流水重放结果与其存储余额一致",
    ),
    2: (
        "lots_sum_to_pools",
        "each pool's lots add up to its credited, reserved and allocated",
        "各总量池的批次合计等于其入账量、预留量与已分配量",
    ),
    3: (
        "lineage_sums_to_allocations",
        "each lot's movements replay to it; each live "
        "reservation's lots add up to what it holds or was allocated, and a held "
        "one's lots hold it by the movements made for it",
        "各批次的流水重放结果与该批次一致；每笔有效预留所用批次的合计等于其预留量或已分配量，"
        "且预留中的批次由为其所做的流水占用",
    ),
    4: (
        "holdings_sum_to_allocations",
        "each pool's holdings add up to its allocated quota",
        "各总量池的持有量合计等于其已分配指标",
    ),
    5: (
        "debts_consistent",
        "open debts equal their advance lots' tonnes neither repaid nor given back",
        "未结清的欠量等于其先用后补批次既未偿还也未退回的吨数",
    ),
    6: (
        "register_chain_intact",
        "the public register's hash chain recomputes",
        "公开登记簿的哈希链重新计算后一致",
    ),
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
        """What the check verifies, in the current request's language."""
        _, en, zh = CHECKS[self.number]
        return msg(en, zh)

    @property
    def ok(self) -> bool:
        return not self.failures

    def fail(self, what: str) -> None:
        # A check names at most this many disagreements; the count says the rest.
        if len(self.failures) < 100:
            self.failures.append(what)
