"""A simulated R503 fingerprint module answering host packets byte for byte (MicroPython too).

``receive(data)`` takes what the host wrote and returns ``[(delay_ms, bytes)]``, the module's
acknowledgements after its datasheet times (image acquiring 200 ms, features 500 ms, 1:N search
10 ms a stored template). It decodes host packets with ``hardware.r30x``'s rules: bytes that
are not a packet are skipped; a packet with a bad checksum is answered with code 01 (packet
error), as the manual says; a packet for another address gets no answer.

The sensor: ``place(finger, quality)`` puts a finger on it (``finger`` is any name of a real
finger, e.g. "alice-right-index"; ``quality`` "good", "smudged" (GenImg 03), "disordered"
(Img2Tz 06) or "few" (Img2Tz 07)); ``lift()`` takes it away. The library maps pages to the
finger enrolled there (``enrol(page, finger)`` puts one in directly). Scores are deterministic
per finger (60..250), and a finger never matches another one.

``delay_scale`` multiplies the times (a test over a pty runs in real time). Faults for tests:
``unknown_code`` replaces the next answer's confirmation code (a valid
checksum around a code no manual lists); ``silent`` answers nothing; ``bad_sum`` spoils the
checksum of the next n answers.

Instructions: 01 GenImg, 02 Img2Tz, 03 Match, 04 Search, 05 RegModel, 06 Store, 07 LoadChar,
0C DeleteChar, 0D Empty, 0F ReadSysPara, 13 VfyPwd, 1D TemplateNum, 1F ReadIndexTable, 53
GetEcho; any other gets code 01.
"""

from hardware import r30x

IMAGE_MS = 200  # R503 datasheet: image acquiring time < 0.2 s
FEATURES_MS = 500  # generating feature points < 500 ms
SEARCH_MS_PER_TEMPLATE = 10  # 1:N < 10 ms per fingerprint
STORE_MS = 40  # a flash write [uncertain]
PLAIN_MS = 5


def score_of(finger):
    s = 0
    for c in finger:
        s = (s * 31 + ord(c)) & 0xFFFF
    return 60 + s % 191


