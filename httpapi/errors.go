package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/salvo-sh/salvo/actors"
	"github.com/salvo-sh/salvo/job"
	"github.com/salvo-sh/salvo/store"
)

// Error is an API error: the HTTP status and the JSON body
// {"error": Msg, "field": Field}.
type Error struct {
	Status int
	Msg    string
	Field  string
}

func (e *Error) Error() string { return e.Msg }

// errBody is the JSON shape of every error.
type errBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// badRequest returns a 400 naming a field.
func badRequest(field, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Msg: msg, Field: field}
}

// toAPIError maps any error to an API error.
func toAPIError(err error) *Error {
	var ae *Error
	var fe *job.FieldError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Msg: fe.Error(), Field: fe.Field}
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Msg: "request body too large"}
	case errors.Is(err, errSlowBody):
		return &Error{Status: http.StatusRequestTimeout, Msg: errSlowBody.Error()}
	case errors.Is(err, context.Canceled):
		// The client went away: nothing to log, and nobody reads the answer.
		return &Error{Status: 499, Msg: "request cancelled"}
	case errors.Is(err, store.ErrBadCursor):
		return &Error{Status: http.StatusBadRequest, Msg: "cursor must be a value returned as nextCursor", Field: "cursor"}
	case errors.Is(err, store.ErrBadName):
		return &Error{Status: http.StatusBadRequest, Msg: err.Error(), Field: "name"}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Msg: "not found"}
	case errors.Is(err, store.ErrFull):
		return &Error{Status: http.StatusInsufficientStorage, Msg: err.Error()}
	case errors.Is(err, actors.ErrNotAccepting), errors.Is(err, store.ErrClosed), errors.Is(err, store.ErrNotLeader):
		return &Error{Status: http.StatusServiceUnavailable, Msg: err.Error()}
	case errors.Is(err, actors.ErrJobFinished), errors.Is(err, store.ErrSlotTaken):
		return &Error{Status: http.StatusConflict, Msg: err.Error()}
	}
	return &Error{Status: http.StatusInternalServerError, Msg: "internal error"}
}

// errorMiddleware writes the last error a handler recorded, in one place.
func errorMiddleware(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		c.Next()
		if len(c.Errors) == 0 || c.Writer.Written() {
			return
		}
		err := c.Errors.Last().Err
		ae := toAPIError(err)
		// 503 and 507 are the node's state (shutting down, shut down, a
		// full disk), logged where it changes, not per request.
		if ae.Status >= 500 && ae.Status != http.StatusServiceUnavailable && ae.Status != http.StatusInsufficientStorage {
			logger.Error("request failed", "method", c.Request.Method, "path", c.Request.URL.Path, "err", err)
		}
		if c.GetBool(submitKey) {
			logRefusedSubmit(logger, c, ae)
		}
		c.JSON(ae.Status, errBody{Error: ae.Msg, Field: ae.Field})
	}
}

// fail records err for errorMiddleware and stops the handler chain.
func fail(c *gin.Context, err error) {
	_ = c.Error(err)
	c.Abort()
}
