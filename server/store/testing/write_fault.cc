#include "server/store/testing/write_fault.h"

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace autotm::server::testing {
namespace {

// The flag table is not autotm's: no trigger on it.
constexpr char kFlagTable[] = "test_write_fault";

absl::Status Exec(const std::string& uri, const std::string& sql,
                  const std::string& param = "") {
  try {
    pqxx::connection connection(uri);
    pqxx::work txn(connection);
    if (param.empty()) {
      txn.exec(sql);
    } else {
      txn.exec_params(sql, param);
    }
    txn.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("write fault: ", e.what()));
  }
}

}  // namespace

absl::Status InstallWriteFault(const std::string& uri,
                               const std::vector<std::string>& tables) {
  std::vector<std::string> names = tables;
  try {
    pqxx::connection connection(uri);
    pqxx::work txn(connection);
    txn.exec(absl::StrCat("CREATE TABLE IF NOT EXISTS ", kFlagTable,
                          " (sqlstate TEXT NOT NULL)"));
    // USING ERRCODE takes an expression: the flag row's SQLSTATE.
    txn.exec(absl::StrCat(
        "CREATE OR REPLACE FUNCTION test_write_fault() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ DECLARE code TEXT; BEGIN "
        "SELECT sqlstate INTO code FROM ",
        kFlagTable,
        " LIMIT 1; "
        "IF code IS NOT NULL THEN RAISE EXCEPTION "
        "'could not extend file of %: test fault %', TG_TABLE_NAME, code "
        "USING ERRCODE = code; END IF; RETURN NEW; END $$"));
    if (names.empty()) {
      pqxx::result r = txn.exec_params(
          "SELECT table_name FROM information_schema.tables WHERE "
          "table_schema = current_schema() AND table_type = 'BASE TABLE' "
          "AND table_name <> $1",
          std::string(kFlagTable));
      for (const pqxx::row& row : r) names.push_back(row[0].as<std::string>());
    }
    for (const std::string& table : names) {
      txn.exec(
          absl::StrCat("CREATE TRIGGER test_write_fault BEFORE INSERT OR "
                       "UPDATE ON ",
                       txn.quote_name(table),
                       " FOR EACH ROW EXECUTE FUNCTION test_write_fault()"));
    }
    txn.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("write fault: ", e.what()));
  }
}

absl::Status SetWriteFault(const std::string& uri,
                           const std::string& sqlstate) {
  absl::Status status = ClearWriteFault(uri);
  if (!status.ok()) return status;
  return Exec(uri, absl::StrCat("INSERT INTO ", kFlagTable, " VALUES ($1)"),
              sqlstate);
}

absl::Status ClearWriteFault(const std::string& uri) {
  return Exec(uri, absl::StrCat("DELETE FROM ", kFlagTable));
}

}  // namespace autotm::server::testing
