/**
 * A self-signed certificate for the HTTPS test service (127.0.0.1 and localhost, valid until
 * 2126). Test-only material, generated for this repository; it protects nothing.
 *   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 36500 -nodes \
 *     -subj "/CN=edge-agent test service" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost"
 */
export const TEST_TLS_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgg8co4nsjEASIxDH1
qb7e7HIHDJ6YREi3vD/UUR8TCo2hRANCAAQTkgsyq/p1r/ymEWRHzSB6JGP8sbHO
EzD1J/C39/qKsgRhQDclgMrcly4cVRTOKQ4HVLSlgJBH6cDxR/GRVyhi
-----END PRIVATE KEY-----
`;

export const TEST_TLS_CERT = `-----BEGIN CERTIFICATE-----
MIIBtzCCAV2gAwIBAgIUCqDI0eu1WC1++cSYsqu6Za68DeowCgYIKoZIzj0EAwIw
IjEgMB4GA1UEAwwXZWRnZS1hZ2VudCB0ZXN0IHNlcnZpY2UwIBcNMjYxMTIxMjIy
OTUyWhgPMjEyNjEwMjgyMjI5NTJaMCIxIDAeBgNVBAMMF2VkZ2UtYWdlbnQgdGVz
dCBzZXJ2aWNlMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEE5ILMqv6da/8phFk
R80geiRj/LGxzhMw9Sfwt/f6irIEYUA3JYDK3JcuHFUUzikOB1S0pYCQR+nA8Ufx
kVcoYqNvMG0wHQYDVR0OBBYEFFn0GYFOrqqtrKRLVW76vJAIcb9dMB8GA1UdIwQY
MBaAFFn0GYFOrqqtrKRLVW76vJAIcb9dMA8GA1UdEwEB/wQFMAMBAf8wGgYDVR0R
BBMwEYcEfwAAAYIJbG9jYWxob3N0MAoGCCqGSM49BAMCA0gAMEUCICY/tcs7d/qj
zktczhUXV9Sn56aQwt6tEqyqJpk7LyAFAiEAnN08LytsyT1ri0OWKC0xRU/zMly/
eu1nfiuY883tSFI=
-----END CERTIFICATE-----
`;
