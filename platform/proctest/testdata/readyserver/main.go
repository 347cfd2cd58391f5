// Command readyserver serves /readyz on $ADDR after $DELAY and exits 0 on
// SIGTERM; proctest's own tests run it.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	delay, _ := time.ParseDuration(os.Getenv("DELAY"))
	fmt.Println("starting; secret-free log line")
	time.Sleep(delay)
	srv := &http.Server{Addr: os.Getenv("ADDR"), Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = srv.ListenAndServe() }()
	<-ctx.Done()
	_ = srv.Close()
	fmt.Println("stopped")
}
