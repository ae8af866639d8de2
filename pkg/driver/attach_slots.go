package driver

import "sync"

// attachSlots counts, per node, the attachments this controller has in flight. Cinder
// shows an attachment only once it is made, so without this, concurrent
// ControllerPublishVolume calls for a node one short of its limit would each see room
// and together pass it. An attachment in flight that Cinder already shows is counted
// twice for a moment: the error is on the safe side (ResourceExhausted, retried).
type attachSlots struct {
	mu       sync.Mutex
	inflight map[string]int
}

func newAttachSlots() *attachSlots { return &attachSlots{inflight: map[string]int{}} }

// take reserves a slot on node and returns how many others were in flight before it,
// and the function that gives the slot back.
func (s *attachSlots) take(node string) (others int, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	others = s.inflight[node]
	s.inflight[node]++
	var once sync.Once
	return others, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.inflight[node]--; s.inflight[node] == 0 {
				delete(s.inflight, node)
			}
		})
	}
}
