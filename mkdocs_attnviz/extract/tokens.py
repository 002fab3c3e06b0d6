"""From tokenizer output to what the figures show: display labels, segments and word ids of the tokens.

Token labels
------------
``tokens`` keeps the raw tokens (``"##ing"``, ``"Ġthe"``, ``"▁the"``). ``labels`` are for display:

* special tokens keep their token string (``[CLS]``, ``<s>``, ``</s>``...);
* other tokens, with a fast tokenizer, are labelled with the characters of the sentence they cover
  (character offsets; a token of the pair sentence maps into the pair text), whitespace stripped
  (:func:`labels_from_offsets`);
* byte-level BPE may split one character (CJK, emoji) into several tokens, or make a token of the
  end of one character and the start of the next: a token is labelled with the characters of its
  span that no earlier token of the same sentence has shown; a token that adds no new character is
  labelled ``"·"`` + its characters (e.g. ``今`` split into three tokens → ``今``, ``·今``, ``·今``);
* a token that covers only whitespace is labelled ``"␣"``;
* without offsets (slow tokenizer), labels are cleaned from the raw tokens: ``##`` dropped, ``Ġ`` and
  ``▁`` turned into spaces and stripped, byte-level pieces decoded with ``convert_tokens_to_string``
  (pieces of one character are grouped: first piece gets the character, the others ``·`` + it)
  (:func:`labels_from_tokens`).

Segments and words
------------------
:func:`segments_from_sequence_ids` gives each token its sentence (0 or 1); :func:`word_ids_from_encoding`
and :func:`word_ids_from_tokens` give each token its word (``None`` for special tokens).

Pure Python: works on the tokenizer's output, imports neither torch nor transformers.
"""

from __future__ import annotations

from typing import Any

from ..attention import CONTINUATION, SPACE_LABEL

__all__ = ["labels_from_offsets", "labels_from_tokens", "segments_from_sequence_ids", "word_ids_from_encoding",
           "word_ids_from_tokens"]


def _clean_piece(token: str) -> str:
    t = token[2:] if token.startswith("##") else token
    return t.replace("Ġ", " ").replace("▁", " ").replace("Ċ", " ").strip()


def labels_from_offsets(tokens: list[str], special: list[bool], seq_ids: list[int | None],
                        offsets: list[tuple[int, int]], texts: list[str]) -> list[str]:
    """Labels from character offsets into ``texts`` (the sentence, and the pair): see the module docstring."""
    labels: list[str] = []
    shown = {0: 0, 1: 0}  # per sentence: characters already shown by earlier tokens
    for i, tok in enumerate(tokens):
        sid = seq_ids[i]
        if special[i] or sid is None:
            labels.append(tok)
            continue
        src = texts[sid] if sid < len(texts) else ""
        s, e = offsets[i]
        s, e = max(0, s), min(len(src), e)
        if e <= s:  # no characters (e.g. a lone 'Ġ'/'▁' after trimming): clean the raw token
            labels.append(_clean_piece(tok) or SPACE_LABEL)
            continue
        start_new = max(s, shown.get(sid, 0))
        new = src[start_new:e].strip() if start_new < e else ""
        if new:
            labels.append(new)
        else:
            span = src[s:e].strip()
            labels.append(CONTINUATION + span if span else SPACE_LABEL)
        shown[sid] = max(shown.get(sid, 0), e)
    return labels


def _byte_decoder() -> dict[str, int]:
    """The inverse of GPT-2's ``bytes_to_unicode`` (byte-level BPE shows byte b as one printable character)."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    extra = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def _byte_level_offsets(tokens: list[str], special: list[bool]) -> tuple[str, list[tuple[int, int]]] | None:
    """For byte-level BPE pieces: the decoded text and each token's character span in it (else None)."""
    dec = _byte_decoder()
    pieces = [t for t, sp in zip(tokens, special) if not sp]
    if not pieces or any(t.startswith("##") or any(c not in dec for c in t) for t in pieces):
        return None
    if not any(ord(c) >= 0x100 for t in pieces for c in t):  # no 'Ġ' or mapped byte: plain text pieces
        return None
    buf = bytearray()
    spans: list[tuple[int, int] | None] = []
    for t, sp in zip(tokens, special):
        if sp:
            spans.append(None)
            continue
        b = bytes(dec[c] for c in t)
        spans.append((len(buf), len(buf) + len(b)))
        buf += b
    chars: list[str] = []
    char_of_byte: list[int] = []
    i = 0
    while i < len(buf):
        lead = buf[i]
        if lead >> 5 == 0b110:
            length = 2
        elif lead >> 4 == 0b1110:
            length = 3
        elif lead >> 3 == 0b11110:
            length = 4
        else:
            length = 1
        try:
            ch = bytes(buf[i:i + length]).decode("utf-8")
        except UnicodeDecodeError:
            ch, length = "\ufffd", 1
        char_of_byte.extend([len(chars)] * length)
        chars.append(ch)
        i += length
    offsets = [(0, 0) if sp is None or sp[1] <= sp[0] else (char_of_byte[sp[0]], char_of_byte[sp[1] - 1] + 1)
               for sp in spans]
    return "".join(chars), offsets


