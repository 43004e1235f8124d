"""A small reader of gettext ``.po`` files and writer of ``.mo`` files (GNU's format,
as CPython's Tools/i18n/msgfmt.py writes it), so that the committed catalogs can be
checked and rebuilt without gettext's tools: ``python tests/gettext_catalog.py``
rewrites every jaxnet/locale/*/LC_MESSAGES/jaxnet.mo from its .po."""

import ast
import struct
from pathlib import Path

LOCALE = Path(__file__).resolve().parents[1] / "jaxnet" / "locale"


def parse_po(path) -> dict:
    """``{msgid: msgstr}`` of a .po file (the header's ``""`` entry included);
    only the plain ``msgid``/``msgstr`` entries a catalog of sentences needs."""
    entries, key, cur = {}, None, None
    pending = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines() + [""]:
        line = line.strip()
        if line.startswith("msgid "):
            if "msgid" in pending and "msgstr" in pending:
                entries[pending["msgid"]] = pending["msgstr"]
            pending, key = {"msgid": ast.literal_eval(line[6:])}, "msgid"
        elif line.startswith("msgstr "):
            pending["msgstr"], key = ast.literal_eval(line[7:]), "msgstr"
        elif line.startswith('"') and key:
            pending[key] += ast.literal_eval(line)
        elif not line or line.startswith("#"):
            key = None if not line else key
    if "msgid" in pending and "msgstr" in pending:
        entries[pending["msgid"]] = pending["msgstr"]
    del cur
    return entries


def mo_bytes(entries: dict) -> bytes:
    """The .mo image of ``{msgid: msgstr}`` (untranslated entries left out)."""
    keys = sorted(k for k, v in entries.items() if v)
    ids = [k.encode("utf-8") for k in keys]
    strs = [entries[k].encode("utf-8") for k in keys]
    n = len(keys)
    koff, voff = 7 * 4, 7 * 4 + n * 8
    start = voff + n * 8
    id_blob, str_blob, id_table, str_table = b"", b"", [], []
    for i in ids:
        id_table.append((len(i), start + len(id_blob)))
        id_blob += i + b"\0"
    for s in strs:
        str_table.append((len(s), start + len(id_blob) + len(str_blob)))
        str_blob += s + b"\0"
    head = struct.pack("<7I", 0x950412DE, 0, n, koff, voff, 0, 0)
    return (head + b"".join(struct.pack("<2I", *t) for t in id_table)
            + b"".join(struct.pack("<2I", *t) for t in str_table) + id_blob + str_blob)


def catalogs() -> list:
    """Every ``(po, mo)`` pair under jaxnet/locale."""
    return [(po, po.with_suffix(".mo")) for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))]


if __name__ == "__main__":
    for po, mo in catalogs():
        mo.write_bytes(mo_bytes(parse_po(po)))
        print(f"wrote {mo}")
