// Storage failures raised by a real PostgreSQL server, on demand, for tests
// of the disk-full handling (issue 19): a BEFORE INSERT OR UPDATE row
// trigger on autotm's tables raises an error with a chosen SQLSTATE (e.g.
// 53100 disk_full) while a flag row says so. The error comes from the
// server as a real one would, through libpq and libpqxx; only its cause is
// simulated. Reads and deletes are not affected.
//
//   ASSERT_TRUE(InstallWriteFault(uri).ok());       // after the schema exists
//   ASSERT_TRUE(SetWriteFault(uri, "53100").ok());  // writes now fail
//   ...
//   ASSERT_TRUE(ClearWriteFault(uri).ok());         // writes work again
#ifndef AUTOTM_SERVER_STORE_TESTING_WRITE_FAULT_H_
#define AUTOTM_SERVER_STORE_TESTING_WRITE_FAULT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"

namespace autotm::server::testing {

// Installs the trigger on `tables` of the database at `uri` (a libpq URI),
// or on every table of autotm's schema when `tables` is empty (the tables
// must exist: open the store first). Off until SetWriteFault. Internal with
// PostgreSQL's message on failure.
absl::Status InstallWriteFault(const std::string& uri,
                               const std::vector<std::string>& tables = {});

// From now on every insert or update of those tables fails with `sqlstate`
// (five characters) and a message that names it a test fault.
absl::Status SetWriteFault(const std::string& uri, const std::string& sqlstate);

// Writes work again.
absl::Status ClearWriteFault(const std::string& uri);

}  // namespace autotm::server::testing

#endif  // AUTOTM_SERVER_STORE_TESTING_WRITE_FAULT_H_
