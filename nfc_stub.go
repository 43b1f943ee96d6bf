package rip

func passwordOpaqueString(s string) string { return s }
