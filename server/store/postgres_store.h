// The shared backend: one PostgreSQL database that several autotm-server
// replicas use at once (docs/DEPLOY.md). Jobs are claimed with
// SELECT ... FOR UPDATE SKIP LOCKED under leases (store.h); job changes are
// announced with NOTIFY (WaitForJobChanges).
#ifndef AUTOTM_SERVER_STORE_POSTGRES_STORE_H_
#define AUTOTM_SERVER_STORE_POSTGRES_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/store/store.h"

namespace autotm::server {

// Database errors are logged in full through spdlog's default logger (the
// server makes it its own); clients get Internal naming the operation and
// the SQLSTATE only. Storage failures -- SQLSTATE classes 53 (insufficient
// resources: disk full, out of memory) and 58 (system errors: I/O error),
// and a connection lost or refused (after one retry on a fresh one) -- are
// Unavailable instead, marked IsStorageFailure, with a message free of SQL;
// PostgreSQL's words and the query go to the StoreObserver (Store::
// SetObserver) for the server's log. Store::ProbeWrite writes into fresh
// pages (postgres_store.cc), so it fails while the disk is full.
struct PostgresStoreOptions {
  // Connections kept open at most (each method holds one while it runs).
  int max_connections = 8;
};

// True for a libpq URI ("postgresql://..." or "postgres://...").
bool IsPostgresUri(absl::string_view db);

// `uri` with its password (if any) replaced by "***", for logs and messages.
std::string RedactUri(const std::string& uri);

// Connects to the database at `uri` (a libpq connection URI) and migrates
// its schema (serialized between replicas starting together). Internal when
// the database cannot be reached (the message names the URI without its
// password) or holds tables that are not autotm's.
absl::StatusOr<std::unique_ptr<Store>> OpenPostgresStore(
    const std::string& uri, PostgresStoreOptions options = {});

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_STORE_POSTGRES_STORE_H_
