"""Messages and signing: encoding, validation naming the field, HMAC vectors (PRT-MSG, PRT-AUTH)."""

from binascii import hexlify

from firmware.punch import FLAG_OFFLINE, KIND_BREAK_END, METHOD_FINGER, Punch
from protocol import messages, sign
from protocol.codes import MALFORMED, ProtocolError

MICROPYTHON_HEAPSIZE = "512K"  # see test_protocol_http.py


def field_error(func, *args):
    try:
        func(*args)
    except ProtocolError as e:
        assert e.code == MALFORMED
        return e.field, str(e)
    raise AssertionError("no ProtocolError")


def test_punch_round_trip_synced_and_unsynced():
    p = Punch(1795000000, KIND_BREAK_END, METHOD_FINGER, b"\x00\x2a", True, 540, 3, FLAG_OFFLINE, 9)
    text = messages.encode_punch(p)
    assert text == '{"seq":9,"t":1795000000,"tz":540,"k":4,"m":2,"cred":"002a","f":1}'
    body = messages.encode_batch([p])
    q = messages.decode_batch(body, 10)[0]
    assert q.key()[:7] == p.key()[:7] and q.flags == FLAG_OFFLINE
    u = Punch(3600, 1, 1, b"\x01" * 8, False, 0, 17, 0, 10)
    text = messages.encode_punch(u)
    assert '"up":3600,"boot":17' in text and '"t"' not in text
    v = messages.decode_batch(messages.encode_batch([u]), 10)[0]
    assert v == u


def test_a_punch_in_a_100_batch_costs_under_100_bytes():
    punches = []
    for i in range(100):
        p = Punch(1795000000 + i * 37, 2, 1, bytes(range(i, i + 8)), True, 540, 1, 1, 100000 + i)
        punches.append(p)
    body = messages.encode_batch(punches)
    assert len(body) / 100 < 100


def test_punch_validation_names_the_field():
    ok = '{"seq":1,"t":1795000000,"tz":540,"k":1,"m":1,"cred":"0102"}'
    assert messages.decode_batch(('{"punches":[%s]}' % ok).encode(), 10)[0].seq == 1
    cases = [
        ('{"seq":0,"t":1,"tz":0,"k":1,"m":1,"cred":"01"}', "punches[0].seq"),
        ('{"seq":"1","t":1,"tz":0,"k":1,"m":1,"cred":"01"}', "punches[0].seq"),
        ('{"seq":true,"t":1,"tz":0,"k":1,"m":1,"cred":"01"}', "punches[0].seq"),
        ('{"seq":1,"t":1.5,"tz":0,"k":1,"m":1,"cred":"01"}', "punches[0].t"),
        ('{"seq":1,"t":-1,"tz":0,"k":1,"m":1,"cred":"01"}', "punches[0].t"),
        ('{"seq":1,"t":1,"tz":7,"k":1,"m":1,"cred":"01"}', "punches[0].tz"),
        ('{"seq":1,"t":1,"k":1,"m":1,"cred":"01"}', "punches[0].tz"),
        ('{"seq":1,"t":1,"tz":0,"up":5,"k":1,"m":1,"cred":"01"}', "punches[0].up"),
        ('{"seq":1,"up":5,"k":1,"m":1,"cred":"01"}', "punches[0].boot"),
        ('{"seq":1,"t":1,"tz":0,"k":9,"m":1,"cred":"01"}', "punches[0].k"),
        ('{"seq":1,"t":1,"tz":0,"k":1,"m":0,"cred":"01"}', "punches[0].m"),
        ('{"seq":1,"t":1,"tz":0,"k":1,"m":1,"cred":"0G"}', "punches[0].cred"),
        ('{"seq":1,"t":1,"tz":0,"k":1,"m":1,"cred":"0A"}', "punches[0].cred"),
        ('{"seq":1,"t":1,"tz":0,"k":1,"m":1,"cred":""}', "punches[0].cred"),
        ('{"seq":1,"t":1,"tz":0,"k":1,"m":1,"cred":"%s"}' % ("00" * 13), "punches[0].cred"),
        ('{"seq":1,"t":1,"tz":0,"k":1,"m":1,"cred":"01","f":256}', "punches[0].f"),
        ("[1]", "punches[0]"),
    ]
    for item, field in cases:
        got, text = field_error(messages.decode_batch, ('{"punches":[%s]}' % item).encode(), 10)
        assert got == field, (item, got, text)
        assert text.startswith(field)


