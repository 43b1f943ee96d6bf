package rip

func tomlDecode(src []byte, v any) error { return nil }
func tomlEncode(v any) ([]byte, error) { return []byte("# stub\n"), nil }
func tomlParse(src []byte) (map[string]any, error) { return nil, nil }
func tomlGetPath(v any, path string) (string, error) { return "", nil }
func tomlSetPath(v any, path, literal string) error { return nil }
func tomlPaths(v any) []string { return nil }
