package broker

import (
	"context"
	"sync"
	"time"
)

// authCtxShare is how long one authentication context is handed out.
const authCtxShare = time.Second

// authContexts hands out the contexts authentications run under. Their
// deadline bounds an authenticator that waits (an HTTP service, a JWKS
// fetch) by the connect timeout. The connections that authenticate
// within the same authCtxShare share one context: a context of its own,
// cancelled as soon as its authentication returns, would leave a stopped
// timer in the runtime's timer heap until its deadline (~100 bytes for
// every connection of the last connect timeout, still there after a
// burst of connections went idle). A shared context is never cancelled;
// its one timer ends it at its deadline.
type authContexts struct {
	mu    sync.Mutex
	ctx   context.Context
	until time.Time // when ctx stops being handed out
}

// at returns the context for an authentication starting at now: its
// deadline is at least timeout and at most timeout + authCtxShare away.
func (a *authContexts) at(now time.Time, timeout time.Duration) context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx == nil || !now.Before(a.until) {
		ctx, cancel := context.WithDeadline(context.Background(), now.Add(timeout+authCtxShare))
		context.AfterFunc(ctx, cancel) // at the deadline: nobody else may end it
		a.ctx, a.until = ctx, now.Add(authCtxShare)
	}
	return a.ctx
}
