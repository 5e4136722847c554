"""The terminal's states and transitions, as data (firmware/fsm.py runs it; firmware.diagram draws
it with ``transitions``). Guards and actions are methods of ``firmware.terminal.Terminal``.

Rows are ``(source, event, dest, guards, actions)``; the first row whose guards pass is taken.
"""

STATES = (
    "booting",  # configuration, journal mount, self-test: no service needed (MNT-06)
    "ready",  # clock, selected kind, online / offline / maintenance, unsent count
    "clock_invalid",  # ready, but punches carry monotonic time and the boot ID
    "identifying",  # waiting for a finger (after a card, or after a failed finger attempt)
    "recording",  # the punch is being appended to the journal
    "feedback",  # OK or error message, for feedback_ms
    "service_pin",  # PIN entry for service mode
    "service",  # status, network, journal, version; enrolment only when online (MNT-05)
    "enrol_code",  # a card or finger to enrol is in hand: the employee code is typed
    "enrolling",  # the enrolment is with the receiver (PRT-ENROL-*)
    "journal_full",  # no free slot for a punch until uploads free one
    "reader_fault",  # the reader does not answer
)

# States in which a tap is taken (a new tap also cuts a message short).
TAP = ("ready", "clock_invalid", "feedback", "identifying")
IDLE = ("ready", "clock_invalid")
# States from which service mode is reached: every one in which the reader works and no tap or
# service session is under way.
SERVICE_FROM = ("ready", "clock_invalid", "feedback", "identifying", "journal_full")


# The guards and actions _back adds (named: MicroPython has no ``(*a, b)`` tuple displays).
_FULL = ("journal_is_full",)
_NO_CLOCK = ("!clock_is_valid",)
_SHOW_FULL = ("show_full",)
_SHOW_READY = ("show_ready",)


def _back(source, event, guards=(), actions=()):
    """The three rows that go back to an idle state: ``journal_full`` when no slot is free,
    ``clock_invalid`` without a valid clock, else ``ready``. Every way out of a tap, a message,
    service mode or a reader fault ends in one of them."""
    return (
        (source, event, "journal_full", guards + _FULL, actions + _SHOW_FULL),
        (source, event, "clock_invalid", guards + _NO_CLOCK, actions + _SHOW_READY),
        (source, event, "ready", guards, actions + _SHOW_READY),
    )


def _rows(*parts):
    table = []
    for part in parts:
        table.extend(part)
    return tuple(table)


TABLE = _rows(
    _back("booting", "booted"),
    (
        # Reader faults from anywhere but booting; the reader coming back returns to idle.
        (
            (
                "ready",
                "clock_invalid",
                "identifying",
                "feedback",
                "service_pin",
                "service",
                "enrol_code",
                "enrolling",
                "journal_full",
            ),
            "reader_fault",
            "reader_fault",
            (),
            ("show_reader_fault",),
        ),
    ),
    _back("reader_fault", "reader_ok"),
    (
        # A card. The admin card reaches service mode from every state where the reader works.
        (TAP, "card", "feedback", ("card_is_bad",), ("refuse_card",)),
        (SERVICE_FROM, "card", "service", ("card_is_admin",), ("enter_service",)),
        (TAP, "card", "feedback", ("card_not_allowed",), ("refuse_method",)),
        (TAP, "card", "feedback", ("who_unknown", "unknown_refused"), ("refuse_unknown",)),
        (TAP, "card", "feedback", ("!can_punch_now",), ("refuse_offline",)),
        (TAP, "card", "feedback", ("is_double",), ("say_already",)),
        (TAP, "card", "identifying", ("needs_finger",), ("prompt_finger",)),
        (TAP, "card", "recording", (), ("record",)),
        # A finger result (1:N identification, or the finger after a card).
        (TAP, "finger", "feedback", ("finger_not_allowed",), ("refuse_method",)),
        (TAP, "finger", "feedback", ("finger_matched", "!can_punch_now"), ("refuse_offline",)),
        (TAP, "finger", "feedback", ("finger_matched", "is_double"), ("say_already",)),
        (TAP, "finger", "recording", ("finger_matched",), ("record",)),
        (TAP, "finger", "feedback", ("retries_exhausted",), ("say_not_recognised",)),
        (TAP, "finger", "identifying", (), ("prompt_retry",)),
        ("identifying", "key", None, ("key_is_kind",), ("kind_for_this_tap",)),
    ),
    _back("identifying", "timeout"),
    (
        # Recording: OK only after the journal's append returned.
        ("recording", "stored", "feedback", (), ("say_ok",)),
        ("recording", "store_full", "journal_full", (), ("say_full",)),
        ("recording", "store_failed", "feedback", (), ("say_store_failed",)),
    ),
    _back("feedback", "timeout"),
    (
        # Journal full: taps are refused with their message until a slot is free again.
        ("journal_full", "card", None, (), ("say_full",)),
        ("journal_full", "finger", None, (), ("say_full",)),
        (IDLE, "full", "journal_full", (), ("show_full",)),
    ),
    _back("journal_full", "space"),
    (
        # Keys: punch kind, and the service key (then a PIN).
        (IDLE, "key", None, ("key_is_kind",), ("select_kind",)),
        ("feedback", "key", None, ("key_is_kind",), ("remember_kind",)),  # for the next person
        (SERVICE_FROM, "key", "feedback", ("key_is_service", "pin_locked"), ("say_pin_locked",)),
        (SERVICE_FROM, "key", "service_pin", ("key_is_service",), ("prompt_pin",)),
        ("service_pin", "key", "service", ("pin_is_right",), ("enter_service",)),
        ("service_pin", "key", "feedback", ("pin_is_wrong",), ("say_pin_wrong",)),
        ("service_pin", "key", None, (), ("pin_key",)),
    ),
    _back("service_pin", "timeout"),
    _back("service", "key", ("key_is_exit",), ("leave_service",)),
    (
        ("service", "key", None, (), ("service_page",)),
        # Enrolment (MNT-05): a card tapped, or a finger the module has just stored, in service
        # mode and online; then the employee code; then the receiver's answer.
        (
            "service",
            "card",
            "enrol_code",
            ("!card_is_admin", "!card_is_bad", "can_enrol"),
            ("ask_enrol_code",),
        ),
        ("service", "card", None, ("!card_is_admin",), ("refuse_enrol",)),
    ),
    _back("service", "card", (), ("leave_service",)),
    (
        ("service", "finger", "enrol_code", ("finger_enrolled", "can_enrol"), ("ask_enrol_code",)),
        ("service", "finger", None, (), ("refuse_enrol",)),
    ),
    _back("service", "timeout", (), ("leave_service",)),
    (
        ("enrol_code", "key", "enrolling", ("enrol_code_done",), ("send_enrolment",)),
        ("enrol_code", "key", "service", ("key_is_exit",), ("service_page",)),
        ("enrol_code", "key", None, (), ("enrol_code_key",)),
        ("enrol_code", "timeout", "service", (), ("service_page",)),
        ("enrolling", "enrolled", "service", (), ("say_enrolled",)),
        ("enrolling", "enrol_failed", "service", (), ("say_enrol_failed",)),
        ("enrolling", "timeout", "service", (), ("say_enrol_failed",)),
        # The clock, and the idle screen redrawn (status, minute, kind).
        ("clock_invalid", "clock_valid", "ready", (), ("show_ready",)),
        (IDLE, "refresh", None, (), ("show_ready",)),
    ),
)
