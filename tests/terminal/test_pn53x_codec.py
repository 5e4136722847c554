"""hardware/pn53x.py: the PN53x frame codec, byte for byte (both runtimes)."""

from hardware import pn53x

POLL_RCS620S = bytes.fromhex("0000ff09f7d44a010100ffff0000e200")  # PERIPHERALS.md [computed]


def decode_all(data, decoder=None):
    d = decoder if decoder is not None else pn53x.Decoder()
    out = []  # type: list
    for b in data:
        r = d.push(b)
        if r == pn53x.FRAME:
            out.append(bytes(d.body[0 : d.length]))
        elif r:
            out.append(pn53x.NAMES[r])
    return out


def test_encode_normal_frame():
    # RC-S620S FeliCa poll (PERIPHERALS.md, computed) and nfcpy's GetFirmwareVersion bytes
    assert bytes(pn53x.command(0x4A, bytes.fromhex("010100ffff0000"))) == POLL_RCS620S
    assert bytes(pn53x.command(0x02)) == bytes.fromhex("0000ff02fed4022a00")
    frame = pn53x.command(0x14, b"\x01\x00\x00")
    assert bytes(frame) == bytes.fromhex("0000ff05fbd4140100001700")  # nfcpy's SAMConfiguration


def test_encode_extended_frame_both_byte_orders():
    body = bytes([0xD4, 0x00]) + bytes(range(256)) + bytes(5)
    big = pn53x.encode(body)
    assert big[:5] == b"\x00\x00\xff\xff\xff" and big[5] == 0x01 and big[6] == 0x07
    assert (big[5] + big[6] + big[7]) & 0xFF == 0
    little = pn53x.encode(b"\xd6\x2a\x01", extended=True, little_endian=True)
    assert bytes(little) == bytes.fromhex("0000ffffff0300fdd62a01ff00")  # nfcpy's rcs380 bytes
    assert decode_all(big) == [body]
    assert decode_all(little, pn53x.Decoder(little_endian=True)) == [b"\xd6\x2a\x01"]


def test_ack_nack_error_and_data_frames():
    stream = (
        pn53x.ACK_FRAME
        + pn53x.NACK_FRAME
        + pn53x.ERROR_FRAME
        + bytes.fromhex("0000ff06fad50332010607e800")
    )
    assert decode_all(stream) == ["ACK", "NACK", "error frame", bytes.fromhex("d50332010607")]


def test_leading_zeros_and_garbage_are_skipped():
    d = pn53x.Decoder()
    garbage = bytes.fromhex("55ff12ff00fe01") + bytes(9)
    assert decode_all(garbage + pn53x.ACK_FRAME + b"\xff\xff\x13" + pn53x.ACK_FRAME, d) == [
        "ACK",
        "ACK",
    ]
    assert d.skipped >= 7


def test_bad_lcs_then_resynchronised():
    bad = bytearray(pn53x.command(0x03, b"\x32\x01\x06\x07"))
    bad[4] ^= 0x10
    good = pn53x.command(0x03, b"\x32")
    assert decode_all(bytes(bad) + bytes(good)) == ["bad LCS", bytes(good[5:-2])]


def test_bad_dcs_then_resynchronised():
    bad = bytearray(pn53x.encode(b"\xd5\x4b\x00"))
    bad[-2] ^= 0x01
    assert decode_all(bytes(bad) + pn53x.ACK_FRAME) == ["bad DCS", "ACK"]


def test_truncated_frame_gives_nothing_until_the_bytes_come():
    frame = pn53x.encode(b"\xd5\x4b\x00")
    d = pn53x.Decoder()
    assert decode_all(frame[:-3], d) == []
    assert decode_all(frame[-3:], d) == [b"\xd5\x4b\x00"]


def test_frame_longer_than_the_buffer():
    d = pn53x.Decoder(size=8)
    assert decode_all(pn53x.encode(bytes(20)) + pn53x.ACK_FRAME, d) == ["frame too long", "ACK"]


def test_extended_frame_with_bad_length_checksum():
    frame = bytearray(pn53x.encode(bytes(300)))
    frame[7] ^= 0x01
    assert decode_all(bytes(frame[:8]) + pn53x.ACK_FRAME) == ["bad LCS", "ACK"]


def test_empty_body_is_refused():
    try:
        pn53x.encode(b"")
    except ValueError:
        return
    raise AssertionError("an empty frame body was encoded")
