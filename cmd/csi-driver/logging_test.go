package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// With --logging-format=json every klog call becomes one JSON object a line that
// keeps the structured pairs; --v still filters; an unknown format is refused.
func TestLoggingFormat(t *testing.T) {
	if err := setupLogging("yaml", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), `use "text" or "json"`) {
		t.Fatalf("setupLogging(yaml) = %v, want an error naming the formats", err)
	}
	var buf bytes.Buffer
	if err := setupLogging(logFormatJSON, &buf); err != nil {
		t.Fatal(err)
	}
	defer klog.ClearLogger()
	klog.InfoS("ControllerPublishVolume done", "volumeID", "v-1", "node", "worker-1")
	klog.V(9).InfoS("not at this verbosity")
	klog.ErrorS(errors.New("cinder said 503"), "CreateVolume failed", "name", "pvc-1")
	klog.Infof("plain %s", "text")
	klog.Flush()

	var lines []map[string]any
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3 (the V(9) line filtered): %s", len(lines), buf.String())
	}
	want := []map[string]any{
		{"msg": "ControllerPublishVolume done", "volumeID": "v-1", "node": "worker-1"},
		{"msg": "CreateVolume failed", "error": "cinder said 503", "name": "pvc-1"},
		{"msg": "plain text"},
	}
	for i, w := range want {
		for k, v := range w {
			if lines[i][k] != v {
				t.Errorf("line %d: %s = %v, want %v (%v)", i, k, lines[i][k], v, lines[i])
			}
		}
		if _, ok := lines[i]["logger"]; ok {
			t.Errorf("line %d carries an empty logger name: %v", i, lines[i])
		}
		if _, ok := lines[i]["ts"]; !ok {
			t.Errorf("line %d has no ts: %v", i, lines[i])
		}
		if c, ok := lines[i]["caller"].(map[string]any); !ok || c["file"] != "logging_test.go" {
			t.Errorf("line %d: caller = %v, want this test file", i, lines[i]["caller"])
		}
	}
}
