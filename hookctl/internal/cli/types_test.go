package cli_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hookline/hookline/hookctl/internal/cli"
	"github.com/hookline/hookline/schemas/record"
)

// TestTypes registers a type from a schema file and a built-in example,
// lists, shows, replaces and removes them, and refuses a schema that does
// not compile.
func TestTypes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	schema := filepath.Join(dir, "order.json")
	if err := os.WriteFile(schema, []byte(`{"type":"object","required":["order_id"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	example := filepath.Join(dir, "example.json")
	if err := os.WriteFile(example, []byte(`{"order_id":"o1"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := f.ok(t, "types", "add", "order.created", "--schema", schema, "--example-file", example, "--description", "An order was placed"); !strings.Contains(out, "version 1") {
		t.Fatalf("add: %s", out)
	}
	f.ok(t, "types", "add", "--example", "payment_success")
	out := f.ok(t, "types", "ls")
	for _, want := range []string{"order.created", "payment_success", "An order was placed"} {
		if !strings.Contains(out, want) {
			t.Errorf("ls lacks %q:\n%s", want, out)
		}
	}
	var et record.EventType
	if err := json.Unmarshal([]byte(f.ok(t, "types", "get", "order.created", "-o", "json")), &et); err != nil {
		t.Fatal(err)
	}
	compact := func(b []byte) string {
		var buf bytes.Buffer
		_ = json.Compact(&buf, b)
		return buf.String()
	}
	if et.Revision != 1 || compact(et.Schema) != `{"type":"object","required":["order_id"]}` || compact(et.Example) != `{"order_id":"o1"}` {
		t.Fatalf("get: %+v", et)
	}
	if out := f.ok(t, "types", "add", "order.created", "--schema", schema, "--deprecated"); !strings.Contains(out, "version 2") {
		t.Fatalf("replacing: %s", out)
	}

	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"type":"no-such-type"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var ue *cli.UsageError
	if err := f.fail(t, "types", "add", "broken", "--schema", bad); !errors.As(err, &ue) || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("bad schema: %v, want a usage error naming the type", err)
	}
	if err := f.fail(t, "types", "add", "--example", "nope"); !errors.As(err, &ue) {
		t.Fatalf("unknown example: %v", err)
	}
	f.ok(t, "types", "rm", "order.created", "--yes")
	if err := f.fail(t, "types", "get", "order.created"); !errors.Is(err, cli.ErrNotFound) {
		t.Fatalf("get after rm: %v, want not found", err)
	}
}

// TestSendChecksCatalogue: send refuses an event its type's schema refuses,
// sends one it accepts (both --help examples), and warns for unknown types.
func TestSendChecksCatalogue(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.ok(t, "types", "add", "--example", "payment_success")
	if err := f.fail(t, "send", "--topic", f.source, "--type", "payment_success", "--data", `{"amount":"lots"}`); !strings.Contains(err.Error(), "/amount") {
		t.Fatalf("invalid event: %v, want the schema's complaint about /amount", err)
	}
	f.ok(t, "send", "--topic", f.source, "--type", "payment_success", "--data", `{"amount":7,"customer":"carol"}`)
	f.ok(t, "send", "--topic", f.source, "--plain", "--data", `{"type":"payment_success","amount":49.99,"customer":"jane@example.com"}`)
	_, errOut, err := f.exec(t.Context(), nil, "send", "--topic", f.source, "--type", "order.unknown", "--data", `{}`)
	if err != nil || !strings.Contains(errOut, "not in the catalogue") {
		t.Fatalf("unknown type: %v, stderr %q", err, errOut)
	}
	if n := len(f.readAll(t, f.source)); n != 3 {
		t.Fatalf("%d events on the topic, want 3", n)
	}
}
