package caddymodule

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/checkoutgw/checkoutgw/envelope"
	"github.com/checkoutgw/checkoutgw/signedrequest"
	"go.uber.org/zap/zapcore"
)

// Groups of checks that report_only can name.
const (
	groupSignature = "signature"
	groupBody      = "body"
	groupReplay    = "replay"
	groupRateLimit = "rate_limit"
)

var reportGroups = []string{groupSignature, groupBody, groupReplay, groupRateLimit}

// reasonGroup puts each reason that report_only can cover in its group. A
// reason in no group protects the gateway itself (path, framing, size, read
// time, method) and is always enforced.
var reasonGroup = map[envelope.Reason]string{
	envelope.ReasonTokenMissing:       groupSignature,
	envelope.ReasonTokenMalformed:     groupSignature,
	envelope.ReasonTokenHeader:        groupSignature,
	envelope.ReasonAlgNotAllowed:      groupSignature,
	envelope.ReasonKidUnknown:         groupSignature,
	envelope.ReasonAPIKey:             groupSignature,
	envelope.ReasonAPIKeyMismatch:     groupSignature,
	envelope.ReasonNoKeyVerified:      groupSignature,
	envelope.ReasonSignatureInvalid:   groupSignature,
	envelope.ReasonNoKeys:             groupSignature,
	envelope.ReasonClaimMissing:       groupSignature,
	envelope.ReasonClaimType:          groupSignature,
	envelope.ReasonAudience:           groupSignature,
	envelope.ReasonTokenExpired:       groupSignature,
	envelope.ReasonTokenNotYetValid:   groupSignature,
	envelope.ReasonTokenLifetime:      groupSignature,
	envelope.ReasonMethodMismatch:     groupSignature,
	envelope.ReasonPathMismatch:       groupSignature,
	envelope.ReasonQueryMismatch:      groupSignature,
	envelope.ReasonBodyHashMismatch:   groupSignature,
	envelope.ReasonMediaType:          groupBody,
	envelope.ReasonContentEncoding:    groupBody,
	envelope.ReasonBodyNotJSON:        groupBody,
	envelope.ReasonSchema:             groupBody,
	envelope.ReasonParameterInvalid:   groupBody,
	envelope.ReasonBodyRequired:       groupBody,
	envelope.ReasonBodyNotAllowed:     groupBody,
	envelope.ReasonReplayed:           groupReplay,
	envelope.ReasonReplayStoreFull:    groupReplay,
	envelope.ReasonReplayStoreDown:    groupReplay,
	envelope.ReasonRateLimited:        groupRateLimit,
	envelope.ReasonRateLimitStoreDown: groupRateLimit,
	envelope.ReasonReplayNotDurable:   groupReplay,
}

func checkReportGroups(groups []string) error {
	for _, group := range groups {
		if !slices.Contains(reportGroups, group) {
			return fmt.Errorf("report_only: %q is not one of %v", group, reportGroups)
		}
	}
	return nil
}

// findings is what report_only let through for one request.
type findings struct {
	reported   []envelope.Reason
	unverified bool // a signature check was reported: no key vouches for the request
}

// settle is where a failed check becomes a refusal or, in a group that
// report_only covers, a report: logged at Warn with the refusal's fields,
// counted under outcome `reported`, and the request goes on.
func (g *Gateway) settle(r *http.Request, tok *signedrequest.Token, f *findings, rej *envelope.Rejection) *envelope.Rejection {
	if rej == nil {
		return nil
	}
	group, coverable := reasonGroup[rej.Reason]
	if !coverable || !slices.Contains(g.ReportOnly, group) {
		return rej
	}
	if len(f.reported) == 0 {
		setPlaceholder(r, placeholderReason, string(rej.Reason))
	}
	if tok != nil {
		setPlaceholder(r, placeholderKid, envelope.Clip(tok.Kid()))
	}
	f.reported = append(f.reported, rej.Reason)
	if group == groupSignature {
		f.unverified = true
	}
	g.metrics.countRequest(outcomeReported, rej.Reason)
	if ce := g.logger.Check(zapcore.WarnLevel, "request would be refused; forwarded (report_only)"); ce != nil {
		ce.Write(g.refusalFields(r, requestID(r), rej, tok)...)
	}
	return nil
}
