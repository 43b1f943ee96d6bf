// Package nfcoracle checks rip's hand-written NFC normalizer against
// golang.org/x/text/unicode/norm, an independent implementation with its own
// tables. It is a separate module so that package rip never links x/text.
//
// rip's normalizer is unexported, so the two sides exchange a file: this
// package's TestWriteVectors writes inputs with x/text's NFC of each to the
// file named by RIP_NFC_ORACLE, and rip's TestNFCOracle reads it and checks
// its own output. ../../nfc-oracle.sh runs both steps.
//
// rip's tables are Unicode 14.0.0 (Python's unicodedata) while x/text's are
// a later version, so every input is built only from code points assigned in
// Unicode 13.0.0 (the nearest version x/text's rangetable knows): for those,
// the Unicode normalization stability policy guarantees both versions agree.
package nfcoracle
