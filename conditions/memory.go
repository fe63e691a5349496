package conditions

import (
	"context"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the memory governor (Options).
const (
	// DefaultMaxEvalMemory is how much one evaluation may raise the manager's
	// memory. The governor acts at a quarter of it: resident memory also holds the
	// garbage made between two looks at the heap, and what the last step added.
	DefaultMaxEvalMemory = 64 << 20
	// DefaultMaxConcurrentEvals bounds evaluations in flight, so that N hostile
	// policies cost at most N times the bound.
	DefaultMaxConcurrentEvals = 4
	// watchInterval is how often the governor looks at the heap while
	// evaluations run; a policy allocates at most a few MiB in that time.
	watchInterval = time.Millisecond
)

// governor bounds what policy evaluations hold. It admits at most a fixed number
// at once and, while any runs, samples the Go heap. When the heap has grown by
// more than the trigger since an evaluation began, it runs a garbage collection
// to tell garbage from held memory and, if the live heap grew that much, cancels
// every evaluation that has been running while it did. A hostile policy grows for
// as long as it runs; a normal one decides in microseconds, long before the heap
// can grow by the trigger. A cancelled evaluation ends with reason ResourceLimit.
//
// The heap is the process's: memory another goroutine allocates at the same time
// counts too. That errs on the side of cancelling, and only evaluations that run
// while the heap grows by MiBs are exposed to it.
type governor struct {
	slots   chan struct{}
	trigger uint64
	// perTenant is how many slots one tenant (a namespace: WithTenant) may hold,
	// so that one namespace's slow policies leave the others slots to run in.
	perTenant int

	mu       sync.Mutex
	inflight map[*watch]struct{}
	tenants  map[string]*tenantSlots
	wake     chan struct{}
	start    sync.Once
}

// watch is one evaluation the governor follows.
type watch struct {
	// heap is the heap's size when the evaluation began (or at the last garbage
	// collection the governor ran), live the live heap of the last collection
	// before it began.
	heap, live uint64
	cancel     context.CancelFunc
	limited    atomic.Bool
}

// tenantSlots are the slots one tenant holds, and how many evaluations of it
// wait for or hold one (the entry goes when none does).
type tenantSlots struct {
	held  chan struct{}
	users int
}

func newGovernor(maxMemory uint64, concurrent int) *governor {
	return &governor{
		slots:     make(chan struct{}, concurrent),
		trigger:   maxMemory / 4,
		perTenant: max(1, concurrent/2),
		inflight:  map[*watch]struct{}{},
		tenants:   map[string]*tenantSlots{},
		wake:      make(chan struct{}, 1),
	}
}

type tenantKey struct{}

// WithTenant marks the evaluations under ctx as a tenant's (the namespace of the
// run): one tenant holds at most half of the evaluation slots.
func WithTenant(ctx context.Context, tenant string) context.Context {
	return context.WithValue(ctx, tenantKey{}, tenant)
}

// tenant returns ctx's tenant's slots, and a function to call when done with them;
// nil for an evaluation of no tenant (the manager's own safety policies).
func (g *governor) tenant(ctx context.Context) (*tenantSlots, func()) {
	name, _ := ctx.Value(tenantKey{}).(string)
	if name == "" {
		return nil, func() {}
	}
	g.mu.Lock()
	t := g.tenants[name]
	if t == nil {
		t = &tenantSlots{held: make(chan struct{}, g.perTenant)}
		g.tenants[name] = t
	}
	t.users++
	g.mu.Unlock()
	return t, func() {
		g.mu.Lock()
		if t.users--; t.users == 0 {
			delete(g.tenants, name)
		}
		g.mu.Unlock()
	}
}

// begin waits for a slot and starts following an evaluation; end must be called
// when it is over. The returned context is cancelled when the evaluation reaches
// the memory limit (then w.limited is set).
func (g *governor) begin(ctx context.Context) (_ context.Context, w *watch, end func(), err error) {
	t, leave := g.tenant(ctx)
	if t != nil {
		select {
		case t.held <- struct{}{}:
		case <-ctx.Done():
			leave()
			return ctx, nil, func() {}, ctx.Err()
		}
	}
	release := func() {
		if t != nil {
			<-t.held
		}
		leave()
	}
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		release()
		return ctx, nil, func() {}, ctx.Err()
	}
	g.start.Do(func() { go g.run() })
	ctx, cancel := context.WithCancel(ctx)
	heap, live := heapSizes()
	w = &watch{heap: heap, live: live, cancel: cancel}
	g.mu.Lock()
	g.inflight[w] = struct{}{}
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return ctx, w, func() {
		g.mu.Lock()
		delete(g.inflight, w)
		others := len(g.inflight) > 0
		g.mu.Unlock()
		cancel()
		if w.limited.Load() && others {
			g.rebase()
		}
		<-g.slots
		release()
	}, nil
}

// rebase measures the evaluations in flight from the live heap once a cancelled
// one let its memory go. One that began while another held much memory has that
// memory in its starting point: without this, it could grow by as much again
// before it looked like growth.
func (g *governor) rebase() {
	runtime.GC()
	heap, live := heapSizes()
	g.mu.Lock()
	defer g.mu.Unlock()
	for w := range g.inflight {
		w.live = min(w.live, live)
		w.heap = heap
	}
}

// run samples the heap while evaluations are in flight, and sleeps otherwise.
func (g *governor) run() {
	ticker := time.NewTicker(watchInterval)
	defer ticker.Stop()
	for {
		g.mu.Lock()
		idle := len(g.inflight) == 0
		g.mu.Unlock()
		if idle {
			<-g.wake
			continue
		}
		<-ticker.C
		g.check()
	}
}

// check cancels the evaluations whose growth passed the trigger, once a garbage
// collection confirms the memory is held.
func (g *governor) check() {
	heap, _ := heapSizes()
	suspects := g.grownBy(heap)
	if len(suspects) == 0 {
		return
	}
	runtime.GC()
	heap, live := heapSizes()
	for _, w := range suspects {
		if live > w.live && live-w.live > g.trigger {
			w.limited.Store(true)
			w.cancel()
		}
	}
	// What was garbage is gone: measure from here on.
	g.mu.Lock()
	for w := range g.inflight {
		w.heap = heap
	}
	g.mu.Unlock()
}

// grownBy lists the evaluations during which the heap grew past the trigger.
func (g *governor) grownBy(heap uint64) []*watch {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*watch
	for w := range g.inflight {
		if heap > w.heap && heap-w.heap > g.trigger && !w.limited.Load() {
			out = append(out, w)
		}
	}
	return out
}

// heapSizes reads the bytes of heap objects now (garbage included) and the live
// heap as of the last garbage collection.
func heapSizes() (heap, live uint64) {
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
	metrics.Read(samples)
	return samples[0].Value.Uint64(), samples[1].Value.Uint64()
}
