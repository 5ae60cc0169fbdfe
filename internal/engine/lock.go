//go:build unix

package engine

import (
	"context"
	"os"
	"syscall"
)

// lockFile takes a flock on path, exclusive or shared, creating the file,
// waiting as long as it takes: the holders of these locks do short work.
func lockFile(path string, exclusive bool) (unlock func(), err error) {
	return lockFileCtx(context.Background(), path, exclusive)
}

// lockFileCtx is lockFile with a wait that ends with ctx (the lock, if it
// comes later, is then released at once).
func lockFileCtx(ctx context.Context, path string, exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	lock := func() error {
		for {
			err := syscall.Flock(int(f.Fd()), how)
			if err != syscall.EINTR {
				return err
			}
		}
	}
	unlock = func() { _ = f.Close() } // closing the file releases the lock
	if ctx.Done() == nil {            // cannot end: no goroutine needed
		if err := lock(); err != nil {
			unlock()
			return nil, err
		}
		return unlock, nil
	}
	done := make(chan error, 1)
	go func() { done <- lock() }()
	select {
	case err := <-done:
		if err != nil {
			unlock()
			return nil, err
		}
		return unlock, nil
	case <-ctx.Done():
		go func() { <-done; unlock() }()
		return nil, ctx.Err()
	}
}
