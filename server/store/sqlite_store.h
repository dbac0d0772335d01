// The embedded default backend: one SQLite file in WAL mode.
#ifndef AUTOTM_SERVER_STORE_SQLITE_STORE_H_
#define AUTOTM_SERVER_STORE_SQLITE_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/store/store.h"

namespace autotm::server {

// Opens (creating if needed) the SQLite database at `path` and migrates its
// schema. ":memory:" gives a private in-memory database (tests). Internal
// with SQLite's message when the file cannot be opened or is not an autotm
// database.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace autotm::server

#endif  // AUTOTM_SERVER_STORE_SQLITE_STORE_H_
