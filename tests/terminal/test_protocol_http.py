"""The HTTP/1.1 codec: framing, limits and a clear error for every malformed input (PRT-HTTP)."""

from protocol.http import (
    HttpError,
    HttpTooLarge,
    RequestParser,
    ResponseParser,
    encode_request,
    encode_response,
)

# At 64K the WASI interpreter's GC corrupts the heap in the limit tests (an out-of-bounds trap;
# tests/tools/test_interpreter_issues.py), so this module runs with the journal tests' heap.
MICROPYTHON_HEAPSIZE = "512K"


def feed_bytewise(parser, data):
    result = None
    for i in range(len(data)):
        result = parser.feed(data[i : i + 1])
        if result is not None and i < len(data) - 1:
            parser.feed(data[i + 1 :])
            break
    return result


def expect_error(data, words, parser=None, eof=False):
    parser = parser or ResponseParser()
    try:
        parser.feed(data)
        if eof:
            parser.eof()
    except HttpError as e:
        for word in words.split("|"):
            if word in str(e):
                return e
        raise AssertionError("message %r lacks %r" % (str(e), words))
    raise AssertionError("no error for %r" % (data,))


def test_request_round_trip_through_the_request_parser():
    data = encode_request("POST", "/v1/punches", "example", [("Dakoku-Nonce", "ab")], b'{"a":1}')
    assert data.startswith(b"POST /v1/punches HTTP/1.1\r\nHost: example\r\n")
    msg = RequestParser().feed(data)
    assert msg.method == "POST" and msg.target == "/v1/punches"
    assert msg.header("dakoku-nonce") == "ab" and msg.header("content-length") == "7"
    assert msg.body == b'{"a":1}'


def test_response_with_content_length_fed_one_byte_at_a_time():
    data = encode_response(200, [("Content-Type", "application/json")], b'{"ok":true}')
    msg = feed_bytewise(ResponseParser(), data)
    assert msg.status == 200 and msg.reason == "OK" and msg.body == b'{"ok":true}'


def test_chunked_response_with_extensions_and_trailers():
    data = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    assert ResponseParser().feed(data).body == b"abcdefg"
    assert feed_bytewise(ResponseParser(), data).body == b"abcdefg"


def test_interim_100_continue_is_skipped():
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"
    msg = ResponseParser().feed(data)
    assert msg.status == 204 and msg.body == b""


def test_close_delimited_body_needs_eof():
    parser = ResponseParser()
    assert parser.feed(b"HTTP/1.0 200 OK\r\n\r\nhello") is None
    assert parser.eof().body == b"hello"


def test_bytes_after_a_complete_message_are_kept_apart():
    parser = ResponseParser()
    msg = parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
    assert msg.body == b"ok" and parser.trailing == b"EXTRA"


def test_repeated_headers_are_joined_and_names_are_case_insensitive():
    msg = ResponseParser().feed(
        b"HTTP/1.1 204 No Content\r\nVia: a\r\nVIA: b\r\nContent-Length: 0\r\n\r\n"
    )
    assert msg.header("via") == "a, b"


def test_malformed_responses_each_get_a_clear_error():
    cases = [
        (b"SMTP ready\r\n\r\n", "status line"),
        (b"HTTP/2 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 2x0 OK\r\n\r\n", "status code"),
        (b"HTTP/1.1 999 Odd\r\n\r\n", "status code"),
        (b"HTTP/1.1 200 OK\r\nBad Header\r\n\r\n", "colon"),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", "header name"),
        (b"HTTP/1.1 200 OK\r\nA: 1\r\n folded\r\n\r\n", "folding"),
        (b"HTTP/1.1 200 OK\r\nA: \x01\r\n\r\n", "control"),
        (b"HTTP/1.1 200 OK\r\nA: \xe3\x81\x82\r\n\r\n", "non-ASCII"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            "both",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "transfer coding"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n", "CRLF"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 90, "too long"),
    ]
    for data, words in cases:
        expect_error(data, words)


def test_truncated_responses_are_errors_at_eof():
    expect_error(b"", "before any reply", eof=True)
    expect_error(b"HTTP/1.1 200 OK\r\nContent-", "header section", eof=True)
    expect_error(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "truncated", eof=True)
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"
    expect_error(chunked, "truncated", eof=True)


# The limit tests are one per function: each runs in a fresh guest, which keeps the WASI
# interpreter's GC defect (see above) out of their way.


def test_content_length_over_the_limit_is_refused_before_the_body_arrives():
    e = expect_error(b"HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n", "limit")
    assert isinstance(e, HttpTooLarge) and e.status == 413


def test_close_delimited_body_over_the_limit():
    small = ResponseParser(max_body=10)
    expect_error(b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 11, "larger", parser=small)


def test_chunked_body_over_the_limit():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n"
    expect_error(chunked, "limit", parser=ResponseParser(max_body=10))


def test_header_section_over_the_limit():
    e = expect_error(b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 1400, "header section")
    assert e.status == 431


def test_too_many_header_fields():
    many = b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 60 + b"\r\n"
    expect_error(many, "header fields")


def test_trailer_section_over_the_limit():
    trailer = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"T: x\r\n" * 1400
    expect_error(trailer, "trailer")


def test_malformed_requests_each_get_a_clear_error():
    cases = [
        (b"GET\r\n\r\n", "request line"),
        (b"GET / HTTP/1.1 extra\r\n\r\n", "request line"),
        (b"G(T / HTTP/1.1\r\n\r\n", "method"),
        (b"GET / HTTP/3\r\n\r\n", "version"),
        (b"GET http://x/ HTTP/1.1\r\n\r\n", "absolute path"),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", "limit"),
    ]
    for data, words in cases:
        expect_error(data, words, parser=RequestParser())


def test_request_without_body_framing_has_an_empty_body():
    msg = RequestParser().feed(b"GET /v1/roster?since=3 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert msg.target == "/v1/roster?since=3" and msg.body == b""


def test_header_injection_is_refused_when_encoding():
    try:
        encode_request("POST", "/", "h", [("X", "a\r\nInjected: 1")], b"")
    except HttpError as e:
        assert "line break" in str(e)
    else:
        raise AssertionError("header injection was encoded")
