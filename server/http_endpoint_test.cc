// The HTTP endpoint over real loopback sockets, with httplib's client.
#include "server/http_endpoint.h"

#include <atomic>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace autotm::server {
namespace {

TEST(HttpEndpointTest, ServesRegisteredPathsAndAnswers404Otherwise) {
  HttpEndpoint http;
  std::atomic<int> calls = 0;
  ASSERT_TRUE(http.HandleGet("/metrics",
                             [&](const HttpRequest& request) {
                               ++calls;
                               return HttpResponse{
                                   200, kPrometheusContentType,
                                   "up 1\n" + request.path + " " +
                                       (request.params.count("x")
                                            ? request.params.at("x")
                                            : "-")};
                             })
                  .ok());
  ASSERT_TRUE(http.HandleGet("/a.b",
                             [](const HttpRequest&) {
                               return HttpResponse{418, "text/plain", "teapot"};
                             })
                  .ok());
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  ASSERT_GT(http.port(), 0);
  EXPECT_EQ(http.address(), "127.0.0.1:" + std::to_string(http.port()));

  httplib::Client client("127.0.0.1", http.port());
  httplib::Result result = client.Get("/metrics?x=7");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->body, "up 1\n/metrics 7");
  EXPECT_EQ(result->get_header_value("Content-Type"), kPrometheusContentType);

  result = client.Get("/a.b");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 418);
  // Exact paths: '.' is not a pattern, no prefixes.
  result = client.Get("/aXb");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  result = client.Get("/metrics/more");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  EXPECT_EQ(calls.load(), 1);

  http.Stop();
  http.Stop();  // idempotent
  httplib::Client after("127.0.0.1", http.port());
  after.set_connection_timeout(2, 0);
  EXPECT_FALSE(after.Get("/metrics"));
}

TEST(HttpEndpointTest, PassesRequestHeadersLowerCasedAndSendsResponseHeaders) {
  HttpEndpoint http;
  ASSERT_TRUE(http.HandleGet("/h",
                             [](const HttpRequest& request) {
                               auto it = request.headers.find("authorization");
                               HttpResponse response{401, "text/plain",
                                                     it == request.headers.end()
                                                         ? "-"
                                                         : it->second};
                               response.headers.emplace_back(
                                   "WWW-Authenticate", "Bearer realm=\"x\"");
                               return response;
                             })
                  .ok());
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  httplib::Client client("127.0.0.1", http.port());
  httplib::Result result =
      client.Get("/h", httplib::Headers{{"Authorization", "Bearer t0k"}});
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->status, 401);
  EXPECT_EQ(result->body, "Bearer t0k");
  EXPECT_EQ(result->get_header_value("WWW-Authenticate"), "Bearer realm=\"x\"");
  result = client.Get("/h");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->body, "-");
}

TEST(HttpEndpointTest, ServesIpv6LoopbackWithBrackets) {
  HttpEndpoint http;
  ASSERT_TRUE(http.HandleGet("/x",
                             [](const HttpRequest&) {
                               return HttpResponse{200, "text/plain", "six"};
                             })
                  .ok());
  const absl::Status status = http.Start("[::1]:0");
  if (absl::IsUnavailable(status)) {
    GTEST_SKIP() << "no IPv6 loopback here: " << status;
  }
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(http.address(), "[::1]:" + std::to_string(http.port()));
  httplib::Client client("::1", http.port());
  httplib::Result result = client.Get("/x");
  ASSERT_TRUE(result) << httplib::to_string(result.error());
  EXPECT_EQ(result->body, "six");
}

TEST(HttpEndpointTest, PortInUseIsAnErrorOfStart) {
  HttpEndpoint first;
  ASSERT_TRUE(first.Start("127.0.0.1:0").ok());
  HttpEndpoint second;
  const absl::Status status =
      second.Start("127.0.0.1:" + std::to_string(first.port()));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(std::string(status.message()),
              ::testing::HasSubstr("cannot bind"));
}

TEST(HttpEndpointTest, RefusesBadAddressesAndLateRegistration) {
  HttpEndpoint http;
  EXPECT_EQ(http.HandleGet("metrics", nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(
      http.HandleGet("/m", [](const HttpRequest&) { return HttpResponse{}; })
          .ok());
  EXPECT_EQ(http.HandleGet("/m", nullptr).code(),
            absl::StatusCode::kAlreadyExists);
  for (const char* bad :
       {"127.0.0.1", "127.0.0.1:x", "127.0.0.1:70000", "::1:80", ":80"}) {
    EXPECT_EQ(http.Start(bad).code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(http.Start("192.0.2.1:0").code(), absl::StatusCode::kUnavailable)
      << "an address of no interface here";
  // A failed Start() may be retried.
  ASSERT_TRUE(http.Start("127.0.0.1:0").ok());
  httplib::Client client("127.0.0.1", http.port());
  httplib::Result result = client.Get("/m");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(http.HandleGet("/late", nullptr).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(http.Start("127.0.0.1:0").code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(HttpEndpointTest, EnableTlsRefusesBadFilesAndLateCalls) {
  HttpEndpoint http;
  absl::Status status = http.EnableTls("/nonexistent.pem", "/nonexistent.key");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()),
              ::testing::HasSubstr("/nonexistent.pem"));
  EXPECT_FALSE(http.tls());
  ASSERT_TRUE(http.HandleGet("/x",
                             [](const HttpRequest&) {
                               return HttpResponse{200, "text/plain", "x"};
                             })
                  .ok());
  EXPECT_EQ(http.EnableTls("/a.pem", "/a.key").code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace autotm::server
