#!/usr/bin/python3
"""Generate rip's NFC tables (nfc_tables.go) and test vectors (testdata/nfc_vectors.txt).

Run from anywhere with Debian's interpreter:

    /usr/bin/python3 testdata/gen_nfc.py

All data comes from the standard library's unicodedata module, so the Unicode
version of the tables is unicodedata.unidata_version of the interpreter that ran
this script (14.0.0 for Debian 12's Python 3.11). The script checks that the
tables it writes reproduce unicodedata.normalize("NFC", ...) for every code point
before writing anything, and then uses unicodedata.normalize as the oracle for
the expected output of every vector.

Table encodings (see nfc_tables.go for the Go side):

  nfcProps   step function over code points: each uint32 is cp<<11 | qc<<8 | ccc
             and holds from cp up to the next entry's cp minus one. qc is the
             NFC_Quick_Check value (0 yes, 1 maybe, 2 no); ccc the canonical
             combining class. The first entry starts at U+0000.
  nfcDecomp  sorted uint64 cp<<42 | first<<21 | second: the one-level canonical
             decomposition mapping of cp (second is 0 for singletons). Hangul
             syllables are algorithmic and not listed.
  nfcComp    sorted uint64 first<<21<<21 | second<<21 | composite: the primary
             composites (canonical pairs minus Full_Composition_Exclusion).
             Hangul syllables are algorithmic and not listed.
  nfcSpaces  the code points of general category Zs (space separators).
"""

import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
TABLES = os.path.join(HERE, "..", "nfc_tables.go")
VECTORS = os.path.join(HERE, "nfc_vectors.txt")

MAX_CP = 0x10FFFF
S_BASE, L_BASE, V_BASE, T_BASE = 0xAC00, 0x1100, 0x1161, 0x11A7
L_COUNT, V_COUNT, T_COUNT = 19, 21, 28
S_COUNT = L_COUNT * V_COUNT * T_COUNT

QC_YES, QC_MAYBE, QC_NO = 0, 1, 2


def is_surrogate(cp):
    return 0xD800 <= cp <= 0xDFFF


def canonical_mappings():
    """Return {cp: [cp, ...]} for every non-Hangul canonical decomposition."""
    out = {}
    for cp in range(MAX_CP + 1):
        d = unicodedata.decomposition(chr(cp))
        if d and not d.startswith("<"):
            out[cp] = [int(x, 16) for x in d.split()]
    return out


def nfc(cps):
    return [ord(c) for c in unicodedata.normalize("NFC", "".join(map(chr, cps)))]


def derive(canon):
    """Derive the composition pairs and quick-check values from the mappings."""
    # A canonical mapping whose character does not survive NFC unchanged is a
    # Full_Composition_Exclusion (singleton, non-starter decomposition or an
    # entry of CompositionExclusions.txt); every other pair is a primary composite.
    excluded = {cp for cp in canon if nfc([cp]) != [cp]}
    comp = {}
    for cp, m in canon.items():
        if cp in excluded:
            continue
        assert len(m) == 2, "primary composite with a one-element mapping: %04X" % cp
        assert tuple(m) not in comp
        # nfc.go relies on composites and their first elements being starters.
        assert unicodedata.combining(chr(cp)) == 0 and unicodedata.combining(chr(m[0])) == 0, "%04X" % cp
        comp[tuple(m)] = cp
    qc = {}
    for cp in excluded:
        qc[cp] = QC_NO
    seconds = {m[1] for m in comp}
    seconds |= set(range(V_BASE, V_BASE + V_COUNT))
    seconds |= set(range(T_BASE + 1, T_BASE + T_COUNT))
    for cp in seconds:
        assert cp not in qc, "code point is both NO and MAYBE: %04X" % cp
        qc[cp] = QC_MAYBE
    return excluded, comp, qc


