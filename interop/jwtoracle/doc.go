// Package jwtoracle checks rip's hand-written HS256 JWT against
// github.com/golang-jwt/jwt/v5, an independent implementation. It is a
// separate module so that package rip never links golang-jwt.
//
// rip's JWT API is unexported, so the two sides exchange JSON files of
// tokens: rip's TestJWTOracleVectors writes the tokens it signed
// (RIP_JWT_VECTORS) and verifies the ones golang-jwt signed
// (RIP_JWT_FOREIGN); this package's TestOracle does the opposite.
// ../../jwt-oracle.sh runs the round trip and the comparison benchmarks.
package jwtoracle
