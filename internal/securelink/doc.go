// Package securelink builds the TLS client settings of Shopflow's links to its servers
// (Kafka, Elasticsearch; Postgres reads its own from the database URL) from files, reads
// secrets that may come from files, and explains a failed link in words an operator can
// act on: an untrusted certificate, a certificate for another name, a port that does not
// speak TLS, or credentials the server refused.
package securelink
