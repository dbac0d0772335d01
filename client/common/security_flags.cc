#include "client/common/security_flags.h"

#include <cstdlib>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace autotm::client {

void AddSecurityFlags(CLI::App* command, SecurityFlags* flags) {
  command
      ->add_option("--tls-ca", flags->tls_ca,
                   "Use TLS; the server's certificate must chain to this PEM "
                   "CA ($AUTOTM_TLS_CA)")
      ->envname("AUTOTM_TLS_CA")
      ->type_name("FILE");
  command
      ->add_option("--tls-cert", flags->tls_cert,
                   "Client certificate for mutual TLS, PEM ($AUTOTM_TLS_CERT)")
      ->envname("AUTOTM_TLS_CERT")
      ->type_name("FILE");
  command
      ->add_option("--tls-key", flags->tls_key,
                   "Private key of --tls-cert, PEM ($AUTOTM_TLS_KEY)")
      ->envname("AUTOTM_TLS_KEY")
      ->type_name("FILE");
  command->add_flag("--tls", flags->tls,
                    "Use TLS with the system's root certificates");
  command
      ->add_option("--token-file", flags->token_file,
                   "Send the bearer token in FILE's first line "
                   "($AUTOTM_TOKEN_FILE; or the token in $AUTOTM_TOKEN)")
      ->envname("AUTOTM_TOKEN_FILE")
      ->type_name("FILE");
}

absl::Status ApplySecurityFlags(const SecurityFlags& flags,
                                ClientOptions* options) {
  options->tls = flags.tls;
  options->tls_ca_file = flags.tls_ca;
  options->tls_cert_file = flags.tls_cert;
  options->tls_key_file = flags.tls_key;
  if (!flags.token_file.empty()) {
    std::ifstream in(flags.token_file);
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("cannot read the token file ", flags.token_file));
    }
    std::string line;
    std::getline(in, line);
    options->token = std::string(absl::StripAsciiWhitespace(line));
    if (options->token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the token file ", flags.token_file,
                       " has no token on its first line"));
    }
  } else if (const char* token = std::getenv("AUTOTM_TOKEN");
             token != nullptr && *token != '\0') {
    options->token = std::string(absl::StripAsciiWhitespace(token));
  }
  return absl::OkStatus();
}

}  // namespace autotm::client