def test_batch_validation():
    one = '{"seq":%d,"t":1,"tz":0,"k":1,"m":1,"cred":"01"}'
    cases = [
        (b"", "body"),
        (b"\xff\xfe", "body"),
        (b"{", "body"),
        (b"[]", "body"),
        (b'{"punches":{}}', "punches"),
        (b'{"punches":[]}', "punches"),
        (b'{"other":1}', "punches"),
        (('{"punches":[%s,%s]}' % (one % 2, one % 1)).encode(), "punches[1].seq"),
        (('{"punches":[%s,%s]}' % (one % 2, one % 2)).encode(), "punches[1].seq"),
        (('{"punches":[%s]}' % ",".join([one % (i + 1) for i in range(11)])).encode(), "punches"),
    ]
    for body, field in cases:
        assert field_error(messages.decode_batch, body, 10)[0] == field, body


def test_unknown_fields_are_ignored():
    body = b'{"punches":[{"seq":1,"t":1,"tz":0,"k":1,"m":1,"cred":"01","new":[1]}],"v2":true}'
    assert messages.decode_batch(body, 10)[0].seq == 1


def test_hello_and_heartbeat_validation():
    good = (
        b'{"fw":"1.0","board":"b","cfg":0,"roster":0,'
        b'"journal":{"next":1,"unsent":0,"cap":10},"clock":{"synced":false,"boot":1,"up":5}}'
    )
    assert messages.decode_hello(good)["clock"]["time"] is None
    bad = good.replace(b'"synced":false', b'"synced":true')
    assert field_error(messages.decode_hello, bad)[0] == "clock.time"
    bad = good.replace(b'"next":1', b'"next":0')
    assert field_error(messages.decode_hello, bad)[0] == "journal.next"
    hb = b'{"journal":{"next":1,"unsent":0,"cap":10},"clock":{"synced":false,"boot":1,"up":5},'
    ok = hb + b'"results":[{"id":"c1","status":"ok"}]}'
    assert messages.decode_heartbeat(ok)["results"] == [{"id": "c1", "status": "ok", "detail": ""}]
    bad = hb + b'"results":[{"id":"c1","status":"maybe"}]}'
    assert field_error(messages.decode_heartbeat, bad)[0] == "results[0].status"


def test_hostile_replies_are_refused_naming_the_field():
    reply = b'{"time":5,"results":[{"seq":1,"code":0}],"high":1}'
    assert messages.decode_batch_reply(reply, (1,))["results"] == {1: 0}
    cases = [
        (b'{"time":5,"results":[{"seq":2,"code":0}],"high":1}', "results[0].seq"),
        (b'{"time":5,"results":[],"high":1}', "results"),
        (b'{"time":5,"results":[{"seq":1,"code":0},{"seq":1,"code":0}],"high":1}', "results"),
        (b'{"results":[{"seq":1,"code":0}],"high":1}', "time"),
        (b'{"time":5,"results":[{"seq":1,"code":"0"}],"high":1}', "results[0].code"),
    ]
    for body, field in cases:
        assert field_error(messages.decode_batch_reply, body, (1,))[0] == field, body
    hello = b'{"time":5,"heartbeat_s":1,"limits":{"batch":10,"body":2048},"roster":0}'
    assert field_error(messages.decode_hello_reply, hello)[0] == "heartbeat_s"
    windows = b'{"time":5,"commands":[],"maintenance":{"now":{"start":9,"end":"3"}}}'
    assert field_error(messages.decode_heartbeat_reply, windows)[0] == "maintenance.now.end"
    commands = b'{"time":5,"commands":[{"id":"x","op":5}]}'
    assert field_error(messages.decode_heartbeat_reply, commands)[0] == "commands[0].op"
    commands = b'{"time":5,"commands":[{"op":"reboot"}]}'  # no id: it cannot be answered
    assert field_error(messages.decode_heartbeat_reply, commands)[0] == "commands[0].id"
    assert messages.decode_error(b"not json") is None
    assert messages.decode_error(b'{"code":"x"}') is None


def test_an_odd_window_or_command_is_dropped_or_rejected_alone():
    """PRT-MNT-1, PRT-CMD-1: a window ending before it starts is ignored; a command whose
    members make no sense (``to`` before ``from``) comes back to be answered rejected."""
    body = (
        b'{"time":5,"maintenance":{"now":{"start":9,"end":3},"windows":[{"start":9,"end":3},'
        b'{"start":20,"end":30}]},"commands":[{"id":"x","op":"resend","from":5,"to":2},'
        b'{"id":"y","op":"reboot"}]}'
    )
    info = messages.decode_heartbeat_reply(body)
    assert info["maintenance"] is None
    assert info["windows"] == [{"start": 20, "end": 30, "notice": ""}]
    bad, reboot = info["commands"]
    assert bad["id"] == "x" and "to" in bad["invalid"] and reboot == {"id": "y", "op": "reboot"}
    missing = b'{"time":5,"commands":[{"id":"z","op":"resend","from":5}]}'
    assert "required" in messages.decode_heartbeat_reply(missing)["commands"][0]["invalid"]