def full_decomposition(cp, canon):
    if S_BASE <= cp < S_BASE + S_COUNT:
        s = cp - S_BASE
        out = [L_BASE + s // (V_COUNT * T_COUNT), V_BASE + (s % (V_COUNT * T_COUNT)) // T_COUNT]
        if s % T_COUNT:
            out.append(T_BASE + s % T_COUNT)
        return out
    if cp not in canon:
        return [cp]
    out = []
    for c in canon[cp]:
        out += full_decomposition(c, canon)
    return out


def check_boundaries(canon, qc):
    """nfc.go restarts normalisation at the last starter whose quick-check value
    is YES. That is only safe if such a character never interacts with what is
    before it, i.e. its full decomposition starts with a starter that is not a
    second element of any composition. Check that for every code point."""
    for cp in range(MAX_CP + 1):
        if is_surrogate(cp) or unicodedata.combining(chr(cp)) or qc.get(cp, QC_YES) != QC_YES:
            continue
        first = full_decomposition(cp, canon)[0]
        assert unicodedata.combining(chr(first)) == 0, "%04X" % cp
        assert qc.get(first, QC_YES) != QC_MAYBE, "%04X" % cp


def props_table(qc):
    entries = []
    prev = None
    for cp in range(MAX_CP + 1):
        ccc = 0 if is_surrogate(cp) else unicodedata.combining(chr(cp))
        v = qc.get(cp, QC_YES) << 8 | ccc
        if v != prev:
            entries.append(cp << 11 | v)
            prev = v
    return entries


def self_check(canon, comp, qc):
    """Re-implement NFC from the derived data and compare it with unicodedata
    on every code point, so a wrong derivation fails here and not in Go."""

    def ccc(c):
        return unicodedata.combining(chr(c))

    def compose(cps):
        out = []
        starter = None
        last_ccc = -1
        for c in cps:
            k = ccc(c)
            if starter is not None and (last_ccc < k or (last_ccc == 0 and k == 0 and len(out) - 1 == starter)):
                a = out[starter]
                p = None
                if L_BASE <= a < L_BASE + L_COUNT and V_BASE <= c < V_BASE + V_COUNT:
                    p = S_BASE + ((a - L_BASE) * V_COUNT + (c - V_BASE)) * T_COUNT
                elif S_BASE <= a < S_BASE + S_COUNT and (a - S_BASE) % T_COUNT == 0 and T_BASE < c < T_BASE + T_COUNT:
                    p = a + c - T_BASE
                else:
                    p = comp.get((a, c))
                if p is not None:
                    out[starter] = p
                    continue
            if k == 0:
                starter = len(out)
            last_ccc = k
            out.append(c)
        return out

    def order(cps):
        cps = list(cps)
        i = 0
        while i < len(cps):
            j = i
            while j < len(cps) and ccc(cps[j]) != 0:
                j += 1
            cps[i:j] = sorted(cps[i:j], key=ccc)
            i = j + 1
        return cps

    for cp in range(MAX_CP + 1):
        if is_surrogate(cp):
            continue
        for seq in ([cp], [0x61, cp, 0x0301], [0x1100, cp]):
            got = compose(order([d for c in seq for d in full_decomposition(c, canon)]))
            assert got == nfc(seq), "self-check failed at %04X" % cp


def go_array(name, ctype, values, width, per_line, comment):
    lines = ["// %s" % line if line else "//" for line in comment.split("\n")]
    lines.append("var %s = [...]%s{" % (name, ctype))
    for i in range(0, len(values), per_line):
        chunk = values[i : i + per_line]
        lines.append("\t" + " ".join("0x%0*X," % (width, v) for v in chunk))
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_tables(canon, comp, qc):
    props = props_table(qc)
    decomp = sorted(cp << 42 | m[0] << 21 | (m[1] if len(m) == 2 else 0) for cp, m in canon.items())
    compo = sorted(a << 42 | b << 21 | c for (a, b), c in comp.items())
    spaces = [cp for cp in range(MAX_CP + 1) if not is_surrogate(cp) and unicodedata.category(chr(cp)) == "Zs"]
    version = unicodedata.unidata_version
    out = [
        "// Code generated by testdata/gen_nfc.py; DO NOT EDIT.\n",
        "\n",
        "// The tables below hold Unicode %s data, taken from the unicodedata\n" % version,
        "// module of Python %s (Debian /usr/bin/python3).\n" % sys.version.split()[0],
        "\n",
        "package rip\n",
        "\n",
        "// nfcUnicodeVersion is the Unicode version of the tables in this file.\n",
        'const nfcUnicodeVersion = "%s"\n' % version,
        "\n",
        go_array(
            "nfcProps",
            "uint32",
            props,
            8,
            6,
            "nfcProps is a step function over code points: entry cp<<11 | qc<<8 | ccc\n"
            "holds from cp to the next entry's cp minus one. qc is NFC_Quick_Check\n"
            "(0 yes, 1 maybe, 2 no), ccc the canonical combining class.",
        ),
        "\n",
        go_array(
            "nfcDecomp",
            "uint64",
            decomp,
            16,
            3,
            "nfcDecomp holds cp<<42 | first<<21 | second, the one-level canonical\n"
            "decomposition of cp (second is 0 for a singleton), sorted by cp. Hangul\n"
            "syllables are decomposed algorithmically and are not listed.",
        ),
        "\n",
        go_array(
            "nfcComp",
            "uint64",
            compo,
            16,
            3,
            "nfcComp holds first<<42 | second<<21 | composite for every primary\n"
            "composite, sorted by the pair. Hangul syllables are composed\n"
            "algorithmically and are not listed.",
        ),
        "\n",
        go_array(
            "nfcSpaces",
            "rune",
            spaces,
            4,
            6,
            "nfcSpaces lists the code points of general category Zs (space\n" "separators), in order.",
        ),
    ]
    with open(TABLES, "w") as f:
        f.write("".join(out))
    return len(props), len(decomp), len(compo)


def hexs(cps):
    return " ".join("%04X" % c for c in cps)


def vectors(canon, qc):
    rnd = random.Random(8265)
    cases = []  # (comment or None, input code points)

    def add(cps, note=None):
        cases.append((note, list(cps)))

    add([0x61, 0x0323, 0x0302], "reordering: a + dot below + circumflex")
    add([0x61, 0x0302, 0x0323], "reordering: a + circumflex + dot below")
    add([0x65, 0x0301], "e + acute composes")
    add([0x212B], "singleton: ANGSTROM SIGN")
    add([0x2126], "singleton: OHM SIGN")
    add([0x0958], "composition exclusion: DEVANAGARI LETTER QA")
    add([0x0915, 0x093C], "excluded pair stays decomposed")
    add([0x0344], "non-starter decomposition")
    add([0x0061, 0x0305, 0x0301], "blocked: acute after overline (both class 230) cannot reach a")
    add([0x0041, 0x0300, 0x0300], "second grave is blocked")
    add([0x0041, 0x0327, 0x0300], "not blocked: grave composes with A across cedilla (class 202 < 230)")
    add([0x1100, 0x1161], "Hangul L+V")
    add([0x1100, 0x1161, 0x11A8], "Hangul L+V+T")
    add([0xAC00, 0x11A8], "Hangul LV+T")
    add([0xAC01, 0x11A8], "Hangul LVT+T does not compose")
    add([0x1100, 0x0301, 0x1161], "Hangul L+mark+V is blocked")
    add([0xFDFA], "compatibility character untouched by NFC")
    add([0x1E0A, 0x0323], "D dot above + dot below")
    add([0x0044, 0x0307, 0x0323], "D + dot above + dot below")
    add([0x0CCA, 0x0CD5], "two-step composition (Kannada)")
    add([0x0DD9, 0x0DCF, 0x0DCA], "three-step composition (Sinhala)")
    add([0x1F82], "Greek with a three-level decomposition")
    add([0x03B1, 0x0345, 0x0313, 0x0300], "Greek ypogegrammeni reorders last")

    # Every code point of the BMP and SMP with a decomposition mapping or a
    # non-zero combining class, alone, and those with canonical behaviour also
    # between a base letter and an acute.
    for cp in range(0x20000):
        if is_surrogate(cp):
            continue
        c = chr(cp)
        if unicodedata.decomposition(c) or unicodedata.combining(c):
            add([cp])
            if cp in canon or unicodedata.combining(c) or qc.get(cp, QC_YES) != QC_YES:
                add([0x61, cp, 0x0301])

    # Hangul: every L+V pair, and a sample of syllables followed by jamo.
    for l in range(L_COUNT):
        for v in range(V_COUNT):
            add([L_BASE + l, V_BASE + v])
    for _ in range(400):
        s = S_BASE + rnd.randrange(S_COUNT)
        t = T_BASE + rnd.randrange(T_COUNT + 1)  # T_BASE itself is not a T jamo
        add(rnd.choice([[s, t], full_decomposition(s, canon) + [t], [rnd.choice([0x1100, 0x1112]), s, 0x11A8]]))

    # Random sequences of base letters and combining marks.
    marks = sorted(cp for cp in range(0x20000) if not is_surrogate(cp) and unicodedata.combining(chr(cp)))
    common_marks = [0x0300, 0x0301, 0x0302, 0x0303, 0x0308, 0x030A, 0x030C, 0x0323, 0x0327, 0x0328, 0x0331, 0x0345, 0x05B0, 0x093C, 0x0F72, 0x3099]
    maybes = sorted(cp for cp in qc if qc[cp] == QC_MAYBE and cp < 0x20000)
    bases = (
        list(range(0x41, 0x5B))
        + list(range(0x61, 0x7B))
        + [0xC5, 0xE9, 0xF4, 0x0391, 0x03B1, 0x03C9, 0x0415, 0x0438, 0x0915, 0x09C7, 0x0B47, 0x0CC6, 0x0DD9, 0x1100, 0x1161, 0x11A8, 0xAC00, 0x304B, 0x30AB, 0x2126, 0x212B, 0x0958, 0xFB2A, 0x1D15E, 0x11099, 0x110A5]
    )
    for _ in range(3000):
        seq = []
        for _ in range(rnd.randint(1, 8)):
            r = rnd.random()
            if r < 0.35:
                seq.append(rnd.choice(bases))
            elif r < 0.65:
                seq.append(rnd.choice(common_marks))
            elif r < 0.85:
                seq.append(rnd.choice(marks))
            else:
                seq.append(rnd.choice(maybes))
        add(seq)

    lines = [
        "# NFC test vectors generated by testdata/gen_nfc.py; DO NOT EDIT.",
        "# Unicode %s (Python %s unicodedata). Format: input;expected NFC, as" % (unicodedata.unidata_version, sys.version.split()[0]),
        "# space-separated hexadecimal code points. A comment line describes the vector after it.",
    ]
    for note, cps in cases:
        if note:
            lines.append("# " + note)
        lines.append("%s;%s" % (hexs(cps), hexs(nfc(cps))))
    with open(VECTORS, "w") as f:
        f.write("\n".join(lines) + "\n")
    return len(cases)


def main():
    canon = canonical_mappings()
    excluded, comp, qc = derive(canon)
    check_boundaries(canon, qc)
    self_check(canon, comp, qc)
    counts = write_tables(canon, comp, qc)
    n = vectors(canon, qc)
    print(
        "Unicode %s: %d property steps, %d decompositions (%d excluded from composition), %d compositions; %d vectors"
        % (unicodedata.unidata_version, counts[0], counts[1], len(excluded), counts[2], n)
    )


if __name__ == "__main__":
    main()
