"""A simulated NOR flash with power cuts and decay (MicroPython-compatible).

NOR semantics: reading works anywhere; ``erase(sector)`` sets a whole sector to ``0xFF``;
``program(addr, data)`` can only clear bits (each byte becomes ``old & new``) and may not cross a
page boundary. This is the flash interface the journal is written against; ``hardware/flash.py``
implements the same interface over a real board's flash partition.

Fault injection, for power-loss testing at every write:

- ``cut_at(n)`` arms a power cut at the *n*-th program or erase step from now (1 = the next
  one). That step is left half done: a cut mid-program leaves each byte somewhere between old
  and new (a random subset of the bits it was clearing are cleared); a cut mid-erase leaves the
  sector in a mix (a random subset of its bits set). The step raises :class:`PowerCut`, and so
  does every later write until :meth:`power_on`.
- ``decay(n)`` flips ``n`` random bits anywhere, as charge loss or disturb would;
  ``flip(addr, bit)`` flips one chosen bit (the decay sweeps flip every bit in turn).

Faults of a worn or marginal chip, where nothing tells the caller (no exception):

- ``ignore_program_at(n)``: the *n*-th program from now does nothing at all;
- ``stick(addr)``: the byte at ``addr`` never programs (it keeps whatever it holds; an erase
  still sets it to ``FF``);
- ``fail_erase_at(n, partial)``: the *n*-th erase from now does nothing (``partial=False``) or
  leaves a mix, a random subset of the sector's bits set (``partial=True``);
- ``resized(sector_count, sector_size)``: the same bytes seen through another geometry (a
  partition table changed under the data: grown with blank sectors, or cut short).

Randomness comes from a seeded xorshift generator (MicroPython has no ``random`` module here),
so every fault is reproducible from its seed.

The bytes live in a ``bytearray`` or, for a 4 MiB flash under MicroPython's small heap, in a
file (``path=``); every operation is counted for benchmarks.
"""


class PowerCut(BaseException):
    """The simulated supply dropped during a flash operation.

    A BaseException, like KeyboardInterrupt: on a board the power cut stops everything, so no
    ``except Exception`` in the firmware (the tap's guard, the uplink's) may catch it."""


class XorShift32:
    """Tiny deterministic PRNG: two xorshift16 generators combined into 30 bits.

    Only small ints are ever made (MicroPython's small ints hold 30 bits on 32-bit ports):
    a 32-bit xorshift allocates a long int per step, and heavy long-int churn under a 64 KB
    heap was seen to crash the WASI interpreter (docs/JOURNAL.md, "Testing").
    """

    def __init__(self, seed):
        self.a = (seed & 0xFFFF) or 0xACE1
        self.b = ((seed >> 16) & 0xFFFF) ^ 0x1D2B or 0x1D2B

    @staticmethod
    def _step(x):
        x ^= (x << 7) & 0xFFFF
        x ^= x >> 9
        x ^= (x << 8) & 0xFFFF
        return x

    def next(self):
        self.a = a = self._step(self.a)
        self.b = b = self._step(self._step(self.b))
        return ((a << 14) ^ b) & 0x3FFFFFFF

    def below(self, n):
        return self.next() % n