class R503:
    name = "R503"
    baud = 57600

    def __init__(self, capacity=200, password=0, security_level=3, address=r30x.DEFAULT_ADDRESS):
        self.capacity = capacity
        self.password = password
        self.security_level = security_level
        self.address = bytes(address)
        self.library = {}  # page -> finger
        self.finger = None
        self.quality = "good"
        self.image = None
        self.buffers = [None, None, None]  # index 1 and 2 are the char buffers
        self.commands = []  # instruction codes received, in order
        self.unknown_code = None
        self.silent = False
        self.bad_sum = 0
        self.delay_scale = 1  # a pty test in real time may shorten the module's times
        self.decoder = r30x.Decoder(300, r30x.DEFAULT_ADDRESS)
        self.decoder.address = self.address

    # ----------------------------------------------------------------- the world

    def place(self, finger, quality="good"):
        self.finger = finger
        self.quality = quality

    def lift(self):
        self.finger = None

    def enrol(self, page, finger):
        self.library[page] = finger

    def power_cycle(self):
        self.image = None
        self.buffers = [None, None, None]
        self.decoder.reset()

    # ------------------------------------------------------------------ host side

    def receive(self, data):
        out = []
        for b in data:
            r = self.decoder.push(b)
            if r == r30x.PACKET:
                if self.decoder.pid == r30x.PID_COMMAND and self.decoder.length >= 1:
                    answer = self._command(bytes(self.decoder.body[0 : self.decoder.length]))
                    if answer is not None:
                        out.append((int(answer[0] * self.delay_scale), answer[1]))
            elif r == r30x.BAD_SUM or r == r30x.TOO_LONG:
                out.append((PLAIN_MS, self._ack(r30x.PACKET_ERROR)))
        return out

    def _ack(self, code, data=b""):
        if self.unknown_code is not None:
            code = self.unknown_code
            self.unknown_code = None
        packet = bytearray(r30x.encode(r30x.PID_ACK, bytes((code,)) + bytes(data), self.address))
        if self.bad_sum:
            self.bad_sum -= 1
            packet[-1] ^= 0x01
        return bytes(packet)

    def _command(self, body):
        if self.silent:
            return None
        ins = body[0]
        p = body[1:]
        self.commands.append(ins)
        if ins == r30x.GEN_IMG:
            if self.finger is None:
                self.image = None
                return (IMAGE_MS, self._ack(r30x.NO_FINGER))
            if self.quality == "smudged":
                self.image = None
                return (IMAGE_MS, self._ack(r30x.IMAGE_FAIL))
            self.image = (self.finger, self.quality)
            return (IMAGE_MS, self._ack(r30x.OK))
        if ins == r30x.IMG2TZ and len(p) == 1 and p[0] in (1, 2):
            if self.image is None:
                return (FEATURES_MS, self._ack(r30x.NO_VALID_IMAGE))
            finger, quality = self.image
            if quality == "disordered":
                return (FEATURES_MS, self._ack(r30x.TOO_DISORDERED))
            if quality == "few":
                return (FEATURES_MS, self._ack(r30x.TOO_FEW_FEATURES))
            self.buffers[p[0]] = finger
            return (FEATURES_MS, self._ack(r30x.OK))
        if ins == r30x.SEARCH and len(p) == 5 and p[0] in (1, 2):
            start = (p[1] << 8) | p[2]
            count = (p[3] << 8) | p[4]
            want = self.buffers[p[0]]
            searched = 0
            for page in sorted(self.library):
                if start <= page < start + count:
                    searched += 1
                    if want is not None and self.library[page] == want:
                        ms = SEARCH_MS_PER_TEMPLATE * searched
                        s = score_of(want)
                        data = bytes((page >> 8, page & 0xFF, s >> 8, s & 0xFF))
                        return (ms, self._ack(r30x.OK, data))
            return (SEARCH_MS_PER_TEMPLATE * searched + 1, self._ack(r30x.NOT_FOUND, b"\0\0\0\0"))
        if ins == r30x.MATCH:
            a, b = self.buffers[1], self.buffers[2]
            if a is not None and a == b:
                s = score_of(a)
                return (SEARCH_MS_PER_TEMPLATE, self._ack(r30x.OK, bytes((s >> 8, s & 0xFF))))
            return (SEARCH_MS_PER_TEMPLATE, self._ack(r30x.NO_MATCH, b"\0\0"))
        if ins == r30x.REG_MODEL:
            a, b = self.buffers[1], self.buffers[2]
            if a is None or a != b:
                return (FEATURES_MS, self._ack(r30x.ENROLL_MISMATCH))
            return (FEATURES_MS, self._ack(r30x.OK))
        if ins == r30x.STORE and len(p) == 3 and p[0] in (1, 2):
            page = (p[1] << 8) | p[2]
            if page >= self.capacity:
                return (PLAIN_MS, self._ack(r30x.BAD_LOCATION))
            if self.buffers[p[0]] is None:
                return (PLAIN_MS, self._ack(r30x.FLASH_ERROR))
            self.library[page] = self.buffers[p[0]]
            return (STORE_MS, self._ack(r30x.OK))
        if ins == r30x.LOAD_CHAR and len(p) == 3 and p[0] in (1, 2):
            page = (p[1] << 8) | p[2]
            if page >= self.capacity:
                return (PLAIN_MS, self._ack(r30x.BAD_LOCATION))
            if page not in self.library:
                return (PLAIN_MS, self._ack(r30x.READ_ERROR))
            self.buffers[p[0]] = self.library[page]
            return (PLAIN_MS, self._ack(r30x.OK))
        if ins == r30x.DELETE_CHAR and len(p) == 4:
            page = (p[0] << 8) | p[1]
            n = (p[2] << 8) | p[3]
            if page + n > self.capacity:
                return (PLAIN_MS, self._ack(r30x.DELETE_FAILED))
            for k in range(page, page + n):
                self.library.pop(k, None)
            return (STORE_MS, self._ack(r30x.OK))
        if ins == r30x.EMPTY:
            self.library = {}
            return (STORE_MS, self._ack(r30x.OK))
        if ins == r30x.READ_SYS_PARA:
            c, lv, a = self.capacity, self.security_level, self.address
            data = bytes((0, 0, 0, 9, c >> 8, c & 0xFF, 0, lv)) + a + bytes((0, 2, 0, 6))
            return (PLAIN_MS, self._ack(r30x.OK, data))
        if ins == r30x.VFY_PWD and len(p) == 4:
            pw = (p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]
            return (PLAIN_MS, self._ack(r30x.OK if pw == self.password else r30x.WRONG_PASSWORD))
        if ins == r30x.TEMPLATE_NUM:
            n = len(self.library)
            return (PLAIN_MS, self._ack(r30x.OK, bytes((n >> 8, n & 0xFF))))
        if ins == r30x.READ_INDEX_TABLE and len(p) == 1:
            table = bytearray(32)
            for page in self.library:
                k = page - p[0] * 256
                if 0 <= k < 256:
                    table[k >> 3] |= 1 << (k & 7)
            return (PLAIN_MS, self._ack(r30x.OK, bytes(table)))
        if ins == r30x.GET_ECHO:
            return (PLAIN_MS, self._ack(r30x.ECHO_OK))
        return (PLAIN_MS, self._ack(r30x.PACKET_ERROR))
