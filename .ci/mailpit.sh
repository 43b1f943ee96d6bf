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

# free_port prints a loopback TCP port nothing listens on, so a second run
# (or a leftover instance) never makes the tests talk to the wrong server.
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((20000 + RANDOM % 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "mailpit.sh: no free port found" >&2
	return 1
}

mailpit_start() { # name http-port smtp-port tls-flag
	"$MAILPIT" --disable-version-check --quiet \
		-d "$MAILPIT_DIR/$1.db" -l "127.0.0.1:$2" -s "127.0.0.1:$3" \
		--smtp-auth-file "$MAILPIT_DIR/auth" \
		--smtp-tls-cert "$MAILPIT_DIR/cert.pem" --smtp-tls-key "$MAILPIT_DIR/key.pem" "$4" \
		>"$MAILPIT_DIR/$1.log" 2>&1 &
	echo $! >"$MAILPIT_DIR/$1.pid"
	"$MAILPIT" readyz --wait --timeout 30s -l "127.0.0.1:$2"
	kill -0 "$(cat "$MAILPIT_DIR/$1.pid")" || { cat "$MAILPIT_DIR/$1.log"; echo "mailpit.sh: $1 instance exited" >&2; return 1; }
}
p1=$(free_port) && s1=$(free_port) && p2=$(free_port) && s2=$(free_port)
mailpit_start starttls "$p1" "$s1" --smtp-require-starttls
mailpit_start implicit "$p2" "$s2" --smtp-require-tls

export RIP_TEST_SMTP_ADDR=127.0.0.1:$s1 RIP_TEST_SMTP_API=http://127.0.0.1:$p1
export RIP_TEST_SMTPS_ADDR=127.0.0.1:$s2 RIP_TEST_SMTPS_API=http://127.0.0.1:$p2
export RIP_TEST_SMTP_CA="$MAILPIT_DIR/cert.pem"
export RIP_TEST_SMTP_USER=rip RIP_TEST_SMTP_PASSWORD=rip-test-password
