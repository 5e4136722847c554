"""What terminal code relies on from its runtime, checked on CPython and on MicroPython.

If one of these fails on a new MicroPython release, terminal code built on it would misbehave
on devices: the failure names the assumption.
"""

import binascii
import errno
import hashlib
import json
import struct

from micropython import const
from support import scratch_path

_RECORD_SIZE = const(16)


def test_crc32_matches_the_standard_check_value():
    # CRC-32/ISO-HDLC check value for "123456789".
    assert binascii.crc32(b"123456789") == 0xCBF43926
    # Incremental use (the journal computes a CRC over header then payload).
    assert binascii.crc32(b"6789", binascii.crc32(b"12345")) == 0xCBF43926


def test_sha256_known_vectors():
    assert binascii.hexlify(hashlib.sha256(b"abc").digest()) == (
        b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    h = hashlib.sha256()
    h.update(b"a")
    h.update(b"bc")
    assert h.digest() == hashlib.sha256(b"abc").digest()


def test_struct_layouts_are_little_endian_and_packed():
    packed = struct.pack("<IHBb", 0x01020304, 0xA0B0, 0xFF, -1)
    assert packed == b"\x04\x03\x02\x01\xb0\xa0\xff\xff"
    assert struct.calcsize("<IHBb") == 8
    assert struct.unpack_from("<H", packed, 4) == (0xA0B0,)
    buf = bytearray(_RECORD_SIZE)
    struct.pack_into("<Q", buf, 8, 2**63 + 5)
    assert struct.unpack_from("<Q", buf, 8)[0] == 2**63 + 5


def test_int_bytes_conversions_with_positional_byteorder():
    # MicroPython wants byteorder positionally; this is the spelling terminal code uses.
    assert int.from_bytes(b"\x01\x00", "little") == 1
    assert (258).to_bytes(2, "big") == b"\x01\x02"


def test_memoryview_slices_write_through():
    buf = bytearray(8)
    view = memoryview(buf)
    view[2:4] = b"\xaa\xbb"
    assert bytes(buf) == b"\x00\x00\xaa\xbb\x00\x00\x00\x00"


def test_json_round_trip_and_clear_error_on_garbage():
    text = json.dumps({"seq": 7, "idm": "0101070126 0cca02", "ok": True, "n": None})
    assert json.loads(text) == {"seq": 7, "idm": "0101070126 0cca02", "ok": True, "n": None}
    try:
        json.loads("{not json")
    except ValueError:
        pass
    else:
        raise AssertionError("garbage JSON must raise ValueError")


def test_binary_file_write_seek_and_read_back():
    path = scratch_path("blob.bin")
    with open(path, "wb") as f:
        f.write(b"\xff" * 32)
    with open(path, "r+b") as f:
        f.seek(10)
        f.write(b"\x00\x01")
        f.seek(0)
        data = f.read()
    assert len(data) == 32
    assert data[9:13] == b"\xff\x00\x01\xff"


def test_missing_file_raises_oserror_with_enoent():
    try:
        open(scratch_path("does-not-exist"), "rb")
    except OSError as exc:
        assert exc.errno == errno.ENOENT
    else:
        raise AssertionError("opening a missing file must raise OSError")
