// Shared checks of the fuzz targets (tests/fuzz): what must hold for any
// graph or profile, valid or not. A violation aborts, which libFuzzer
// reports as a crash with the input that caused it.
#ifndef AUTOTM_TESTS_FUZZ_FUZZ_CHECKS_H_
#define AUTOTM_TESTS_FUZZ_FUZZ_CHECKS_H_

#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"

namespace autotm::fuzz {

// Validates `graph`; an error must be InvalidArgument with a message. A
// graph that validates must have live bytes that agree with its intervals
// (LiveAt, LiveBytes, PeakLiveBytes, AlignedPeakLiveBytes).
void CheckGraph(const v1::Graph& graph);

// Validates `profile` with table collapsing on and off; an error must be
// InvalidArgument with a message.
void CheckProfile(const v1::Profile& profile);

}  // namespace autotm::fuzz

#endif  // AUTOTM_TESTS_FUZZ_FUZZ_CHECKS_H_
