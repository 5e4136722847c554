"""The display driver's memory of what it drew, against a fresh driver: a hypothesis state
machine over screens, a bus that breaks in the middle of a screen and comes back. After every
screen that was drawn without an error, the panel shows exactly what a driver that never saw
the earlier screens draws (bands it skipped were really unchanged; nothing stale remains)."""

from __future__ import annotations

from display_support import Rig
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

NAMES = [
    "山﨑 花子",
    "髙橋 德太郎",
    "寿限無寿限無五劫の擦り切れ海砂利水魚の水行末",
    "𠮷田 한",
    "Alice",
    "",
]
STATUS = [
    "オンライン",
    "オンライン 未送信 3",
    "オフライン 未送信 12",
    "メンテナンス中 終了予定 12:00",
]
ERRORS = ["リーダー異常", "記録できません", "サーバーに接続できません"]
SCREENS = st.one_of(
    st.tuples(
        st.tuples(st.sampled_from(["09:00 出勤", "時刻未設定 打刻"]), st.just("カードをタッチ"),
                  st.sampled_from(STATUS)),
        st.just("ready"),
    ),
    st.tuples(
        st.tuples(st.sampled_from(NAMES), st.sampled_from(["出勤 09:01", "退勤 18:30"]),
                  st.sampled_from(["記録しました", "オフライン保存", "残業残り 12 h"])),
        st.sampled_from(["ok", "offline"]),
    ),
    st.tuples(st.tuples(st.sampled_from(ERRORS)),
              st.just("error")),
    st.tuples(st.tuples(st.just("管理モード 0.1"), st.just("online 09:00"),
                        st.just("journal 3/1000 unsent"), st.just("roster v1 20")),
              st.just("service")),
)  # fmt: skip


_FRESH: dict = {}


def drawn_by_a_fresh_driver(status: str | None, lines: tuple, style: str) -> bytes:
    key = (status, lines, style)
    if key not in _FRESH:
        fresh = Rig()
        if status is not None:
            fresh.display.show(("#", status), "ready")
        answer = fresh.display.show(lines, style)
        assert answer is None or answer.startswith("display: no glyph"), answer
        _FRESH[key] = bytes(fresh.chip.ram)
    return _FRESH[key]


class DisplayMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.rig = Rig()
        self.status: str | None = None  # the last ready screen's status line
        self.last: tuple | None = None  # the last screen drawn without a bus error

    @rule(screen=SCREENS)
    def show(self, screen):
        lines, style = screen
        if style == "ready":
            self.status = lines[-1]
        answer = self.rig.display.show(lines, style)
        if answer is not None and answer.startswith("ST7789"):
            self.last = None
            return
        self.last = (lines, style)

    @rule(writes=st.integers(0, 12))
    def break_bus(self, writes):
        self.rig.spi.fail_after = writes

    @rule()
    def mend_bus(self):
        self.rig.spi.fail = None
        self.rig.spi.fail_after = -1

    @invariant()
    def the_panel_shows_the_last_screen(self):
        if self.last is None:
            return
        lines, style = self.last
        want = drawn_by_a_fresh_driver(self.status, lines, style)
        assert bytes(self.rig.chip.ram) == want, (self.status, lines, style)


DisplayMachine.TestCase.settings = settings(max_examples=12, stateful_step_count=8, deadline=None)
test_display_machine = DisplayMachine.TestCase