def labels_from_tokens(tokenizer: Any, tokens: list[str], special: list[bool]) -> list[str]:
    """Labels without offsets (slow tokenizers): byte-level pieces decoded, '##', 'Ġ', '▁' cleaned."""
    byte_level = _byte_level_offsets(tokens, special)
    if byte_level is not None:
        text, offsets = byte_level
        return labels_from_offsets(tokens, special, [None if sp else 0 for sp in special], offsets, [text])
    labels: list[str] = []
    for tok, sp in zip(tokens, special):
        if sp:
            labels.append(tok)
            continue
        label = _clean_piece(tok)
        if not label and tok.strip() and "▁" not in tok and "Ġ" not in tok:
            try:
                label = tokenizer.convert_tokens_to_string([tok]).strip()
            except Exception:
                label = tok.strip()
        labels.append(label or SPACE_LABEL)
    return labels


def segments_from_sequence_ids(seq_ids: list[int | None]) -> list[int]:
    """0/1 per token; a special token belongs to the sentence of the token before it (leading: 0)."""
    out: list[int] = []
    current = 0
    for sid in seq_ids:
        if sid is not None:
            current = 1 if sid else 0
        out.append(current)
    return out


def word_ids_from_encoding(enc: Any, is_fast: bool, tokens: list[str], special: list[bool],
                           seq_ids: list[int | None] | None) -> list[int | None]:
    """Each token's word (None for specials): the fast tokenizer's ``word_ids()``; the words of the pair
    sentence are numbered after those of the first; without a fast tokenizer, guessed from the pieces."""
    n = len(tokens)
    raw = None
    if is_fast:
        try:
            raw = list(enc.word_ids(0))
        except Exception:
            raw = None
    if raw is None or len(raw) != n:
        return word_ids_from_tokens(tokens, special)
    out: list[int | None] = []
    first_max = max((w for i, w in enumerate(raw) if w is not None and (seq_ids or [0] * n)[i] in (0, None)),
                    default=-1)
    for i, w in enumerate(raw):
        if special[i] or w is None:
            out.append(None)
        elif seq_ids is not None and seq_ids[i] == 1:
            out.append(int(w) + first_max + 1)
        else:
            out.append(int(w))
    return out


def word_ids_from_tokens(tokens: list[str], special: list[bool], start: int = 0,
                         previous: int | None = None) -> list[int | None]:
    """Word ids guessed from the pieces (slow tokenizers, generated tokens): ``##x`` continues a word, ``Ġx`` /
    ``▁x`` starts one; in byte-level/SentencePiece text a piece without a space marker continues the word
    before it unless it is punctuation."""
    wordpiece = any(t.startswith("##") for t in tokens)
    out: list[int | None] = []
    current = previous
    nxt = start
    for tok, sp in zip(tokens, special):
        if sp:
            out.append(None)
            current = None
            continue
        body = tok.lstrip("Ġ▁Ċ ")
        if wordpiece:
            starts = not tok.startswith("##")
        else:  # a space marker, punctuation, or the piece after punctuation starts a word
            before = tokens[len(out) - 1].lstrip("Ġ▁Ċ ") if out else ""
            starts = tok != body or not _wordish(body) or not _wordish(before)
        if starts or current is None:
            current = nxt
            nxt += 1
        out.append(current)
    return out


def _wordish(piece: str) -> bool:
    """A piece holding a letter or digit (or a byte-level piece of a non-ASCII character)."""
    return any(c.isalnum() or ord(c) >= 0x80 for c in piece)
