"""A small state-machine engine for data tables (MicroPython).

A table is a list of rows ``(source, event, dest, guards, actions)``:

- ``source``: a state name, a tuple of names, or ``"*"`` (every state);
- ``dest``: a state name, or None for an internal transition (the state does not change);
- ``guards``: names of model methods that must all return true; ``"!name"`` must return false;
- ``actions``: names of model methods called, in order, after the state has changed.

For an event, the rows whose source matches the current state are tried in table order and the
first whose guards pass is taken; an event no row takes is ignored (``fire`` returns False).
Events fired while a transition runs (by an action) are queued and run after it. The same table
loads into the ``transitions`` package on the desktop (``firmware.diagram``) with the same
semantics, which a differential test checks.
"""


class Machine:
    def __init__(self, model, states, table, initial):
        self.model = model
        self.states = states
        self.state = initial
        # Rows by event, in table order; a row's source is matched when the event fires. RAM:
        # one list per event of references to the (constant) rows, nothing per state.
        self._rows = {}  # type: dict
        for row in table:
            source, event, dest = row[0], row[1], row[2]
            if dest is not None and dest not in states:
                raise ValueError("unknown destination state " + dest)
            for s in () if source == "*" else (source,) if isinstance(source, str) else source:
                if s not in states:
                    raise ValueError("unknown source state " + s)
            rows = self._rows.get(event)
            if rows is None:
                rows = self._rows[event] = []
            rows.append(row)
        self._queue = []
        self._running = False
        self.on_change = None  # called with (old, event, new) after every taken transition

    @staticmethod
    def _from(source, state):
        if isinstance(source, str):
            return source == state or source == "*"
        return state in source

    def _passes(self, guards, data):
        model = self.model
        for name in guards:
            if name.startswith("!"):  # not name[0]: MicroPython interns a 1-char str as a qstr
                if getattr(model, name[1:])(data):
                    return False
            elif not getattr(model, name)(data):
                return False
        return True

    def _step(self, event, data):
        rows = self._rows.get(event)
        if rows is None:
            return False
        for row in rows:
            if self._from(row[0], self.state) and self._passes(row[3], data):
                old = self.state
                if row[2] is not None:
                    self.state = row[2]
                for name in row[4]:
                    getattr(self.model, name)(data)
                if self.on_change is not None:
                    self.on_change(old, event, self.state)
                return True
        return False

    def fire(self, event, data=None):
        """Run ``event``; True if a transition was taken (for a queued event: it was queued)."""
        if self._running:
            self._queue.append((event, data))
            return True
        self._running = True
        try:
            taken = self._step(event, data)
            while self._queue:
                queued = self._queue.pop(0)
                self._step(queued[0], queued[1])
        finally:
            self._running = False
        return taken

    def can(self, event):
        """True if some row takes ``event`` from the current state (guards not asked)."""
        for row in self._rows.get(event, ()):
            if self._from(row[0], self.state):
                return True
        return False
