package window

// Window bounds the records of one partition held between fetch and
// commit. A record occupies the window from Admit until the low-water mark
// passes it, so a slow record holds its slot and those of every finished
// record behind it: that is what bounds memory, whatever the backlog.
//
// Fetching pauses when the window is full and resumes once it has drained
// to a quarter below its size, so a partition does not flap between paused
// and fetching one record at a time.
type Window struct {
	Tracker
	size     int
	resumeAt int
	paused   bool
}

// New returns a window of size records (at least 1).
func New(size int) *Window {
	size = max(size, 1)
	return &Window{size: size, resumeAt: size - max(1, size/4)}
}

// Size returns the capacity given to New.
func (w *Window) Size() int { return w.size }

// Full reports whether the window has no room for another record.
func (w *Window) Full() bool { return w.Len() >= w.size }

// Admit tracks a record if the window has room and reports whether it did.
// A record refused here must be fetched again later: the caller rewinds
// the partition to it and pauses.
func (w *Window) Admit(offset int64, epoch int32) (bool, error) {
	if w.Full() {
		return false, nil
	}
	if err := w.Add(offset, epoch); err != nil {
		return false, err
	}
	return true, nil
}

// Pause reports whether fetching must be paused now: the window is full
// and not already paused. It records the pause.
func (w *Window) Pause() bool {
	if w.paused || !w.Full() {
		return false
	}
	w.paused = true
	return true
}

// Done records the outcome of the record at offset (see Tracker.Done) and
// reports whether fetching must resume now: the window was paused and has
// drained to its resume level. It records the resume.
func (w *Window) Done(offset int64) (resume bool) {
	if !w.Tracker.Done(offset) {
		return false
	}
	if w.paused && w.Len() <= w.resumeAt {
		w.paused = false
		return true
	}
	return false
}

// Paused reports whether fetching is paused.
func (w *Window) Paused() bool { return w.paused }
