"""json.loads / json.dumps for the hooks, without importing `json`.

`import json` pulls in `re`, then `enum`, `functools` and `collections`: about 8 ms of a PreToolUse
hook whose whole budget is ~15 ms (bench/hook_latency.py). The stdlib's C accelerator `_json`
does the real work for `json` anyway, so this module drives it directly:

    value = hookjson.loads(text)   # same values and the same ValueError subclass as json.loads
    text = hookjson.dumps(value)   # same text as json.dumps(value) with its default arguments

Where `_json` is missing (PyPy, odd builds) both fall back to the `json` module.
"""

try:
    import _json
except ImportError:  # pragma: no cover - CPython always ships it
    _json = None

_INF = float("inf")
_CONSTANTS = {"NaN": _INF - _INF, "Infinity": _INF, "-Infinity": -_INF}  # what json.loads accepts
_WHITESPACE = " \t\n\r"


class _ScannerContext:
    """The attributes `_json.make_scanner` reads from a json.JSONDecoder: its defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = staticmethod(_CONSTANTS.__getitem__)


_scan = _json.make_scanner(_ScannerContext()) if _json is not None else None


def _error(message, text, pos):
    from json import JSONDecodeError  # only on bad input: the slow import is fine then

    return JSONDecodeError(message, text, pos)


def loads(text):
    """Parse one JSON document from `text` (str, or UTF-8 bytes). Raises ValueError if it is not one."""
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")  # UnicodeDecodeError is a ValueError too
    if _scan is None:
        import json

        return json.loads(text)
    start = len(text) - len(text.lstrip(_WHITESPACE))
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        raise _error("Expecting value", text, stop.value) from None
    rest = len(text) - len(text.rstrip(_WHITESPACE))
    if end != len(text) - rest:
        raise _error("Extra data", text, end)
    return value


def _unserializable(value):
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# json.dumps's defaults: no indent, ", " and ": ", ASCII escapes, NaN/Infinity allowed, no cycle check.
_encoder = (
    _json.make_encoder(
        None, _unserializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
    )
    if _json is not None
    else None
)


def dumps(value):
    """The text json.dumps(value) gives with its default arguments."""
    if _encoder is None:
        import json

        return json.dumps(value)
    return "".join(_encoder(value, 0))
