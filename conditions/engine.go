package conditions

import (
	"context"
	"time"

	"k8s.io/utils/lru"
)

// Defaults of Options.
const (
	DefaultCacheSize    = 1024
	DefaultEvalDeadline = time.Second
)

// Options configure an Engine. The zero value uses the defaults.
type Options struct {
	// CacheSize bounds how many compiled policies are kept, least recently used
	// first out.
	CacheSize int
	// EvalDeadline bounds one evaluation of one policy. Policies decide in
	// microseconds; the deadline stops one that loops.
	EvalDeadline time.Duration
	// MaxEvalMemory bounds how much one evaluation may raise the process's memory
	// (DefaultMaxEvalMemory); past it the evaluation ends with ResourceLimit.
	MaxEvalMemory uint64
	// MaxConcurrentEvals bounds evaluations in flight (DefaultMaxConcurrentEvals);
	// more wait for a slot, within their deadline.
	MaxConcurrentEvals int
}

// Engine compiles condition policies once and evaluates them many times. It is
// safe for concurrent use.
type Engine struct {
	compiled     *lru.Cache // policy hash -> *Policy
	evalDeadline time.Duration
	governor     *governor
}

// NewEngine returns an Engine with opts.
func NewEngine(opts Options) *Engine {
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.EvalDeadline <= 0 {
		opts.EvalDeadline = DefaultEvalDeadline
	}
	if opts.MaxEvalMemory == 0 {
		opts.MaxEvalMemory = DefaultMaxEvalMemory
	}
	if opts.MaxConcurrentEvals <= 0 {
		opts.MaxConcurrentEvals = DefaultMaxConcurrentEvals
	}
	return &Engine{
		compiled:     lru.New(opts.CacheSize),
		evalDeadline: opts.EvalDeadline,
		governor:     newGovernor(opts.MaxEvalMemory, opts.MaxConcurrentEvals),
	}
}

// Compile returns source compiled, from the cache when the same text was compiled
// before. conditionType only names the condition in errors, which are
// *CompileError.
func (e *Engine) Compile(ctx context.Context, conditionType, source string) (*Policy, error) {
	return e.compileCached(ctx, conditionType, source, false)
}

// CompileSafety compiles a safety policy: it defines a deny set of messages, and
// allows when the set is empty. name only names the policy in errors.
func (e *Engine) CompileSafety(ctx context.Context, name, source string) (*Policy, error) {
	return e.compileCached(ctx, name, source, true)
}

func (e *Engine) compileCached(ctx context.Context, name, source string, safety bool) (*Policy, error) {
	key := hashOf(source)
	if safety {
		key = "safety:" + key
	}
	if p, ok := e.compiled.Get(key); ok {
		return p.(*Policy), nil
	}
	p, err := compile(ctx, name, source, safety)
	if err != nil {
		return nil, err
	}
	e.compiled.Add(key, p)
	return p, nil
}

// Evaluate runs p on a facts document, within the engine's deadline or ctx's,
// whichever ends first. It never returns an error: a policy that cannot decide gives
// an Errored result that says why. To evaluate many policies on one document,
// convert it once with NewInput and use EvaluateInput.
func (e *Engine) Evaluate(ctx context.Context, p *Policy, doc map[string]any) Result {
	start := time.Now()
	input, err := NewInput(doc)
	if err != nil {
		return Result{Outcome: Errored, Reason: ReasonEvaluationError, Message: err.Error(), Duration: time.Since(start)}
	}
	return e.evaluate(ctx, p, input)
}

// EvaluateInput is Evaluate on a document converted by NewInput.
func (e *Engine) EvaluateInput(ctx context.Context, p *Policy, input Input) Result {
	return e.evaluate(ctx, p, input)
}