def test_hmac_sha256_matches_rfc_4231():
    # RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
    vectors = [
        (
            b"\x0b" * 20,
            b"Hi There",
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        ),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            b"\xaa" * 131,
            b"Test Using Larger Than Block-Size Key - Hash Key First",
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ]
    # The empty key and message (a well-known value), which must not be taken for the empty
    # cache entry the module starts with.
    vectors.append((b"", b"", "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad"))
    # Forwards, backwards and repeated: the padded key is cached for the last key only.
    for key, message, expected in vectors + vectors[::-1] + vectors[:1] + vectors[:1]:
        assert hexlify(sign.hmac_sha256(key, message)).decode() == expected


def test_signature_verification():
    message = sign.request_string("POST", "/v1/punches", "A", "T", 5, "n", b"{}")
    header = sign.sign(b"k", message)
    assert header.startswith("hmac-sha256=") and len(header) == 12 + 64
    assert sign.verify(b"k", message, header)
    assert not sign.verify(b"other", message, header)
    assert not sign.verify(b"k", message + b"x", header)
    assert not sign.verify(b"k", message, header[:-1])
    assert not sign.verify(b"k", message, header.replace("hmac-sha256=", "sha1="))
    assert not sign.verify(b"k", message, None)
    assert sign.equal(b"abc", b"abc") and not sign.equal(b"abc", b"abd")


def test_hostile_roster_pages_are_refused_naming_the_field():
    good = b'{"time":5,"version":2,"upsert":[{"code":"E1","name":"A","cards":["0102"]}]}'
    page = messages.decode_roster_reply(good)
    assert page["upsert"][0]["cards"] == [b"\x01\x02"] and page["next"] is None
    cases = [
        (good.replace(b'"0102"', b'"01XZ"'), "upsert[0].cards[0]"),
        (good.replace(b'"0102"', b'"' + b"00" * 13 + b'"'), "upsert[0].cards[0]"),
        (good.replace(b'"cards":["0102"]', b'"fingers":[70000]'), "upsert[0].fingers[0]"),
        (good.replace(b'"cards":["0102"]', b'"lines":[5]'), "upsert[0].lines[0]"),
        (good.replace(b'"name":"A"', b'"name":7'), "upsert[0].name"),
        (good.replace(b'"upsert"', b'"delete":[1],"x"'), "delete[0]"),
        (b'{"time":5,"version":2,"upsert":[3]}', "upsert[0]"),
    ]
    for body, field in cases:
        assert field_error(messages.decode_roster_reply, body)[0] == field, body


def test_an_optional_integer_sent_as_null_is_refused_naming_it():
    """An optional integer is left out, never null (protocol/openapi.json): schemathesis found
    the receiver taking ``"f": null`` in a punch and ``"time": null`` in hello's clock as if
    they were absent (tests/cloud/test_fuzz.py, a fresh clone's run)."""
    item = '{"seq":5,"up":31386,"boot":0,"k":0,"m":1,"cred":"00","f":null}'
    field, text = field_error(messages.decode_batch, ('{"punches":[%s]}' % item).encode(), 10)
    assert field == "punches[0].f" and "must be an integer" in text, (field, text)
    hello = (b'{"fw":"0.1.0","board":"b","roster":0,"cfg":0,'
             b'"clock":{"synced":false,"time":null,"boot":1,"up":5},'
             b'"journal":{"next":1,"unsent":0,"cap":10}}')  # fmt: skip
    field, text = field_error(messages.decode_hello, hello)
    assert field.endswith("time") and "must be an integer" in text, (field, text)
    left_out = hello.replace(b'"time":null,', b"")
    assert messages.decode_hello(left_out)["clock"]["time"] is None
    for name in (b"fw", b"board"):  # a string left out is "required"; null is not a string
        nulled = hello.replace(b'"' + name + b'":"', b'"' + name + b'":null,"x":"')
        assert field_error(messages.decode_hello, nulled)[0] == name.decode()
    page = b'{"time":1795000000,"version":3,"full":true,"upsert":[],"delete":[],"next":null}'
    assert messages.decode_roster_reply(page)["next"] is None  # roster's next: null ends a fetch
