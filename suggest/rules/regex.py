r"""``matches:`` patterns, matched by RE2 in time linear in the value (DESIGN section 4).

Python's ``re`` backtracks: a pattern with nested quantifiers such as
``(a+)+$`` takes time exponential in the length of a value that almost
matches, so one rule, or one value in a log, could hang ``rules coverage``,
``replay`` and serving. RE2 (the ``google-re2`` package) runs every pattern in
time linear in the value, and so refuses what needs backtracking:
backreferences, lookahead and lookbehind, atomic groups, possessive
quantifiers and conditionals. :func:`compile_pattern` refuses them at load,
saying why and how to rewrite the pattern.

A pattern means what it meant under Python's ``re``. :func:`to_re2` spells
it the way RE2 reads it:

* ``\d``, ``\w`` and ``\s`` keep Python's Unicode meaning (RE2's own are
  ASCII only): ``\p{Nd}``, ``[\p{L}\p{N}_]`` and Python's 29 whitespace
  characters. A test checks every code point against Python's ``re``: they
  agree on every character Python's Unicode database knows.
* ``\Z`` is RE2's ``\z``; ``{,n}`` is ``{0,n}``; ``\uXXXX``, ``\UXXXXXXXX``,
  ``\N{name}``, ``\xHH`` and octal escapes become ``\x{...}``; a ``{`` that
  does not start a repetition is a literal ``{``; ``[\b]`` is a backspace;
  ``(?#...)`` comments and the redundant ``(?u)`` flag are dropped.
* A repetition count above 1000 is refused (RE2's limit), as is a pattern
  whose program is larger than RE2's 8 MiB.

Differences left, all at the edges: ``\b`` and ``\B`` are ASCII word
boundaries; under ``(?i)`` the dotless ``ı`` no longer equals ``i`` and ``I``
(RE2 follows Unicode case folding, Python adds that pair); ``$`` is the end
of the value only, where Python's is also just before a final newline (the
same under a full match unless the pattern goes on past the ``$`` to match
that newline). RE2's own additions (``\pL``, ``[[:alpha:]]``, ``\z``,
``\Q...\E``) are accepted.

Values are matched as UTF-8; a lone surrogate (which a ``str`` may hold) is
passed through, never an error.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import re2

from suggest.errors import SuggestError

#: RE2 repeats one part at most this many times (``a{1000}``).
MAX_REPEAT = 1000
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"
#: Python's ``\s`` in a ``str`` pattern: ``str.isspace`` (a test checks the list).
SPACES = (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
          *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000)
# pieces of Python's pattern syntax, read with Python's re (short, fixed patterns)
_REPEAT = re.compile(r"\{([0-9]*)(?:(,)([0-9]*))?\}")
_FLAGS = re.compile(r"\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_NAME = re.compile(r"\{([^}]*)\}")
_SIMPLE = {"a": 0x07, "b": 0x08, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}


class PatternError(SuggestError):
    """A ``matches:`` pattern RE2 cannot take: ``message`` says why, ``hint`` how to rewrite it."""


def _point(cp: int) -> str:
    return f"\\x{{{cp:x}}}"


def _literal(char: str) -> str:
    """One character as itself: letters and digits plain, anything else as ``\\x{...}``."""
    return char if char.isalnum() else _point(ord(char))


def _is_octal(char: str) -> bool:
    return char != "" and char in _OCTAL


def _ranges(points: Sequence[int]) -> list[tuple[int, int]]:
    out: list[list[int]] = []
    for cp in sorted(points):
        if out and cp == out[-1][1] + 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return [(lo, hi) for lo, hi in out]


def _items(ranges: list[tuple[int, int]]) -> str:
    return "".join(_point(lo) if lo == hi else f"{_point(lo)}-{_point(hi)}" for lo, hi in ranges)


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    return out + ([(start, 0x10FFFF)] if start <= 0x10FFFF else [])


_SPACE_RANGES = _ranges(SPACES)
#: Python's class escapes as items inside an RE2 ``[...]`` (``\W`` has no such form).
_CLASS_SETS = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": r"\p{L}\p{N}_",
               "s": _items(_SPACE_RANGES), "S": _items(_complement(_SPACE_RANGES))}
#: ... and outside a class.
_SETS = {"d": r"\p{Nd}", "D": r"\P{Nd}", "w": r"[\p{L}\p{N}_]", "W": r"[^\p{L}\p{N}_]",
         "s": f"[{_CLASS_SETS['s']}]", "S": f"[^{_CLASS_SETS['s']}]"}

_LOOKAROUND_HINT = ("test the excluded case as a condition of its own, e.g. instead of "
                    "'home(?!-guest).*' write all: [{ssid: {matches: 'home.*'}}, "
                    "{not: {ssid: {matches: 'home-guest.*'}}}]")
_BACKREF_HINT = ("write the repeated part out, e.g. '(home|work)-(home|work)' for "
                 "'(home|work)-\\1', or test the parts as separate conditions")
_NO_BACKTRACKING = "not supported by RE2, which matches in time linear in the value"
_SYNTAX_HINT = ("patterns are RE2 syntax, which is Python's re without backreferences, "
                "lookaround, atomic groups and possessive quantifiers")


def _refuse(why: str, hint: str) -> PatternError:
    return PatternError(why, hint=hint)


def _invalid(detail: str) -> PatternError:
    return PatternError(f"is not a valid regular expression (RE2): {detail}", hint=_SYNTAX_HINT)


class _Reader:
    """Reads a Python ``re`` pattern and writes the same pattern in RE2's syntax."""

    def __init__(self, pattern: str):
        self.text = pattern
        self.pos = 0

    def peek(self, ahead: int = 0) -> str:
        at = self.pos + ahead
        return self.text[at] if at < len(self.text) else ""

    def startswith(self, prefix: str) -> bool:
        return self.text.startswith(prefix, self.pos)

    def translate(self) -> str:
        out = []
        while self.pos < len(self.text):
            char = self.peek()
            if char == "\\":
                out.append(self.escape())
            elif char == "[":
                out.append(self.char_class())
            elif char == "(":
                out.append(self.group())
            elif char == "{":
                repeat = self.repeat()
                out.append(repeat)
                if repeat != r"\{":
                    out.append(self.after_quantifier(repeat))
            elif char == "}":
                out.append(r"\}")
                self.pos += 1
            elif char in "*+?":
                self.pos += 1
                out.append(char + self.after_quantifier(char))
            else:
                out.append(char)
                self.pos += 1
        return "".join(out)

    def after_quantifier(self, quantifier: str) -> str:
        """A lazy ``?`` passes; a possessive ``+`` is refused."""
        if self.peek() == "?":
            self.pos += 1
            return "?"
        if self.peek() == "+":
            raise _refuse(f"uses a possessive quantifier ('{quantifier}+'): possessive "
                          f"quantifiers and atomic groups are {_NO_BACKTRACKING}",
                          "write the plain quantifier (X*+ as X*), and check the rule's result: "
                          "a possessive quantifier can refuse values the plain one accepts")
        return ""

    def repeat(self) -> str:
        """``{m}``, ``{m,}``, ``{,n}``, ``{m,n}`` as Python reads them; else a literal ``{``."""
        found = _REPEAT.match(self.text, self.pos)
        if not found or found.group(0) == "{}":
            self.pos += 1
            return r"\{"
        low, comma, high = found.group(1), found.group(2), found.group(3)
        for count in (low, high):
            if count and int(count) > MAX_REPEAT:
                raise _refuse(f"repeats a part {int(count)} times: RE2 repeats a part at most "
                              f"{MAX_REPEAT} times",
                              "use + or * (or {m,} with m <= 1000) for an open-ended count")
        self.pos = found.end()
        low = low or "0"
        if not comma:
            return f"{{{low}}}"
        return f"{{{low},{high}}}"

    def group(self) -> str:
        self.pos += 1
        if self.peek() != "?":
            return "("
        refused = (("?=", "lookahead"), ("?!", "lookahead"), ("?<=", "lookbehind"),
                   ("?<!", "lookbehind"))
        for prefix, kind in refused:
            if self.startswith(prefix):
                raise _refuse(f"uses a {kind} ('({prefix}'): lookahead and lookbehind are "
                              f"{_NO_BACKTRACKING}", _LOOKAROUND_HINT)
        if self.startswith("?P="):
            name = self.text[self.pos + 3:].split(")", 1)[0]
            raise _refuse(f"uses a backreference ('(?P={name})'): backreferences are "
                          f"{_NO_BACKTRACKING}", _BACKREF_HINT)
        if self.startswith("?>"):
            raise _refuse(f"uses an atomic group ('(?>'): atomic groups and possessive "
                          f"quantifiers are {_NO_BACKTRACKING}",
                          "write a plain group ((?>X) as (?:X)), and check the rule's result: "
                          "an atomic group can refuse values the plain group accepts")
        if self.startswith("?("):
            raise _refuse(f"uses a conditional group ('(?('): conditionals are {_NO_BACKTRACKING}",
                          "write the cases as alternatives: (?:A|B)")
        if self.startswith("?#"):
            end = self.text.find(")", self.pos)
            if end < 0:
                raise _invalid("missing ), unterminated comment")
            self.pos = end + 1
            return ""
        flags = _FLAGS.match(self.text, self.pos)
        if not flags:  # (?P<name> (?<name> and what RE2 will name in its own error
            self.pos += 1
            return "(?"
        on, off, close = flags.group(1), flags.group(2) or "", flags.group(3)
        for letter, why, hint in (("x", "verbose mode ('(?x)')", "remove the (?x) flag, the spaces "
                                   "and the # comments, or escape the spaces you mean"),
                                  ("a", "ASCII-only classes ('(?a)')", "write the classes out: "
                                   "[0-9] for \\d, [A-Za-z0-9_] for \\w, [ \\t\\n\\r\\f\\v] for \\s"),
                                  ("L", "locale-dependent matching ('(?L)')", "remove the flag")):
            if letter in on + off:
                raise _refuse(f"uses {why}, which RE2 does not support", hint)
        on, off = on.replace("u", ""), off.replace("u", "")  # Unicode is the default
        self.pos = flags.end()
        if not on and not off:
            return "(?:" if close == ":" else ""
        return f"(?{on}{'-' + off if off else ''}{close}"

    def number(self, digits: str, length: int, base: int, what: str) -> int:
        text = self.text[self.pos:self.pos + length]
        if len(text) < length or any(d not in digits for d in text):
            raise _invalid(f"incomplete escape \\{what}{text}")
        self.pos += length
        return int(text, base)

    def code_escape(self, letter: str) -> int | None:
        """The code point of a ``\\x``, ``\\u``, ``\\U`` or ``\\N{...}`` escape (after the
        letter), or None for another letter."""
        if letter == "x":
            return self.number(_HEX, 2, 16, "x")
        if letter == "u":
            return self.number(_HEX, 4, 16, "u")
        if letter == "U":
            cp = self.number(_HEX, 8, 16, "U")
            if cp > 0x10FFFF:
                raise _invalid(f"bad escape \\U{cp:08x}")
            return cp
        if letter == "N":
            found = _NAME.match(self.text, self.pos)
            try:
                char = unicodedata.lookup(found.group(1)) if found else None
            except KeyError:
                char = None
            if char is None or len(char) != 1:
                raise _invalid("bad character name in \\N{...}")
            self.pos = found.end()
            return ord(char)
        return None

    def unicode_class(self, letter: str) -> str:
        """RE2's ``\\pL`` or ``\\p{Greek}`` (after the letter), as written."""
        found = _NAME.match(self.text, self.pos)
        end = found.end() if found else min(self.pos + 1, len(self.text))
        text, self.pos = self.text[self.pos:end], end
        return "\\" + letter + text

    def escape(self) -> str:
        """``\\`` outside a class."""
        letter = self.peek(1)
        self.pos += 2
        if letter == "":
            raise _invalid("bad escape (end of pattern)")
        if letter in _SETS:
            return _SETS[letter]
        if letter == "Z":
            return r"\z"
        cp = self.code_escape(letter)
        if cp is not None:
            return _point(cp)
        if letter == "0":  # octal: \0 and up to two more digits
            digits = letter
            while len(digits) < 3 and _is_octal(self.peek()):
                digits += self.peek()
                self.pos += 1
            return _point(int(digits, 8))
        if letter.isdigit():
            if _is_octal(letter) and _is_octal(self.peek()) and _is_octal(self.peek(1)):
                value = int(letter + self.peek() + self.peek(1), 8)
                if value > 0o377:
                    raise _invalid(f"octal escape value \\{letter}{self.peek()}{self.peek(1)} "
                                   "outside of range 0-0o377")
                self.pos += 2
                return _point(value)
            group = letter + (self.peek() if self.peek().isdigit() else "")
            raise _refuse(f"uses a backreference ('\\{group}'): backreferences are "
                          f"{_NO_BACKTRACKING}", _BACKREF_HINT)
        if letter in "pP":
            return self.unicode_class(letter)
        if letter == "Q":  # RE2's quoted text, up to \E: literal characters
            end = self.text.find("\\E", self.pos)
            end = len(self.text) if end < 0 else end
            quoted, self.pos = self.text[self.pos:end], min(end + 2, len(self.text))
            return "".join(_literal(c) for c in quoted)
        if letter.isascii() and letter.isalnum():
            return "\\" + letter  # \A \b \B \z \pL ...; RE2 names what it cannot take
        return _literal(letter)

    def class_item(self) -> tuple[str, str, int | None]:
        """One item of a ``[...]`` as ``(kind, text, code point)``: kind ``char`` or ``set``."""
        char = self.peek()
        if char == "[" and self.peek(1) == ":":  # an RE2 POSIX class [:alpha:]
            end = self.text.find(":]", self.pos + 2)
            if end >= 0:
                text, self.pos = self.text[self.pos:end + 2], end + 2
                return "set", text, None
        if char != "\\":
            self.pos += 1
            return "char", _literal(char), ord(char)
        letter = self.peek(1)
        self.pos += 2
        if letter == "":
            raise _invalid("unterminated character set")
        if letter in _CLASS_SETS:
            return "set", _CLASS_SETS[letter], None
        if letter == "W":
            return "set", r"\W", None
        if letter in _SIMPLE:
            return "char", _point(_SIMPLE[letter]), _SIMPLE[letter]
        cp = self.code_escape(letter)
        if cp is None and _is_octal(letter):  # in a class \1 is octal too, up to three digits
            digits = letter
            while len(digits) < 3 and _is_octal(self.peek()):
                digits += self.peek()
                self.pos += 1
            cp = int(digits, 8)
            if cp > 0o377:
                raise _invalid(f"octal escape value \\{digits} outside of range 0-0o377")
        if cp is not None:
            return "char", _point(cp), cp
        if letter in "pP":
            return "set", self.unicode_class(letter), None
        if letter.isascii() and letter.isalnum():
            return "set", "\\" + letter, None  # \pL and the like; RE2 names what it cannot take
        return "char", _literal(letter), ord(letter)

    def char_class(self) -> str:
        """``[...]``, read as Python reads it (``sre_parse``), written item by item."""
        start = self.pos
        self.pos += 1
        negated = self.peek() == "^"
        self.pos += negated
        items: list[str] = []
        first = True
        while True:
            if self.pos >= len(self.text):
                raise _invalid(f"unterminated character set at position {start}")
            if self.peek() == "]" and not first:
                self.pos += 1
                break
            first = False
            kind, text, low = self.class_item()
            if self.peek() == "-" and self.peek(1) not in ("", "]"):
                self.pos += 1
                kind2, text2, high = self.class_item()
                if kind != "char" or kind2 != "char" or high < low:
                    raise _invalid(f"bad character range {self.text[start:self.pos]}")
                items.append(f"{text}-{text2}")
            else:
                items.append(text)
        if r"\W" in items:  # Python's \W has no item form in RE2: fine alone, refused among others
            if len(items) > 1:
                raise _refuse("uses \\W inside [...] together with other characters, which RE2 "
                              "cannot write as one class",
                              "write it with Unicode classes, e.g. [^\\W\\d] is [\\p{L}\\p{Nl}\\p{No}_]")
            return r"[\p{L}\p{N}_]" if negated else r"[^\p{L}\p{N}_]"
        return ("[^" if negated else "[") + "".join(items) + "]"


