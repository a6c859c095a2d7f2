package server

import (
	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/scaling"
)

// startScaler starts the scaler of the config's scaling policies on a
// master's engine (nil, which Stop accepts, without policies). It runs
// where the pruner runs: on a master outside a Raft group for as long as
// its cluster part runs, on the leader of a group while it leads
// (docs/scaling.md).
func (s *Server) startScaler(e *actors.Engine) *scaling.Scaler {
	if len(s.cfg.Scaling) == 0 || e == nil {
		return nil
	}
	sc := scaling.DefaultConfig(s.cfg.Scaling)
	sc.Logger = s.logger.With("component", "scaling")
	if s.audit != nil {
		sc.Audit = s.audit
	}
	return scaling.Start(e, sc)
}
