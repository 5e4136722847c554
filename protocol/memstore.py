"""An in-memory store for :class:`protocol.server.Server` (MicroPython-compatible).

The reference implementation of the store interface: tests wire it to a server and a client in
memory, and the protocol benchmark measures the server with it. The reference receiver keeps the
same data in SQLite or PostgreSQL.
"""

from protocol.codes import CONFLICT, CREDENTIAL_TAKEN, MALFORMED, UNKNOWN_EMPLOYEE, ProtocolError


class MemoryStore:
    def __init__(self):
        self.tenants = {}  # code -> {"enabled"}
        self.terminals = {}  # (tenant, id) -> {"secret", "enabled"}
        self.punches = {}  # (tenant, id) -> {seq: (punch key, code)}
        self.clock_high = {}  # (tenant, id) -> {seq: latest trusted time up to it, or None}
        self.conflicts = []  # (tenant, id, punch, time received)
        self.credentials = {}  # (tenant, method, credential) -> employee code
        self.employees = {}  # (tenant, code) -> employee dict (see messages.decode_employee)
        self.employee_versions = {}  # (tenant, code) -> roster version of its last change
        self.deleted = {}  # (tenant, code) -> roster version of its deletion
        self.roster_version = {}  # tenant -> int
        self.nonces = {}  # (tenant, id) -> {nonce: time used}
        self.windows = []  # maintenance windows {"start", "end", "notice"}
        self.config = {}  # (tenant, id) -> {"version", "values"}
        self.min_offline_fw = ""
        self.pending = {}  # (tenant, id) -> [command]
        self.results = []  # (tenant, id, result): the first result of each command ID
        self.done = {}  # (tenant, id) -> {command IDs with a result}
        self.sent = {}  # (tenant, id) -> {command IDs sent at least once}
        self.states = {}  # (tenant, id) -> (kind, info, now)
        self.logs = {}  # (tenant, id) -> {n: event}
        self.throttle_s = 0
        self.fail = None  # an exception to raise from store_punches (tests of 500 answers)

    # ----------------------------------------------------------------------- administration

    def add_tenant(self, code, enabled=True):
        self.tenants[code] = {"enabled": enabled}
        self.roster_version.setdefault(code, 0)

    def add_terminal(self, tenant, terminal_id, secret, enabled=True, registered=0):
        self.terminals[(tenant, terminal_id)] = {
            "secret": secret,
            "enabled": enabled,
            "registered": registered,
        }

    def add_employee(self, tenant, code, name, cards=(), fingers=(), lines=(), lang=""):
        version = self.roster_version.get(tenant, 0) + 1
        self.roster_version[tenant] = version
        employee = {
            "code": code,
            "name": name,
            "lang": lang,
            "cards": [c.hex() for c in cards],
            "fingers": list(fingers),
            "lines": list(lines),
        }
        self.employees[(tenant, code)] = employee
        self.employee_versions[(tenant, code)] = version
        self.deleted.pop((tenant, code), None)
        for card in cards:
            self.credentials[(tenant, 1, bytes(card))] = code
        for finger in fingers:
            self.credentials[(tenant, 2, finger.to_bytes(2, "big"))] = code

    def remove_employee(self, tenant, code):
        version = self.roster_version.get(tenant, 0) + 1
        self.roster_version[tenant] = version
        self.employees.pop((tenant, code), None)
        self.employee_versions.pop((tenant, code), None)
        self.deleted[(tenant, code)] = version
        for key in list(self.credentials):
            if key[0] == tenant and self.credentials[key] == code:
                del self.credentials[key]

    def held(self, tenant, terminal_id):
        return self.punches.get((tenant, terminal_id), {})

    # ------------------------------------------------------------------ store interface

    def tenant(self, code):
        return self.tenants.get(code)

    def terminal(self, tenant, terminal_id):
        return self.terminals.get((tenant, terminal_id))

    def use_nonce(self, tenant, terminal_id, nonce, now, keep_s):
        seen = self.nonces.setdefault((tenant, terminal_id), {})
        if nonce in seen and now - seen[nonce] <= keep_s:
            return False
        if len(seen) > 256:
            for old in list(seen):
                if now - seen[old] > keep_s:
                    del seen[old]
        seen[nonce] = now
        return True

    def maintenance(self, now):
        current = None
        upcoming = []
        for w in self.windows:
            if w["start"] <= now < w["end"]:
                current = w
            elif w["start"] > now:
                upcoming.append(w)
        return current, upcoming

    def throttle(self, tenant, terminal_id, now, cost=0):
        return self.throttle_s

    def credential_known(self, tenant, method, credential):
        if method == 3:  # card and finger: the card identifies
            method = 1
        return (tenant, method, bytes(credential)) in self.credentials

    def known_credentials(self, tenant, pairs):
        known = set()
        for method, credential in pairs:
            if self.credential_known(tenant, method, credential):
                known.add((method, bytes(credential)))
        return known

    def clock_context(self, tenant, terminal_id, seq):
        highs = self.clock_high.get((tenant, terminal_id), {})
        below = [s for s in highs if s < seq]
        term = self.terminals.get((tenant, terminal_id)) or {}
        return {
            "high": highs[max(below)] if below else None,
            "registered": term.get("registered", 0),
        }

    def store_punches(self, tenant, terminal_id, rows, now):
        if self.fail is not None:
            raise self.fail
        held = self.punches.setdefault((tenant, terminal_id), {})
        highs = self.clock_high.setdefault((tenant, terminal_id), {})
        out = []
        for row in rows:
            punch, code = row[0], row[1]
            old = held.get(punch.seq)
            if old is None:
                held[punch.seq] = (punch.key(), code)
                highs[punch.seq] = row[2] if len(row) > 2 else None
                out.append((punch.seq, code, False))
            elif old[0] == punch.key():
                out.append((punch.seq, old[1], True))
            else:
                self.conflicts.append((tenant, terminal_id, punch, now))
                out.append((punch.seq, CONFLICT, True))
        return out

    def high_seq(self, tenant, terminal_id):
        held = self.punches.get((tenant, terminal_id))
        if not held:
            return 0
        return max(held)

    def terminal_settings(self, tenant, terminal_id):
        return {
            "config": self.config.get((tenant, terminal_id)),
            "roster": self.roster_version.get(tenant, 0),
            "min_offline_fw": self.min_offline_fw,
        }

    def record_state(self, tenant, terminal_id, kind, info, now):
        key = (tenant, terminal_id)
        before = self.states.get(key)
        if kind == "hello" and before is not None:
            old_boot = (before[1].get("clock") or {}).get("boot")
            new_boot = (info.get("clock") or {}).get("boot")
            if old_boot is not None and old_boot != new_boot:
                # A reboot's result is lost with the reboot: the new boot's hello is its result.
                for cmd in list(self.pending.get(key, [])):
                    if cmd["op"] == "reboot" and cmd["id"] in self.sent.get(key, ()):
                        detail = "restarted (boot %s, then %s)" % (old_boot, new_boot)
                        self._result(key, {"id": cmd["id"], "status": "ok", "detail": detail})
        self.states[key] = (kind, info, now)

    def _result(self, key, result):
        """The first result of a command ID counts; the command is then no longer sent."""
        done = self.done.setdefault(key, set())
        if result["id"] in done:
            return
        done.add(result["id"])
        self.results.append((key[0], key[1], result))
        queue = self.pending.get(key, [])
        self.pending[key] = [cmd for cmd in queue if cmd["id"] != result["id"]]

    def commands(self, tenant, terminal_id, results, now, limit=20):
        key = (tenant, terminal_id)
        for result in results:
            self._result(key, result)
        # Sent in every answer until its result arrives (PRT-CMD-2): a lost answer loses nothing.
        out = []
        sent = self.sent.setdefault(key, set())
        for cmd in self.pending.get(key, [])[:limit]:
            sent.add(cmd["id"])
            out.append(dict(cmd))
        return out

    def roster(self, tenant, since, after, limit):
        version = self.roster_version.get(tenant, 0)
        full = since == 0 or since > version
        if not full:
            removed = 0
            for key in self.deleted:
                if key[0] == tenant and self.deleted[key] > since:
                    removed += 1
            full = removed > 1000  # more than a page can say (server.ROSTER_PAGE_MAX)
        changed = []
        for key in self.employees:
            if key[0] == tenant and (full or self.employee_versions[key] > since):
                changed.append(key[1])
        changed.sort()
        if after is not None:
            changed = [code for code in changed if code > after]
        page = changed[:limit]
        delete = []
        if not full and after is None:
            for key in self.deleted:
                if key[0] == tenant and self.deleted[key] > since:
                    delete.append(key[1])
        return {
            "version": version,
            "full": full,
            "upsert": [self.employees[(tenant, code)] for code in page],
            "delete": delete,
            "next": page[-1] if len(changed) > limit else None,
        }

    def store_log(self, tenant, terminal_id, events, now):
        log = self.logs.setdefault((tenant, terminal_id), {})
        for event in events:
            log.setdefault(event["n"], event)
        return max(log) if log else 0

    def enrol(self, tenant, code, method, credential, now):
        employee = self.employees.get((tenant, code))
        if employee is None:
            raise ProtocolError(UNKNOWN_EMPLOYEE, "no employee %s" % code, "code")
        key = (tenant, method, bytes(credential))
        owner = self.credentials.get(key)
        if owner is not None and owner != code:
            raise ProtocolError(CREDENTIAL_TAKEN, "credential belongs to another employee", "cred")
        if owner is None:
            held = employee["cards"] if method == 1 else employee["fingers"]
            if len(held) >= (8 if method == 1 else 10):  # openapi.json Employee
                raise ProtocolError(MALFORMED, "no more credentials fit the roster record", "cred")
            version = self.roster_version.get(tenant, 0) + 1
            self.roster_version[tenant] = version
            if method == 1:
                employee["cards"].append(bytes(credential).hex())
            else:
                employee["fingers"].append(int.from_bytes(bytes(credential), "big"))
            self.employee_versions[(tenant, code)] = version
            self.credentials[key] = code
        return {"code": code, "name": employee["name"], "roster": self.roster_version[tenant]}
