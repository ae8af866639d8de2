package mount

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Helpers reading Cinder's connection_info.data, decoded from JSON with numbers as
// json.Number. Drivers differ in whether they send numbers or strings (a LUN may be
// 0 or "0"), so both are accepted where a number is meant.

// dataString returns data[key] when it is a string, else "".
func dataString(data map[string]any, key string) string {
	s, _ := data[key].(string)
	return s
}

// dataStrings returns data[key] as a list of strings; an absent or null key is nil.
func dataStrings(data map[string]any, key string) ([]string, error) {
	raw, ok := data[key]
	if !ok || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf("%q is a %T, want a list", key, raw)
	}
	out := make([]string, 0, len(list))
	for i, v := range list {
		s, err := scalarString(v)
		if err != nil {
			return nil, fmt.Errorf("%q[%d] %w", key, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// dataBool reports whether data[key] is true or "true".
func dataBool(data map[string]any, key string) bool {
	switch v := data[key].(type) {
	case bool:
		return v
	case string:
		b, _ := strconv.ParseBool(v)
		return b
	}
	return false
}

func scalarString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), nil
	}
	return "", fmt.Errorf("is a %T, want a string or a number", v)
}

// parseUint reads a non-negative integer given as a number or a string of digits.
func parseUint(v any) (uint64, error) {
	s, err := scalarString(v)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a non-negative integer", s)
	}
	return n, nil
}
