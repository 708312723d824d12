package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// claims are the CONNECT claims running on this node: a node reports that
// it adopted a lost node's sessions only once the claims that were running
// when its walk of the registry ended are done, so that a session a client
// took back from the lost node before the walk has its subscriptions live
// here before the lost node's routes are released.
type claims struct {
	mu   sync.Mutex
	next uint64
	live map[uint64]chan struct{}
}

// claimStarted records a claim; the returned function ends it.
func (n *Node) claimStarted() func() {
	c := &n.claims
	c.mu.Lock()
	if c.live == nil {
		c.live = make(map[uint64]chan struct{})
	}
	c.next++
	id, ch := c.next, make(chan struct{})
	c.live[id] = ch
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			delete(c.live, id)
			c.mu.Unlock()
			close(ch)
		})
	}
}

// waitClaims waits, bounded by ctx, for the claims running now.
func (n *Node) waitClaims(ctx context.Context) {
	c := &n.claims
	c.mu.Lock()
	chs := make([]chan struct{}, 0, len(c.live))
	for _, ch := range c.live {
		chs = append(chs, ch)
	}
	c.mu.Unlock()
	for _, ch := range chs {
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

// nodeDown adopts the sessions the lost node owned: every live node walks
// the registry and moves the lost node's entries to itself with a
// compare-and-set, so each session (and its will) is adopted by exactly
// one node. Then it reports to every node (itself included) that its
// share is adopted; the last report releases the lost node's routes.
// The walk is tried again until it succeeds (on the minority side of a
// partition the registry cannot be written) or until the lost node is
// back in the same incarnation (the partition healed): its sessions then
// stay with it, and the report only ends the hold.
func (n *Node) nodeDown(node string, inc uint64) {
	go func() {
		hold := lostHoldFactor * n.opts.NodeTimeout
		for {
			if n.back(node, inc) {
				n.log.Info("lost node is back; the sessions it still holds stay with it", "node", node)
				break
			}
			ctx, cancel := context.WithTimeout(context.Background(), hold)
			ok := n.walkLost(ctx, node, inc)
			cancel()
			if ok {
				break
			}
			select {
			case <-n.quit:
				return
			case <-time.After(time.Second):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), hold)
		n.waitClaims(ctx)
		cancel()
		n.reportAdopted(node)
	}()
}

// back reports whether node, lost in incarnation inc, is live again in it.
func (n *Node) back(node string, inc uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.core.Back(node, inc)
}

// adoptTimeout bounds the adoption of one session (its registry entry and
// its replicated queue).
const adoptTimeout = 20 * time.Second

// walkLost adopts lost's sessions; false when the registry could not be
// read (no quorum yet).
func (n *Node) walkLost(ctx context.Context, lost string, inc uint64) bool {
	select {
	case <-n.st.ready:
	default:
		return true // no replicated state here: nothing to adopt, no claim ran
	}
	// One listing is bounded on its own: right after a node loss its
	// consumer may be placed where no answer comes (the next try works).
	lctx, lcancel := context.WithTimeout(ctx, max(5*time.Second, 2*n.opts.NodeTimeout))
	keys, err := n.registryKeys(lctx)
	lcancel()
	if err != nil {
		n.log.Warn("sessions of a lost node not adopted yet: registry not readable", "node", lost, "error", err)
		return false
	}
	adopted, failed := 0, 0
	for _, key := range keys {
		if n.back(lost, inc) {
			return true // the partition healed: what it still holds is its own
		}
		actx, acancel := context.WithTimeout(ctx, adoptTimeout)
		ok, err := n.adopt(actx, key, lost, inc)
		acancel()
		switch {
		case err != nil:
			failed++
			n.log.Debug("session of a lost node not adopted yet", "node", lost, "key", key, "error", err)
		case ok:
			adopted++
		}
	}
	if failed > 0 {
		// Walked again: an entry this node could not read may be its to
		// adopt, and the lost node's routes must wait for it.
		n.log.Warn("sessions of a lost node not all checked; walking the registry again", "node", lost, "adopted", adopted, "unread", failed)
		return false
	}
	n.log.Info("sessions of a lost node adopted", "node", lost, "adopted", adopted)
	return true
}

// registryKeys lists the registry's keys, bounded by ctx.
func (n *Node) registryKeys(ctx context.Context) ([]string, error) {
	lister, err := n.st.sessions.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("list registry: %w", err)
	}
	defer func() { _ = lister.Stop() }()
	var keys []string
	for {
		select {
		case key, ok := <-lister.Keys():
			if !ok {
				return keys, nil
			}
			keys = append(keys, key)
		case <-ctx.Done():
			return nil, fmt.Errorf("list registry: %w", ctx.Err())
		}
	}
}

// reportAdopted tells every node that this one adopted its share of lost's
// sessions.
func (n *Node) reportAdopted(lost string) {
	b, _ := json.Marshal(control{Node: n.opts.Name, Incarnation: n.inc, Lost: lost})
	_ = n.nc.Publish(subjAdopted, b)
	n.mu.Lock()
	acts := n.core.Step(time.Now(), Event{Kind: EventAdopted, Node: n.opts.Name, Lost: lost})
	n.mu.Unlock()
	n.act(acts)
}

// adopt moves the registry entry key to this node if lost (incarnation
// inc, or an earlier one) owns it, and
// gives the session with its replicated queue to the broker. An error
// means the walk must come back to the entry: it could not be read, the
// write's outcome is unknown, or the queue could not be read (the entry,
// then this node's with no session here, is adopted on the next walk).
func (n *Node) adopt(ctx context.Context, key, lost string, inc uint64) (bool, error) {
	id, ok := clientOfKey(key)
	if !ok {
		return false, nil
	}
	unlock := n.lockClient(id) // no claim of id runs here meanwhile
	defer unlock()
	gctx, cancel := context.WithTimeout(ctx, n.readTimeout())
	e, err := n.st.sessions.Get(gctx, key)
	cancel()
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("registry read: %w", err)
	}
	var o owner
	if json.Unmarshal(e.Value(), &o) != nil {
		return false, nil
	}
	record := o.Session
	switch {
	case o.Node == lost && inc != 0 && o.Incarnation > inc:
		return false, nil // registered by the lost node's next life: live there
	case o.Node == lost:
		o.Node, o.Incarnation, o.Since = n.opts.Name, n.inc, time.Now()
		val, _ := json.Marshal(o)
		if _, err := n.st.sessions.Update(ctx, key, val, e.Revision()); err != nil {
			if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
				return false, nil // another node adopted it, or its client came back
			}
			return false, fmt.Errorf("registry write: %w", err)
		}
		n.stats.adopted.Add(1)
	case o.Node == n.opts.Name && o.Incarnation == n.inc:
		// Adopted by an earlier walk whose write outcome or queue read
		// failed: adopted now unless a client opened it here since.
		if bp := n.broker.Load(); bp == nil {
			return false, nil
		} else if exists, _ := (*bp).HasSession(id); exists {
			return false, nil
		}
	default:
		return false, nil
	}
	recs, handles, err := n.LoadQueue(ctx, id)
	if err != nil {
		n.stats.queueFailed.Add(1)
		return false, err
	}
	if bp := n.broker.Load(); bp != nil && len(record) > 0 {
		(*bp).AdoptSession(id, record, recs, handles)
	}
	return true, nil
}
