// Package filter compiles and evaluates subscription filter expressions.
// A filter is a CEL (cel.dev) expression over one event that must evaluate
// to a bool. It sees these variables:
//
//	id, source, type, subject, datacontenttype, dataschema  string
//	time  timestamp (the Unix epoch when the event has none)
//	data  dyn: the event's data parsed as JSON (null when not JSON)
//	ext   map(string, string): extension attributes
//
// For example: `type == "payment.succeeded" && data.amount >= 100.0`.
//
// The language is part of the subscription contract, so the producer's
// admin API (which rejects filters that do not compile) and the router
// (which evaluates them) share this package.
package filter

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"github.com/hookline/hookline/schemas/event"
)

// CostLimit bounds the work one evaluation may do, so a filter cannot stall
// the router.
const CostLimit = 100_000

// ErrCompile and ErrEval classify filter failures; match with errors.Is.
var (
	ErrCompile = errors.New("filter does not compile")
	ErrEval    = errors.New("filter failed at run time")
)

// Error is a compile or evaluation error of one expression.
type Error struct {
	Expr string
	Kind error // ErrCompile or ErrEval
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%v: %s", e.Kind, e.Msg) }
func (e *Error) Unwrap() error { return e.Kind }

var env = func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("id", cel.StringType),
		cel.Variable("source", cel.StringType),
		cel.Variable("type", cel.StringType),
		cel.Variable("subject", cel.StringType),
		cel.Variable("datacontenttype", cel.StringType),
		cel.Variable("dataschema", cel.StringType),
		cel.Variable("time", cel.TimestampType),
		cel.Variable("data", cel.DynType),
		cel.Variable("ext", cel.MapType(cel.StringType, cel.StringType)),
	)
	if err != nil {
		panic("filter: building CEL environment: " + err.Error()) // a programming error, caught by every test
	}
	return e
}()

// Program is a compiled filter, safe for concurrent use.
type Program struct {
	expr string
	prg  cel.Program
}

// Compile checks expr and returns its program. The expression must be of
// type bool (or dyn, checked at evaluation).
func Compile(expr string) (*Program, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, &Error{Expr: expr, Kind: ErrCompile, Msg: iss.Err().Error()}
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) && !t.IsExactType(types.DynType) {
		return nil, &Error{Expr: expr, Kind: ErrCompile, Msg: fmt.Sprintf("expression is of type %s, want bool", t)}
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, &Error{Expr: expr, Kind: ErrCompile, Msg: err.Error()}
	}
	return &Program{expr: expr, prg: prg}, nil
}

// String returns the source expression.
func (p *Program) String() string { return p.expr }

// Vars returns the variables a filter sees for e. Parse once per event and
// reuse for every subscription's filter.
func Vars(e *event.Event) map[string]any {
	var data any
	if len(e.Data) > 0 && e.DataIsJSON() {
		if err := json.Unmarshal(e.Data, &data); err != nil {
			data = nil
		}
	}
	ts := e.Time
	if ts.IsZero() {
		ts = time.Unix(0, 0).UTC()
	}
	ext := e.Extensions
	if ext == nil {
		ext = map[string]string{}
	}
	return map[string]any{
		"id": e.ID, "source": e.Source, "type": e.Type, "subject": e.Subject,
		"datacontenttype": e.DataContentType, "dataschema": e.DataSchema,
		"time": ts, "data": data, "ext": ext,
	}
}

// Match evaluates the filter against vars (from Vars). An error (a missing
// field, a type mismatch, the cost limit) means the event does not match;
// the caller reports it.
func (p *Program) Match(vars map[string]any) (bool, error) {
	out, _, err := p.prg.Eval(vars)
	if err != nil {
		return false, &Error{Expr: p.expr, Kind: ErrEval, Msg: err.Error()}
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, &Error{Expr: p.expr, Kind: ErrEval, Msg: fmt.Sprintf("result is %s, want bool", out.Type())}
	}
	return b, nil
}