def to_re2(pattern: str) -> str:
    r"""``pattern`` (Python ``re`` syntax) in RE2's syntax, meaning the same; raises
    :class:`PatternError` for what RE2 cannot match (see the module docstring).

    Examples
    --------
    >>> to_re2(r"\d{,2}\Z")
    '\\p{Nd}{0,2}\\z'
    """
    return _Reader(pattern).translate()


def _options() -> re2.Options:
    options = re2.Options()
    options.never_capture = True  # only whether it matches is wanted: no submatch bookkeeping
    options.log_errors = False  # a refused pattern is reported once, by the rule file's checker
    return options


_OPTIONS = _options()


class Pattern:
    """A ``matches:`` pattern compiled by RE2: :meth:`fullmatch` asks whether a whole value
    matches, in time linear in the value.

    Equal when written alike; pickles as its text (joblib and Dask ship rule sets to workers).

    Examples
    --------
    >>> p = compile_pattern("(a+)+$")
    >>> p.fullmatch("a" * 10_000), p.fullmatch("a" * 9_999 + "b")
    (True, False)
    >>> p.fullmatch_each(["home-1", "work"]).tolist() == [False, False]
    True
    """

    __slots__ = ("pattern", "_regex")

    def __init__(self, pattern: str):
        self.pattern = pattern
        try:
            self._regex = re2.compile(to_re2(pattern), _OPTIONS)
        except re2.error as exc:
            detail = exc.args[0] if exc.args else str(exc)
            detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
            if "invalid repetition size" in detail:  # each count <= 1000: nested too far
                raise _refuse(f"nests counted repeats past RE2's limit ({detail.split(': ')[-1]}: "
                              f"at most {MAX_REPEAT} repeats in all)",
                              "use + or * for the outer repeat, or smaller counts") from None
            if "pattern too large" in detail:
                raise _refuse("is too large for RE2 (its program would pass 8 MiB)",
                              "use fewer or smaller counted repeats, e.g. + instead of {1,1000}"
                              ) from None
            raise _invalid(detail) from None

    def fullmatch(self, text: str) -> bool:
        """Whether all of ``text`` matches."""
        return self._regex.fullmatch(text.encode("utf-8", "surrogatepass")) is not None

    def fullmatch_each(self, texts: Sequence[str]) -> np.ndarray:
        """:meth:`fullmatch` for each text, as a boolean array (one RE2 call per text)."""
        match = self._regex.fullmatch
        return np.fromiter((match(t.encode("utf-8", "surrogatepass")) is not None for t in texts),
                           dtype=bool, count=len(texts))

    def __eq__(self, other) -> bool:
        return isinstance(other, Pattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash((Pattern, self.pattern))

    def __repr__(self) -> str:
        return f"Pattern({self.pattern!r})"

    def __reduce__(self):
        return Pattern, (self.pattern,)


def compile_pattern(pattern: str) -> Pattern:
    """``pattern`` compiled for :meth:`Pattern.fullmatch`; raises :class:`PatternError`
    (its message says why, its hint how to rewrite the pattern)."""
    return Pattern(pattern)
