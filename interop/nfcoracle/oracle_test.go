package nfcoracle

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/unicode/rangetable"
)

// oracleVersion is the newest Unicode version whose assigned code points
// rangetable knows and that is not newer than rip's tables (14.0.0).
const oracleVersion = "13.0.0"

// randomSequences is the number of random mark-heavy sequences to write.
const randomSequences = 200_000

// interesting reports whether r takes part in normalization: it has a
// combining class, a canonical decomposition, or may combine with what
// comes before it.
func interesting(r rune) bool {
	p := norm.NFC.PropertiesString(string(r))
	return p.CCC() != 0 || len(norm.NFD.PropertiesString(string(r)).Decomposition()) > 0 || !p.BoundaryBefore()
}

func TestWriteVectors(t *testing.T) {
	path := os.Getenv("RIP_NFC_ORACLE")
	if path == "" {
		t.Skip("RIP_NFC_ORACLE not set: run ../../nfc-oracle.sh to compare rip's NFC with golang.org/x/text/unicode/norm")
	}
	assigned := rangetable.Assigned(oracleVersion)
	if assigned == nil {
		t.Fatalf("rangetable does not know Unicode %s", oracleVersion)
	}
	var all, marks []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !unicode.Is(assigned, r) || unicode.Is(unicode.Cs, r) || unicode.Is(unicode.Co, r) {
			continue
		}
		all = append(all, r)
		if interesting(r) {
			marks = append(marks, r)
		}
	}

	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "# golang.org/x/text/unicode/norm (Unicode %s) NFC of inputs assigned in Unicode %s\n", norm.Version, oracleVersion)
	n := 0
	write := func(rs ...rune) {
		in := string(rs)
		fmt.Fprintf(w, "%s;%s\n", hexs(in), hexs(norm.NFC.String(in)))
		n++
	}
	for _, r := range all {
		write(r)
		write('a', r, 0x0301)
		write(0x1100, r)
		write(r, 0x0334, 0x0300)
	}
	rnd := rand.New(rand.NewPCG(8265, 15))
	for range randomSequences {
		seq := make([]rune, 1+rnd.IntN(10))
		for i := range seq {
			if rnd.IntN(4) == 0 {
				seq[i] = all[rnd.IntN(len(all))]
			} else {
				seq[i] = marks[rnd.IntN(len(marks))]
			}
		}
		write(seq...)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d vectors (%d code points, %d interesting) to %s", n, len(all), len(marks), path)
}

func hexs(s string) string {
	var parts []string
	for _, r := range s {
		parts = append(parts, fmt.Sprintf("%04X", r))
	}
	return strings.Join(parts, " ")
}
