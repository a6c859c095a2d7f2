package actors

import "testing"

func TestJobEnds(t *testing.T) {
	j := NewJobEnds()
	a1, stopA1 := j.Watch("a")
	a2, stopA2 := j.Watch("a")
	b, stopB := j.Watch("b")
	if j.watched() != 2 {
		t.Fatalf("%d jobs watched, want 2", j.watched())
	}
	j.Ended("a")
	for i, ch := range []<-chan struct{}{a1, a2} {
		select {
		case <-ch:
		default:
			t.Errorf("watcher %d of a not woken", i)
		}
	}
	select {
	case <-b:
		t.Error("watcher of b woken by the end of a")
	default:
	}
	stopA1()
	stopA2()
	stopA2() // idempotent
	stopB()
	if j.watched() != 0 {
		t.Errorf("%d jobs still watched after every stop", j.watched())
	}
	j.Ended("b") // nobody watches: nothing to do
	// A watch after the end is a new one: the caller checks the store.
	late, stop := j.Watch("a")
	defer stop()
	select {
	case <-late:
		t.Error("a watch made after the end is already closed")
	default:
	}
}
