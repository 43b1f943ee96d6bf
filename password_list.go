package rip

import (
	_ "embed"
	"strings"
)

//go:embed common-passwords.txt
var commonPasswordsText string

// commonPasswords is the refused-password set, lower-cased.
var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(commonPasswordsText, "\n") {
		if line = strings.TrimSpace(line); line != "" && line[0] != '#' {
			m[strings.ToLower(line)] = true
		}
	}
	return m
}()

// isCommonPassword reports whether pw, ignoring case, is on the list.
func isCommonPassword(pw string) bool { return commonPasswords[strings.ToLower(pw)] }
