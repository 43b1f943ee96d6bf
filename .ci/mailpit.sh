# .ci/mailpit.sh — sourced by .ci/run (bash) before `go test`.
# It installs Mailpit (a real SMTP server with a REST API), starts two
# instances on loopback and exports the variables mail_mailpit_test.go reads:
#   RIP_TEST_SMTP_ADDR / RIP_TEST_SMTP_API    STARTTLS required, AUTH from a password file
#   RIP_TEST_SMTPS_ADDR / RIP_TEST_SMTPS_API  implicit TLS, same credentials
#   RIP_TEST_SMTP_CA                          PEM certificate both instances present
#   RIP_TEST_SMTP_USER / RIP_TEST_SMTP_PASSWORD
# The instances run until the CI run ends; their PIDs are in $MAILPIT_DIR/*.pid.

MAILPIT_VERSION=v1.33.1
MAILPIT_DIR=$(mktemp -d /tmp/rip-mailpit.XXXXXX)

command -v openssl >/dev/null || { apt-get update && apt-get install -y openssl; }
go install "github.com/axllent/mailpit@${MAILPIT_VERSION}"
MAILPIT="$(go env GOPATH)/bin/mailpit"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	-keyout "$MAILPIT_DIR/key.pem" -out "$MAILPIT_DIR/cert.pem" 2>/dev/null
printf 'rip:rip-test-password\n' >"$MAILPIT_DIR/auth"

mailpit_start() { # name http-port smtp-port tls-flag
	"$MAILPIT" --disable-version-check --quiet \
		-d "$MAILPIT_DIR/$1.db" -l "127.0.0.1:$2" -s "127.0.0.1:$3" \
		--smtp-auth-file "$MAILPIT_DIR/auth" \
		--smtp-tls-cert "$MAILPIT_DIR/cert.pem" --smtp-tls-key "$MAILPIT_DIR/key.pem" "$4" \
		>"$MAILPIT_DIR/$1.log" 2>&1 &
	echo $! >"$MAILPIT_DIR/$1.pid"
	"$MAILPIT" readyz --wait --timeout 30s -l "127.0.0.1:$2"
}
mailpit_start starttls 18725 11725 --smtp-require-starttls
mailpit_start implicit 18726 11726 --smtp-require-tls

export RIP_TEST_SMTP_ADDR=127.0.0.1:11725 RIP_TEST_SMTP_API=http://127.0.0.1:18725
export RIP_TEST_SMTPS_ADDR=127.0.0.1:11726 RIP_TEST_SMTPS_API=http://127.0.0.1:18726
export RIP_TEST_SMTP_CA="$MAILPIT_DIR/cert.pem"
export RIP_TEST_SMTP_USER=rip RIP_TEST_SMTP_PASSWORD=rip-test-password
