package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/iothub-dev/iothub/bridge"
)

// Recover implements bridge.Recoverer: it reads the newest records of
// each partition of topics (and of the producer's own topic when it is
// not a template) and returns the values of their bridge.IDHeader
// headers. It uses a client of its own, closed before it returns. A
// topic that does not exist holds nothing; not being allowed to describe
// or read a topic is a permanent error.
func (p *Producer) Recover(ctx context.Context, topics []string, newest int) (map[string]struct{}, error) {
	all := slices.Clone(topics)
	if p.o.Topic != "" {
		all = append(all, p.o.Topic)
	}
	slices.Sort(all)
	all = slices.Compact(all)
	ids := map[string]struct{}{}
	if len(all) == 0 || newest <= 0 {
		return ids, nil
	}
	kopt, err := p.o.Conn.opts()
	if err != nil {
		return nil, bridge.Permanent(err)
	}
	from, ends, err := tailOffsets(ctx, kopt, all, int64(newest))
	if err != nil || len(from) == 0 {
		return ids, err
	}
	cl, err := kgo.NewClient(append(kopt, kgo.ConsumePartitions(from), kgo.FetchMaxWait(500*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return nil, bridge.Permanent(fmt.Errorf("kafka: %w", err))
	}
	defer cl.Close()
	seen := false
	for len(ends) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			if seen { // a partition whose last offsets hold no record (transaction markers): what was read is the tail
				return ids, nil
			}
			return nil, fmt.Errorf("kafka: reading back the newest records: %w", err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return nil, classifyRead(ferr)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen = true
			for _, h := range r.Headers {
				if h.Key == bridge.IDHeader {
					ids[string(h.Value)] = struct{}{}
				}
			}
			if end, ok := ends[tp{r.Topic, r.Partition}]; ok && r.Offset+1 >= end {
				delete(ends, tp{r.Topic, r.Partition})
			}
		})
	}
	return ids, nil
}

// tp names a partition.
type tp struct {
	topic     string
	partition int32
}

// tailOffsets returns where to start reading each partition of topics
// that holds records (newest records before its end, not before its
// start) and the end of each.
func tailOffsets(ctx context.Context, kopt []kgo.Opt, topics []string, newest int64) (map[string]map[int32]kgo.Offset, map[tp]int64, error) {
	cl, err := kgo.NewClient(kopt...)
	if err != nil {
		return nil, nil, bridge.Permanent(fmt.Errorf("kafka: %w", err))
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, classifyRead(err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, nil, classifyRead(err)
	}
	from := map[string]map[int32]kgo.Offset{}
	last := map[tp]int64{}
	var perr error
	ends.Each(func(o kadm.ListedOffset) {
		switch {
		case errors.Is(o.Err, kerr.UnknownTopicOrPartition):
			return // nothing was written there
		case o.Err != nil:
			perr = errors.Join(perr, o.Err)
			return
		}
		lo := o.Offset - newest
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Err == nil {
			lo = max(lo, s.Offset)
		}
		lo = max(lo, 0)
		if lo >= o.Offset {
			return
		}
		if from[o.Topic] == nil {
			from[o.Topic] = map[int32]kgo.Offset{}
		}
		from[o.Topic][o.Partition] = kgo.NewOffset().At(lo)
		last[tp{o.Topic, o.Partition}] = o.Offset
	})
	if perr != nil {
		return nil, nil, classifyRead(perr)
	}
	return from, last, nil
}

// classifyRead marks authorization failures as permanent.
func classifyRead(err error) error {
	for _, e := range []error{kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.GroupAuthorizationFailed} {
		if errors.Is(err, e) {
			return bridge.Permanent(fmt.Errorf("kafka: reading back the newest records: %w", err))
		}
	}
	return fmt.Errorf("kafka: reading back the newest records: %w", err)
}

var _ bridge.Recoverer = (*Producer)(nil)
