"""Unit and property tests of ``torouter._sse.SSEDecoder``, the incremental SSE decoder.

The decoder must give the same events however the network splits the body, for every line
ending the SSE spec allows (LF, CRLF, CR), and must refuse unbounded lines and events with
``StreamDecodeError`` instead of growing without limit.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import torouter
from torouter._sse import MAX_EVENT_BYTES, MAX_LINE_BYTES, SSEDecoder

Event = tuple[bytes | None, bytes]


def feed_all(pieces: Iterable[bytes], decoder: SSEDecoder | None = None) -> list[Event]:
    decoder = decoder or SSEDecoder()
    events: list[Event] = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    return events


def bytewise(data: bytes) -> list[bytes]:
    return [data[i:i + 1] for i in range(len(data))]


# ---------------------------------------------------------------------------------------------
# Line endings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
def test_line_endings(eol: bytes) -> None:
    body = b"data: one" + eol + eol + b"event: e" + eol + b"data: two" + eol + eol
    expected = [(None, b"one"), (b"e", b"two")]
    decoder = SSEDecoder()
    # (a final CR is held back: it may be the first half of a CRLF; the LF after it settles it)
    assert decoder.feed(body) + decoder.feed(b"\n") == expected
    assert feed_all([*bytewise(body), b"\n"]) == expected
    if eol != b"\r":
        assert SSEDecoder().feed(body) == expected


def test_mixed_line_endings() -> None:
    body = b"data: a\r\ndata: b\rdata: c\n\r\ndata: d\r\r"
    decoder = SSEDecoder()
    assert decoder.feed(body) + decoder.feed(b"\n") == [(None, b"a\nb\nc"), (None, b"d")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    # If the CR had been taken as a line end, the LF would end the event here with no blank line.
    assert decoder.feed(b"\ndata: y\r") == []
    assert decoder.feed(b"\n\r") == []
    assert decoder.feed(b"\n") == [(None, b"x\ny")]


def test_cr_at_chunk_end_followed_by_text_is_a_line_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"\rdata: y\n\n") == [(None, b"x"), (None, b"y")]


def test_trailing_cr_is_held_until_the_next_byte() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\r\r") == []  # the last CR may be the start of a CRLF
    assert decoder.pending
    assert decoder.feed(b"\n") == [(None, b"x")]
    assert not decoder.pending


# ---------------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------------


def test_multi_line_data_is_joined_with_newlines() -> None:
    body = b"data: {\ndata:   \"a\": 1\ndata: }\n\n"
    assert SSEDecoder().feed(body) == [(None, b'{\n  "a": 1\n}')]


def test_comments_are_ignored() -> None:
    body = b": keep-alive\n\n:\n: another\ndata: x\n: inside an event\n\n"
    assert SSEDecoder().feed(body) == [(None, b"x")]


def test_event_names() -> None:
    body = (b"event: error\ndata: {}\n\n"
            b"data: plain\n\n"
            b"event: message_start\nevent: message_delta\ndata: last name wins\n\n")
    assert SSEDecoder().feed(body) == [
        (b"error", b"{}"),
        (None, b"plain"),
        (b"message_delta", b"last name wins"),
    ]


def test_event_name_does_not_leak_into_the_next_event() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: ping\n\n") == []  # a name without data dispatches nothing
    assert decoder.feed(b"data: x\n\n") == [(None, b"x")]


def test_data_without_space_and_with_extra_spaces() -> None:
    body = b"data:x\n\ndata:  two spaces\n\ndata\n\ndata:\n\n"
    assert SSEDecoder().feed(body) == [
        (None, b"x"),
        (None, b" two spaces"),  # only one leading space is removed
        (None, b""),  # "data" alone is a data field with an empty value
        (None, b""),
    ]


def test_id_retry_and_unknown_fields_are_ignored() -> None:
    body = b"id: 7\nretry: 1000\nfoo: bar\ndata: x\n\n"
    assert SSEDecoder().feed(body) == [(None, b"x")]


def test_done_marker_is_an_ordinary_event() -> None:
    assert SSEDecoder().feed(b"data: [DONE]\n\n") == [(None, b"[DONE]")]


@pytest.mark.parametrize("body", [b"", b"\n", b"\n\n\n\n", b"\r\n\r\n", b"\r\r\r\n"])
def test_blank_lines_only_give_no_events(body: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(body) == []
    assert feed_all(bytewise(body)) == []
    assert not decoder.pending


def test_pending_reports_an_unfinished_event() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: {\"partial\"")
    assert decoder.pending
    decoder.feed(b"}\n")
    assert decoder.pending  # a complete line but no blank line yet
    assert decoder.feed(b"\n") == [(None, b'{"partial"}')]
    assert not decoder.pending


def test_data_stays_bytes_including_invalid_utf8() -> None:
    assert SSEDecoder().feed(b"data: \xff\xfe\n\n") == [(None, b"\xff\xfe")]


# ---------------------------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------------------------


def test_default_limits() -> None:
    decoder = SSEDecoder()
    assert (decoder.max_line, decoder.max_event) == (MAX_LINE_BYTES, MAX_EVENT_BYTES)
    # the documented limits (RELIABILITY.md): 4 MiB per line, 16 MiB per event
    assert (MAX_LINE_BYTES, MAX_EVENT_BYTES) == (4 * 2**20, 16 * 2**20)


def test_over_long_line_without_end_raises() -> None:
    decoder = SSEDecoder(max_line=32)
    decoder.feed(b"data: " + b"x" * 20)
    with pytest.raises(torouter.StreamDecodeError):
        decoder.feed(b"y" * 20)


def test_over_long_complete_line_raises_too() -> None:
    # Whether a line is too long must not depend on how the network split it.
    with pytest.raises(torouter.StreamDecodeError):
        SSEDecoder(max_line=32).feed(b"data: " + b"x" * 40 + b"\n\n")


def test_line_of_exactly_the_limit_is_accepted_with_any_ending() -> None:
    line = b"data: " + b"x" * 26  # 32 bytes
    for eol in (b"\n", b"\r\n", b"\r"):
        body = line + eol + eol
        assert feed_all([*bytewise(body), b"\n"], SSEDecoder(max_line=32)) == [(None, b"x" * 26)]
        assert feed_all([body, b"\n"], SSEDecoder(max_line=32)) == [(None, b"x" * 26)]


def test_a_long_line_arriving_in_pieces_is_not_rescanned_on_every_read() -> None:
    # 64 reads of 64 KiB reach the 4 MiB line limit. Rebuilding and rescanning the whole buffer
    # on every read (quadratic) once took ~0.75 s, long enough to trip a stream's idle timeout
    # first. Proven without a clock: while a line is unfinished, each read is appended in place
    # to the same buffer (never copied), until the limit raises.
    decoder = SSEDecoder()
    decoder.feed(b"data: ")
    held = decoder._buf
    piece = b"x" * 65536
    reads = 0
    with pytest.raises(torouter.StreamDecodeError):
        for _ in range(MAX_LINE_BYTES // len(piece) + 1):
            decoder.feed(piece)
            reads += 1
            assert decoder._buf is held and len(held) == 6 + reads * len(piece)
    assert reads == MAX_LINE_BYTES // len(piece) - 1 or reads == MAX_LINE_BYTES // len(piece)


def test_over_large_event_raises() -> None:
    decoder = SSEDecoder(max_line=64, max_event=100)
    decoder.feed(b"data: " + b"a" * 50 + b"\n")
    with pytest.raises(torouter.StreamDecodeError) as info:
        decoder.feed(b"data: " + b"b" * 51 + b"\n")
    assert isinstance(info.value, torouter.APIResponseValidationError)


def test_event_size_limit_resets_between_events() -> None:
    decoder = SSEDecoder(max_line=64, max_event=100)
    body = (b"data: " + b"a" * 50 + b"\n\n") * 10
    assert len(decoder.feed(body)) == 10


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

_line_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)),
    max_size=30,
)
_events = st.lists(
    st.tuples(st.none() | _line_text.filter(bool), st.lists(_line_text, min_size=1, max_size=4)),
    max_size=8,
)
_eols = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def _encoded(draw: st.DrawFn) -> tuple[list[Event], bytes]:
    """Events and one encoding of them: random line endings, comments, id fields."""
    events = draw(_events)
    out = bytearray()
    expected: list[Event] = []
    last_eol = [b"\n"]

    def line(text: bytes) -> None:
        eol = draw(_eols)
        if not text and last_eol[0] == b"\r" and eol == b"\n":
            eol = b"\r"  # CR then an empty LF line would read as one CRLF
        last_eol[0] = eol
        out.extend(text + eol)

    for name, data_lines in events:
        if draw(st.booleans()):
            line(b": comment")
        if name is not None:
            line(b"event: " + name.encode())
        if draw(st.booleans()):
            line(b"id: 1")
        for text in data_lines:
            encoded = text.encode()
            # "data:x" and "data: x" mean the same unless x itself starts with a space.
            if draw(st.booleans()) and not encoded.startswith(b" "):
                line(b"data:" + encoded)
            else:
                line(b"data: " + encoded)
        line(b"")
        expected.append((name.encode() if name is not None else None,
                         b"\n".join(t.encode() for t in data_lines)))
    return expected, bytes(out)


@st.composite
def _splits(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_split_gives_the_same_events(data: st.DataObject) -> None:
    expected, body = data.draw(_encoded())
    pieces = data.draw(_splits(body))
    decoder = SSEDecoder()
    # A final CR is held back (it may begin a CRLF); one more LF settles it.
    got = feed_all([*pieces, b"\n"], decoder)
    assert got == expected
    assert SSEDecoder().feed(body) + SSEDecoder().feed(b"") == SSEDecoder().feed(body)
    whole = SSEDecoder()
    assert whole.feed(body) + whole.feed(b"\n") == expected


_raw = st.binary(max_size=300) | st.lists(
    st.sampled_from([b"data:", b"data: ", b"event: ", b":", b"\r", b"\n", b"\r\n", b"x", b"{}",
                     b"[DONE]", b" ", b"\xff", b"y" * 40]),
    max_size=40,
).map(b"".join)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_arbitrary_bytes_give_events_or_stream_decode_error(data: st.DataObject) -> None:
    body = data.draw(_raw)
    pieces = data.draw(_splits(body))
    decoder = SSEDecoder(max_line=48, max_event=96)
    try:
        events = feed_all(pieces, decoder)
    except torouter.StreamDecodeError:
        return
    for name, payload in events:
        assert name is None or isinstance(name, bytes)
        assert isinstance(payload, bytes)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_outcome_does_not_depend_on_the_split(data: st.DataObject) -> None:
    """Same events, or an error either way, however the body is cut (limits included)."""
    body = data.draw(_raw)
    pieces = data.draw(_splits(body))

    def outcome(parts: list[bytes]) -> list[Event] | None:
        decoder = SSEDecoder(max_line=48, max_event=96)
        try:
            return feed_all([*parts, b"\n"], decoder)
        except torouter.StreamDecodeError:
            return None

    assert outcome(pieces) == outcome([body])


# ---------------------------------------------------------------------------------------------
# Reads shaped like real servers' flushes: one event per read, or an event's lines in separate
# reads (the shapes the random splits above rarely produce)
# ---------------------------------------------------------------------------------------------


def test_an_event_name_and_its_data_in_separate_reads_keep_the_name() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"event: error\n") == []
    assert decoder.feed(b'data: {"error": {"message": "boom"}}\n\n') == [
        (b"error", b'{"error": {"message": "boom"}}')
    ]
    # ... and the name applies to that event only
    assert decoder.feed(b"data: next\n\n") == [(None, b"next")]


def test_a_data_line_in_one_read_and_its_blank_line_in_the_next() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.pending
    assert decoder.feed(b"data: b\n") == []
    assert decoder.feed(b"\n") == [(None, b"a\nb")]


def test_a_read_with_a_data_line_and_the_start_of_the_next_line_is_not_an_event() -> None:
    # "data: a\nd": the event has no blank line yet and "d" starts the next line.
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\nd") == []
    assert decoder.pending
    assert decoder.feed(b"ata: b\n\n") == [(None, b"a\nb")]
    assert not decoder.pending


@pytest.mark.parametrize(
    "chunk",
    [b"data: a\rb\n\n", b"data: a\r\n\n", b"data: a\n\r", b"data:\ra\n\n", b"data: a\rdata: b\n\n"],
)
def test_a_carriage_return_inside_a_one_event_read_is_a_line_end(chunk: bytes) -> None:
    # Whatever a one-read event holds, the result is the same as feeding it byte by byte.
    whole = SSEDecoder()
    events = whole.feed(chunk) + whole.feed(b"\n")
    assert events == feed_all([*bytewise(chunk), b"\n"])
    assert b"\r" not in b"".join(data for _, data in events)


def test_a_carriage_return_splits_a_one_read_event_into_two_lines() -> None:
    decoder = SSEDecoder()
    # "b" is a line of its own (a field named "b" without a value): ignored
    assert decoder.feed(b"data: a\rb\n\n") == [(None, b"a")]
    assert SSEDecoder().feed(b"data: a\rdata: b\n\n") == [(None, b"a\nb")]


@pytest.mark.parametrize(
    ("chunk", "expected"),
    [
        (b"data: x\n\n", (None, b"x")),
        (b"data:x\n\n", (None, b"x")),
        (b"data:  x\n\n", (None, b" x")),
        (b"data: \n\n", (None, b"")),
        (b"data:\n\n", (None, b"")),
        (b"data: [DONE]\n\n", (None, b"[DONE]")),
    ],
)
def test_one_event_per_read(chunk: bytes, expected: Event) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(chunk) == [expected]
    assert not decoder.pending


@pytest.mark.parametrize(
    "chunk", [b"data: x\n", b"data: x\nx", b"data: x\n\nx", b"datum: x\n\n", b"dat\n\n",
              b"event: e\n\n", b": data: x\n\n"],
)
def test_reads_that_are_not_one_whole_event(chunk: bytes) -> None:
    # The same events as a byte-by-byte feed; leftovers stay pending, nothing is dropped.
    whole = SSEDecoder()
    split = SSEDecoder()
    assert whole.feed(chunk) == feed_all(bytewise(chunk), split)
    assert whole.pending == split.pending


def test_a_one_event_read_obeys_the_limits() -> None:
    line = b"data: " + b"x" * 10 + b"\n\n"
    with pytest.raises(torouter.StreamDecodeError):
        SSEDecoder(max_line=15).feed(line)
    assert SSEDecoder(max_line=16).feed(line) == [(None, b"x" * 10)]
    with pytest.raises(torouter.StreamDecodeError):
        SSEDecoder(max_event=10).feed(line)  # 10 bytes + the newline that ends the data
    assert SSEDecoder(max_event=11).feed(line) == [(None, b"x" * 10)]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (b"data: a\n", b"data: b\n\n", [(None, b"a\nb")]),  # an event already under way
        (b"event: e\n", b"data: b\n\n", [(b"e", b"b")]),  # a name already read
        (b"data: a", b"data: b\n\n", [(None, b"adata: b")]),  # a line already under way
        (b": keep-alive", b"data: b\n\n", []),  # ... that is a comment: the rest is comment too
        (b"data: a\r", b"data: b\n\n", [(None, b"a\nb")]),  # a held-back CR ends the line
    ],
)
def test_a_one_event_read_after_an_unfinished_one_continues_it(
    first: bytes, second: bytes, expected: list[Event]
) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(first) == []
    assert decoder.feed(second) == expected
    assert not decoder.pending


def test_every_event_may_be_exactly_the_event_limit_however_it_arrives() -> None:
    body = b"data: " + b"x" * 10 + b"\n\n"  # 10 bytes of data + the newline that ends them
    assert feed_all(bytewise(body * 3), SSEDecoder(max_event=11)) == [(None, b"x" * 10)] * 3
    with pytest.raises(torouter.StreamDecodeError):
        feed_all(bytewise(body), SSEDecoder(max_event=10))


def test_a_held_back_cr_ends_its_line_for_the_line_limit_too() -> None:
    # "data: x" then CR (held: it may be half of a CRLF), then a new line without an end yet:
    # two short lines, not one line over the limit.
    decoder = SSEDecoder(max_line=10)
    assert decoder.feed(b"data: x\r") == []
    assert decoder.feed(b"data: yy") == []
    assert decoder.feed(b"\n\n") == [(None, b"x\nyy")]


@pytest.mark.parametrize(
    ("max_line", "reads"),
    [
        (32, [b"data: " + b"x" * 20, b"y" * 20]),  # a line grows past the limit, unfinished
        (32, [b"data: " + b"x" * 40]),  # one read past the limit
        (32, [b"data: " + b"x" * 10, b"\n" + b"z" * 40]),  # ... after a line that was held
        (64, [b"data: a\n", b"data: " + b"b" * 30 + b"\n"]),  # the event grows past its limit
    ],
)
def test_after_refusing_an_oversized_line_or_event_nothing_is_held(
    max_line: int, reads: list[bytes]
) -> None:
    decoder = SSEDecoder(max_line=max_line, max_event=30)
    with pytest.raises(torouter.StreamDecodeError):
        feed_all(reads, decoder)
    assert not decoder.pending  # the oversized bytes are let go, not kept in memory


# ---------------------------------------------------------------------------------------------
# Byte-order mark
# ---------------------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("split", ["whole", "bytewise", "bom-alone"])
def test_a_leading_bom_is_stripped(split: str) -> None:
    body = BOM + b'data: {"a": 1}\n\ndata: 2\n\n'
    pieces = {"whole": [body], "bytewise": bytewise(body),
              "bom-alone": [BOM[:1], BOM[1:], body[3:]]}[split]
    assert feed_all(pieces) == [(None, b'{"a": 1}'), (None, b"2")]


def test_a_leading_bom_is_stripped_before_an_event_name() -> None:
    assert feed_all([BOM + b"event: error\ndata: x\n\n"]) == [(b"error", b"x")]


def test_only_a_leading_bom_is_stripped() -> None:
    # Later, the same bytes are data (and a stream that starts with other bytes keeps them).
    assert feed_all([b"data: a\n\n", BOM + b"data: b\n\n"]) == [(None, b"a")]  # BOM+"data" is
    # not a field name "data", so that line is ignored, as the SSE standard says
    assert feed_all([b"data: " + BOM + b"x\n\n"]) == [(None, BOM + b"x")]
    assert feed_all([b"\xef\xbbdata: a\n\n"]) == []  # half a BOM is not a BOM


def test_a_stream_cut_after_two_bytes_is_pending_unless_they_may_begin_a_bom() -> None:
    """Two bytes of a line are an unfinished line (the stream was cut); two bytes of a BOM are
    nothing yet."""
    cut = SSEDecoder()
    assert cut.feed(b"da") == [] and cut.pending
    bom = SSEDecoder()
    assert bom.feed(BOM[:2]) == [] and not bom.pending
    assert feed_all([BOM[2:] + b"data: x\n\n"], bom) == [(None, b"x")]
