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
        self._rows = {}  # type: dict
        for row in table:
            source, event, dest = row[0], row[1], row[2]
            if dest is not None and dest not in states:
                raise ValueError("unknown destination state " + dest)
            if source == "*":
                sources = states
            elif isinstance(source, tuple):
                sources = source
            else:
                sources = (source,)
            for s in sources:
                if s not in states:
                    raise ValueError("unknown source state " + s)
                key = s + "|" + event
                rows = self._rows.get(key)
                if rows is None:
                    rows = self._rows[key] = []
                rows.append(row)
        self._queue = []
        self._running = False
        self.on_change = None  # called with (old, event, new) after every taken transition

    def _passes(self, guards, data):
        model = self.model
        for name in guards:
            if name[0] == "!":
                if getattr(model, name[1:])(data):
                    return False
            elif not getattr(model, name)(data):
                return False
        return True

    def _step(self, event, data):
        rows = self._rows.get(self.state + "|" + event)
        if rows is None:
            return False
        for row in rows:
            if self._passes(row[3], data):
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
        return (self.state + "|" + event) in self._rows
