module github.com/ripkit/rip/interop/jwtoracle

go 1.26.0

replace github.com/ripkit/rip => ../..

require github.com/golang-jwt/jwt/v5 v5.3.1
