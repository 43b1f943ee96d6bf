# .ci/oidc-mock.sh — sourced by .ci/run (bash) before `go test`.
# Builds interop/oidcmock, a small command around
# github.com/oauth2-proxy/mockoidc (a real OpenID Connect provider:
# authorization code with PKCE S256, client authentication, userinfo), in its
# own module so that nothing of it is linked into rip, and exports the path
# the OAuth2 tests start it from (one instance per test, on a loopback port):
#   RIP_TEST_OIDC_MOCK   the oidcmock binary
# Needs only Go and the Go module proxy. To run the OAuth2 tests by hand:
#   source .ci/oidc-mock.sh && go test -run OAuth2 .

OIDC_MOCK_DIR=$(mktemp -d /tmp/rip-oidcmock.XXXXXX)
(cd "$(dirname "${BASH_SOURCE[0]}")/../interop/oidcmock" && go build -o "$OIDC_MOCK_DIR/oidcmock" .)
export RIP_TEST_OIDC_MOCK="$OIDC_MOCK_DIR/oidcmock"