class SimulatedNorFlash:
    def __init__(self, sector_size=4096, sector_count=16, page_size=256, path=None, seed=1):
        if sector_size % page_size or page_size % 32:
            raise ValueError("sector size must be a multiple of the page size (itself of 32)")
        self.sector_size = sector_size
        self.sector_count = sector_count
        self.page_size = page_size
        self.size = sector_size * sector_count
        self.rng = XorShift32(seed)
        # Counters (read by benchmarks and tests).
        self.reads = 0
        self.programs = 0
        self.erases = 0
        self.bytes_programmed = 0
        self.erase_counts = [0] * sector_count
        # Power-cut state.
        self._cut_countdown = 0
        # Silent faults (see the module docstring).
        self._ignore_countdown = 0
        self._erase_countdown = 0
        self._erase_partial = False
        self.stuck = {}  # address -> True: bytes that never program
        self.faults_hit = 0  # silent faults reached (an ignored program or failed erase
        # happened, a program needed a stuck byte to change)
        self.powered = True
        self._page = bytearray(page_size)
        self._blank = b"\xff" * page_size
        self._file = None
        self._mem = None
        if path is None:
            mem = bytearray(self.size)  # filled page by page: no second flash-sized buffer
            for off in range(0, self.size, page_size):
                mem[off : off + page_size] = self._blank
            self._mem = mem
            self._view = memoryview(mem)  # reads copy out of it without a slice of bytes
        else:
            self._open_file(path)

    # -- storage backends -----------------------------------------------------------------
    def _open_file(self, path):
        try:
            f = open(path, "r+b")
            f.seek(0, 2)
            if f.tell() != self.size:
                f.close()
                raise ValueError("flash image " + path + " has the wrong size")
        except OSError:
            f = open(path, "w+b")
            for _ in range(self.size // self.page_size):
                f.write(self._blank)
            f.flush()
        self._file = f

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def _load(self, addr, buf):
        if self._mem is not None:
            n = len(buf)
            buf[:] = self._view[addr : addr + n]
        else:
            f = self._file
            if f is None:
                raise OSError("flash image is closed")
            f.seek(addr)
            f.readinto(buf)

    def _store(self, addr, data):
        if self._mem is not None:
            self._mem[addr : addr + len(data)] = data
        else:
            f = self._file
            if f is None:
                raise OSError("flash image is closed")
            f.seek(addr)
            f.write(data)

    # -- the flash interface --------------------------------------------------------------
    def readinto(self, addr, buf):
        n = len(buf)
        if addr < 0 or addr + n > self.size:
            raise ValueError("read outside the flash")
        self.reads += 1
        self._load(addr, buf)

    def read(self, addr, n):
        buf = bytearray(n)
        self.readinto(addr, buf)
        return buf

    def program(self, addr, data):
        n = len(data)
        if addr < 0 or addr + n > self.size:
            raise ValueError("program outside the flash")
        if n == 0:
            return
        if addr // self.page_size != (addr + n - 1) // self.page_size:
            raise ValueError("program crosses a page boundary")
        if not self.powered:
            raise PowerCut("flash is not powered")
        old = memoryview(self._page)[:n]
        self._load(addr, old)
        cut = self._step()
        if self._ignore_countdown:
            self._ignore_countdown -= 1
            if self._ignore_countdown == 0 and not cut:
                self.faults_hit += 1
                self.programs += 1
                return  # the chip silently ignored the program
        stuck = self.stuck
        for i in range(n):
            if stuck and addr + i in stuck:
                if old[i] & data[i] != old[i]:
                    self.faults_hit += 1  # a program that needed the stuck byte
                continue
            if cut:
                clearing = old[i] & ~data[i] & 0xFF
                old[i] &= ~(clearing & self.rng.next()) & 0xFF
            else:
                old[i] &= data[i]
        self._store(addr, old)
        self.programs += 1
        self.bytes_programmed += n
        if cut:
            raise PowerCut("power cut during program at 0x%x" % addr)

    def erase(self, sector):
        if sector < 0 or sector >= self.sector_count:
            raise ValueError("no such sector")
        if not self.powered:
            raise PowerCut("flash is not powered")
        cut = self._step()
        partial = cut
        if self._erase_countdown:
            self._erase_countdown -= 1
            if self._erase_countdown == 0 and not cut:
                self.faults_hit += 1
                if not self._erase_partial:
                    self.erases += 1
                    return  # the chip silently did nothing
                partial = True
        base = sector * self.sector_size
        page = self._page
        for off in range(0, self.sector_size, self.page_size):
            if partial:
                self._load(base + off, page)
                for i in range(self.page_size):
                    page[i] |= self.rng.next() & 0xFF
                self._store(base + off, page)
            else:
                self._store(base + off, self._blank)
        self.erases += 1
        self.erase_counts[sector] += 1
        if cut:
            raise PowerCut("power cut during erase of sector %d" % sector)

    # -- fault injection --------------------------------------------------------------------
    def cut_at(self, step):
        """Cut power during the ``step``-th program or erase from now (1 = the next one)."""
        if step < 1:
            raise ValueError("step counts from 1")
        self._cut_countdown = step

    def disarm(self):
        """Disarm every armed fault (a stuck byte stays stuck)."""
        self._cut_countdown = 0
        self._ignore_countdown = 0
        self._erase_countdown = 0

    def _step(self):
        if self._cut_countdown:
            self._cut_countdown -= 1
            if self._cut_countdown == 0:
                self.powered = False
                return True
        return False

    def power_on(self):
        self.powered = True

    def ignore_program_at(self, step):
        """The ``step``-th program from now (1 = the next one) silently does nothing."""
        if step < 1:
            raise ValueError("step counts from 1")
        self._ignore_countdown = step

    def fail_erase_at(self, step, partial=False):
        """The ``step``-th erase from now does nothing, or (``partial``) leaves a mix."""
        if step < 1:
            raise ValueError("step counts from 1")
        self._erase_countdown = step
        self._erase_partial = partial

    def stick(self, addr):
        """The byte at ``addr`` never programs from now on."""
        if addr < 0 or addr >= self.size:
            raise ValueError("no such byte")
        self.stuck[addr] = True

    def flip(self, addr, bit):
        """Flip bit ``bit`` (0 = LSB) of the byte at ``addr``."""
        one = bytearray(1)
        self._load(addr, one)
        one[0] ^= 1 << bit
        self._store(addr, one)

    def image(self):
        """A copy of every byte (RAM-backed flash only)."""
        mem = self._mem
        if mem is None:
            raise OSError("image() needs a RAM-backed flash")
        return bytes(mem)

    def restore(self, image):
        """Put back bytes taken by :meth:`image`."""
        mem = self._mem
        if mem is None:
            raise OSError("restore() needs a RAM-backed flash")
        mem[:] = image

    def resized(self, sector_count, sector_size=None):
        """A new RAM flash holding these bytes under another geometry: grown with blank
        sectors, or cut short (as a changed partition table would leave them)."""
        size = self.sector_size if sector_size is None else sector_size
        other = SimulatedNorFlash(size, sector_count, self.page_size)
        n = min(self.size, other.size)
        buf = bytearray(self.page_size)
        for off in range(0, n, self.page_size):
            self._load(off, buf)
            other._store(off, buf)
        return other

    def decay(self, bits, first_addr=0, last_addr=None):
        """Flip ``bits`` random bits in ``[first_addr, last_addr)``; returns their addresses."""
        last = self.size if last_addr is None else last_addr
        hit = []
        one = bytearray(1)
        for _ in range(bits):
            addr = first_addr + self.rng.below(last - first_addr)
            self._load(addr, one)
            one[0] ^= 1 << self.rng.below(8)
            self._store(addr, one)
            hit.append(addr)
        return hit

    def reset_counters(self):
        self.reads = self.programs = self.erases = self.bytes_programmed = 0
