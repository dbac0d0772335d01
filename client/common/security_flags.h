// The TLS and credential flags every autotm client program takes (the
// `autotm` CLI's remote commands, autotm-agent), with their environment
// variables, and how they become ClientOptions:
//
//   --tls-ca FILE     $AUTOTM_TLS_CA     PEM roots the server's certificate
//                                         must chain to (turns TLS on)
//   --tls-cert FILE   $AUTOTM_TLS_CERT   client certificate (mutual TLS)
//   --tls-key FILE    $AUTOTM_TLS_KEY    its private key
//   --tls                                 TLS with the system's roots
//   --token-file FILE $AUTOTM_TOKEN_FILE bearer token (first line of FILE)
//                     $AUTOTM_TOKEN      ... or the token itself
//
// A token is never passed as a flag: command lines are visible to every
// user of the host (ps).
#ifndef AUTOTM_CLIENT_COMMON_SECURITY_FLAGS_H_
#define AUTOTM_CLIENT_COMMON_SECURITY_FLAGS_H_

#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "client/lib/client.h"

namespace autotm::client {

struct SecurityFlags {
  bool tls = false;
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string token_file;
};

// Adds the flags above to `command`.
void AddSecurityFlags(CLI::App* command, SecurityFlags* flags);

// Copies the flags into `options`, reading the token from --token-file or
// $AUTOTM_TOKEN. NotFound naming an unreadable token file,
// InvalidArgument for an empty one.
absl::Status ApplySecurityFlags(const SecurityFlags& flags,
                                ClientOptions* options);

}  // namespace autotm::client

#endif  // AUTOTM_CLIENT_COMMON_SECURITY_FLAGS_H_
