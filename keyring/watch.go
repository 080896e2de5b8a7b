package keyring

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Timing of the file watcher.
const (
	// watchDebounce lets a burst of events (a write in several chunks, a
	// rename over the file, a symlink flip) settle before the files are read.
	watchDebounce = 100 * time.Millisecond
	// WatchFallback is how often files are read anyway, for changes the
	// kernel does not report (network file systems, a symlink into a
	// directory not watched, a watcher that could not start).
	WatchFallback = 2 * time.Second
)

// FileChange is told a watched file's new contents, or why it cannot be
// read. It is called only when either differs from the last seen.
type FileChange func(path string, data []byte, err error)

// Watcher watches key files and reports changes to their contents. It
// watches each file's directory, not the file, so that a file replaced by
// rename or a Kubernetes `..data` symlink flip is seen as well as one
// written in place.
type Watcher struct {
	files    map[string]*watchedFile
	onChange FileChange
	logger   *zap.Logger
	cancel   context.CancelFunc
	done     chan struct{}
}

type watchedFile struct {
	sum     [sha256.Size]byte
	lastErr string
}

// WatchFiles starts watching the files, whose contents the caller already
// loaded (given in initial, so that a change made since is not missed),
// until Close or the end of ctx.
func WatchFiles(ctx context.Context, initial map[string][]byte, onChange FileChange, logger *zap.Logger) *Watcher {
	ctx, cancel := context.WithCancel(ctx)
	w := &Watcher{files: make(map[string]*watchedFile, len(initial)), onChange: onChange, logger: logger, cancel: cancel, done: make(chan struct{})}
	for path, data := range initial {
		w.files[path] = &watchedFile{sum: sha256.Sum256(data)}
	}
	notify, err := fsnotify.NewWatcher()
	if err != nil {
		logger.Warn("cannot watch key files; checking them every few seconds instead", zap.Error(err))
		notify = nil
	} else {
		w.addDirectories(notify)
	}
	go w.run(ctx, notify, WatchFallback)
	return w
}

// addDirectories watches the directory of each file and, for a symlink,
// that of its target.
func (w *Watcher) addDirectories(notify *fsnotify.Watcher) {
	dirs := make(map[string]bool)
	for path := range w.files {
		dirs[filepath.Dir(path)] = true
		if target, err := filepath.EvalSymlinks(path); err == nil {
			dirs[filepath.Dir(target)] = true
		}
	}
	for dir := range dirs {
		if err := notify.Add(dir); err != nil {
			w.logger.Warn("cannot watch a key file's directory; checking it every few seconds instead", zap.String("dir", dir), zap.Error(err))
		}
	}
}

// Close stops watching and waits for the watcher to end.
func (w *Watcher) Close() {
	w.cancel()
	<-w.done
}

func (w *Watcher) run(ctx context.Context, notify *fsnotify.Watcher, fallback time.Duration) {
	defer close(w.done)
	var events chan fsnotify.Event
	var errs chan error
	if notify != nil {
		defer notify.Close()
		events, errs = notify.Events, notify.Errors
	}
	ticker := time.NewTicker(fallback)
	defer ticker.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			debounce.Reset(watchDebounce)
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			w.logger.Warn("watching key files", zap.Error(err))
		case <-debounce.C:
			w.check()
		case <-ticker.C:
			w.check()
		}
	}
}

// check reads every file and reports those whose contents or error
// changed. Files are few and small, so reading them all is cheap.
func (w *Watcher) check() {
	for path, f := range w.files {
		data, err := os.ReadFile(path)
		if err != nil {
			if err.Error() != f.lastErr {
				f.lastErr = err.Error()
				w.onChange(path, nil, err)
			}
			continue
		}
		sum := sha256.Sum256(data)
		if sum == f.sum && f.lastErr == "" {
			continue
		}
		f.sum, f.lastErr = sum, ""
		w.onChange(path, data, nil)
	}
}
