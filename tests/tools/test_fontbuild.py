"""The display font's converter (tools/dakoku/fontbuild.py) against its source, Debian's Unifont:
every character of JIS X 0208 (and the CP932 kanji of names) is in the file with Unifont's own
bits, found by hardware/font.py in at most two reads. Without the unifont package these tests
fail (never skip): .ci/run installs it."""

from __future__ import annotations

import io

import pytest
from dakoku import fontbuild

from hardware.font import Font


class BytesFlash:
    def __init__(self, data: bytes):
        self.data = data
        self.reads = 0

    def readinto(self, addr: int, buf: bytearray) -> None:
        buf[:] = self.data[addr : addr + len(buf)]
        self.reads += 1


@pytest.fixture(scope="module")
def source() -> dict[int, bytes]:
    assert fontbuild.DEFAULT_SOURCE.exists(), fontbuild.INSTALL_HINT
    return fontbuild.read_hex(fontbuild.DEFAULT_SOURCE)


def jis_x_0208() -> set[int]:
    chars = set()
    for hi in range(0xA1, 0xFF):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes((hi, lo)).decode("euc_jp")))
            except UnicodeDecodeError:
                pass
    return chars


def test_every_character_of_jis_x_0208_is_drawn_with_unifonts_bits(source):
    wanted = fontbuild.character_set()
    jis = jis_x_0208()
    assert len(jis) == 6879 and jis <= wanted  # JIS X 0208:1997's 6,879 graphic characters
    assert {ord(c) for c in "髙﨑德ｱﾝ…"} <= wanted
    data, missing = fontbuild.build(source, wanted)
    assert missing == []
    font = Font(BytesFlash(data))
    assert font.count == len(wanted)
    for code in sorted(wanted):
        g = font.lookup(code)
        assert g >= 0, hex(code)
        glyph = bytes(font.read(g >> 1))
        bits = source[code]
        if len(bits) == 32:
            assert g & 1 and glyph == bits, hex(code)
        else:
            assert not g & 1 and glyph == bytes(b for row in bits for b in (row, 0)), hex(code)
    for code in (ord("한"), 0x20BB7, 0x00, 0x7F, 0xE000):
        assert font.lookup(code) == -1, hex(code)


def test_a_lookup_reads_one_page_map_and_a_glyph_at_most(source):
    data, _ = fontbuild.build(source, fontbuild.character_set())
    flash = BytesFlash(data)
    font = Font(flash)
    assert flash.reads == 2  # header and page table, once
    worst = 0
    for code in (ord(c) for c in "山﨑 花子 髙橋 德 ｱｲｳ 出勤 09:01 記録しました"):
        before = flash.reads
        font.read(font.lookup(code) >> 1)
        worst = max(worst, flash.reads - before)
    assert worst == 2


def test_a_bad_source_line_is_refused_with_its_line_number(tmp_path):
    bad = tmp_path / "bad.hex"
    bad.write_text("0041:0000000018242442427E424242420000\n0042:12345\n")
    with pytest.raises(ValueError, match=r"bad\.hex:2: not a 16 px Unifont \.hex line"):
        fontbuild.read_hex(bad)


def test_a_missing_source_says_which_package_to_install(tmp_path, capsys):
    status = fontbuild.main(["build", "--source", str(tmp_path / "none.hex"), "--output", "x"])
    assert status == 1
    assert "apt-get install unifont" in capsys.readouterr().err


def test_a_file_that_is_not_a_font_is_refused():
    with pytest.raises(ValueError, match="not a dakoku font file"):
        Font(BytesFlash(io.BytesIO(b"PK\x03\x04" + bytes(600)).getvalue()))
