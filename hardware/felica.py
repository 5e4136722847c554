"""FeliCa polling through a PN53x: the InListPassiveTarget request and its answer.

The request (``D4 4A MaxTg BrTy`` + SENSF_REQ ``00 SChi SClo RC TSN``) asks the chip to send
a FeliCa Polling at 212 (BrTy 1) or 424 kbps (BrTy 2) for a system code (FFFF: any). The
answer is ``D5 4B NbTg`` then per target ``Tg POLRES_LEN 01 IDm[8] PMm[8] [SC(2)]``, where
POLRES_LEN (0x12, or 0x14 with the system code) counts itself. ``parse_targets`` copies the
first target's IDm and PMm into caller buffers (no allocation) and returns how many targets
answered, or -1 when the answer is malformed.

An IDm starting ``01 FE`` is an NFC-DEP device (a phone in peer-to-peer mode), whose NFCID2 is
made per session: it cannot identify a person.
"""

from micropython import const

CMD_IN_LIST_PASSIVE_TARGET = const(0x4A)
BRTY_212 = const(1)
BRTY_424 = const(2)
SYSTEM_CODE_ANY = const(0xFFFF)
POLLING = const(0x00)  # the FeliCa command code of Polling
POLLING_RESPONSE = const(0x01)


def poll_data(max_targets, rate_kbps, system_code, request_code=0, time_slots=0):
    """The data of an InListPassiveTarget FeliCa poll (after the command code)."""
    if rate_kbps not in (212, 424):
        raise ValueError("FeliCa polls at 212 or 424 kbps, not %r" % rate_kbps)
    brty = BRTY_212 if rate_kbps == 212 else BRTY_424
    return bytes(
        (
            max_targets,
            brty,
            POLLING,
            (system_code >> 8) & 0xFF,
            system_code & 0xFF,
            request_code,
            time_slots,
        )
    )


def parse_targets(body, length, idm, pmm):
    """``body[0:length]`` is ``D5 4B NbTg …``: copy the first target's IDm and PMm, return the
    number of targets (0: none), or -1 when a target record is malformed."""
    if length < 3:
        return -1
    count = body[2]
    pos = 3
    for t in range(count):
        if pos + 2 > length:
            return -1
        size = body[pos + 1]  # POLRES_LEN, counting itself
        if size < 18 or pos + 1 + size > length or body[pos + 2] != POLLING_RESPONSE:
            return -1
        if t == 0:
            for i in range(8):
                idm[i] = body[pos + 3 + i]
                pmm[i] = body[pos + 11 + i]
        pos += 1 + size
    if pos != length:
        return -1
    return count


def is_nfc_dep(idm):
    return idm[0] == 0x01 and idm[1] == 0xFE


def same(a, b):
    """Equal buffers of the same length, without allocating."""
    for i in range(len(a)):
        if a[i] != b[i]:
            return False
    return True
