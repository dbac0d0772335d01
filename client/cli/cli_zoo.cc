#include "client/cli/cli_zoo.h"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "autotm/v1/graph.pb.h"
#include "autotm/v1/profile.pb.h"
#include "client/common/proto_json.h"
#include "client/common/units.h"
#include "client/costmodel/cost_model.h"
#include "client/zoo/zoo.h"
#include "solver/graph_model.h"

namespace autotm::client {
namespace {

int RunZooList(bool json) {
  if (json) {
    std::printf("[");
    bool first = true;
    for (const zoo::ZooModelInfo& model : zoo::ZooModels()) {
      std::printf(
          "%s\n  {\"name\": \"%s\", \"defaultBatch\": %d, \"largeBatch\": %d, "
          "\"paperFootprintGbDefault\": %g, \"paperFootprintGbLarge\": %g}",
          first ? "" : ",", model.name.c_str(), model.default_batch,
          model.large_batch, model.paper_footprint_gb_default,
          model.paper_footprint_gb_large);
      first = false;
    }
    std::printf("\n]\n");
    return kExitOk;
  }
  std::printf("%-14s %8s %8s  %s\n", "MODEL", "BATCH", "LARGE", "DESCRIPTION");
  for (const zoo::ZooModelInfo& model : zoo::ZooModels()) {
    std::printf(
        "%-14s %8d %8s  %s\n", model.name.c_str(), model.default_batch,
        model.large_batch > 0 ? absl::StrCat(model.large_batch).c_str() : "-",
        model.description.c_str());
  }
  return kExitOk;
}

struct ExportFlags {
  std::string model;
  int batch = 0;
  std::string out;
};

int RunZooExport(const ExportFlags& flags) {
  int batch = flags.batch;
  if (batch == 0) {
    batch = 1;  // an unknown model is then reported as such
    for (const zoo::ZooModelInfo& model : zoo::ZooModels()) {
      if (model.name == flags.model) batch = model.default_batch;
    }
  }
  absl::StatusOr<v1::Graph> graph = zoo::BuildZooGraph(flags.model, batch);
  if (!graph.ok()) {
    PrintError(Message(graph.status()));
    return kExitBadInput;
  }
  if (absl::Status status = WriteProtoJsonFile(flags.out, *graph);
      !status.ok()) {
    PrintError(Message(status));
    return kExitBadInput;
  }
  absl::StatusOr<solver::GraphModel> model = solver::GraphModel::Create(*graph);
  if (!model.ok()) {  // a zoo bug: its graphs are validated in tests
    PrintError(Message(model.status()));
    return kExitInternal;
  }
  std::fprintf(
      stderr, "autotm: wrote %s to %s: %d kernels, %d tensors, peak live %s\n",
      graph->name().c_str(), flags.out.c_str(), model->num_kernels(),
      model->num_tensors(), FormatBytes(model->PeakLiveBytes()).c_str());
  return kExitOk;
}

struct SynthFlags {
  std::string cost_model = "optane-2019";
  std::string graph;
  std::string out;
  int max_table_operands = 10;
};

int RunProfileSynth(const SynthFlags& flags) {
  absl::StatusOr<costmodel::CostModel> model =
      costmodel::CostModelByName(flags.cost_model);
  if (!model.ok()) {
    PrintError(absl::StrCat("--cost-model: ", Message(model.status())));
    return kExitBadInput;
  }
  v1::Graph graph;
  if (absl::Status status = ReadProtoJsonFile(flags.graph, &graph);
      !status.ok()) {
    PrintError(Message(status));
    return kExitBadInput;
  }
  costmodel::SynthesisOptions options;
  options.max_table_operands = flags.max_table_operands;
  absl::StatusOr<v1::Profile> profile =
      costmodel::SynthesizeProfile(graph, *model, options);
  if (!profile.ok()) {
    PrintError(absl::StrCat(flags.graph, ": ", Message(profile.status())));
    return kExitBadInput;
  }
  if (absl::Status status = WriteProtoJsonFile(flags.out, *profile);
      !status.ok()) {
    PrintError(Message(status));
    return kExitBadInput;
  }
  int separable = 0;
  size_t configs = 0;
  for (const v1::KernelProfile& kernel : profile->kernels()) {
    separable += kernel.has_separable();
    configs += kernel.configs_size();
  }
  std::fprintf(stderr,
               "autotm: wrote %s profile for %s to %s: %d signatures (%zu "
               "configuration timings, %d separable costs)\n",
               flags.cost_model.c_str(), graph.name().c_str(),
               flags.out.c_str(), profile->kernels_size(), configs, separable);
  return kExitOk;
}

}  // namespace

std::vector<CliCommand> AddZooCommands(CLI::App& app) {
  std::vector<CliCommand> commands;

  CLI::App* zoo_cmd = app.add_subcommand(
      "zoo",
      "Built-in training graphs of the AutoTM workloads\n"
      "\n"
      "Builds the full training graph (forward, backward, SGD update, in\n"
      "execution order) of VGG19/416, ResNet-50/200, Inception v4 and\n"
      "DenseNet-264 at any batch size (fp32). See docs/ZOO.md.\n");
  zoo_cmd->require_subcommand(1);
  zoo_cmd->footer(
      "Examples:\n  autotm zoo list\n"
      "  autotm zoo export --model resnet200 --batch 512 --out g.json");

  auto list_json = std::make_shared<bool>(false);
  CLI::App* list = zoo_cmd->add_subcommand(
      "list",
      "List the models with the paper's batch sizes\n"
      "\n"
      "BATCH is the paper's conventional CPU batch (LARGE: its large-memory\n"
      "batch, '-' when the model is not in that set).\n");
  list->add_flag("--json", *list_json, "Print JSON");
  commands.push_back({list, [list_json] { return RunZooList(*list_json); }});

  auto export_flags = std::make_shared<ExportFlags>();
  CLI::App* export_cmd = zoo_cmd->add_subcommand(
      "export",
      "Write a model's training graph (autotm.v1.Graph JSON)\n"
      "\n"
      "Builds the training graph of --model at --batch (default: the\n"
      "paper's batch) and writes it to --out.\n");
  export_cmd
      ->add_option("--model", export_flags->model, "A name from 'zoo list'")
      ->required()
      ->type_name("NAME");
  export_cmd->add_option("--batch", export_flags->batch, "Batch size")
      ->check(CLI::Range(1, zoo::kMaxZooBatch))
      ->type_name("N");
  export_cmd->add_option("--out", export_flags->out, "Output file")
      ->required()
      ->type_name("FILE");
  export_cmd->footer(
      "Example:\n  autotm zoo export --model resnet200 --batch 512 --out "
      "g.json\n\nExit codes: 0 written; 1 unknown model, bad batch or I/O "
      "error.");
  commands.push_back(
      {export_cmd, [export_flags] { return RunZooExport(*export_flags); }});

  CLI::App* profile_cmd = app.add_subcommand(
      "profile",
      "Make kernel timing profiles\n"
      "\n"
      "Creates kernel timing profiles (autotm.v1.Profile JSON) for graphs.\n"
      "(Profiles kept by a server are managed with 'autotm profiles'.)\n");
  profile_cmd->require_subcommand(1);
  auto synth_flags = std::make_shared<SynthFlags>();
  CLI::App* synth = profile_cmd->add_subcommand(
      "synth",
      "Synthesize a profile for a graph from a cost model\n"
      "\n"
      "Prices every kernel signature of --graph under every IO-tier\n"
      "configuration with a cost model and writes the profile to --out.\n"
      "'optane-2019': a roofline base time with slow-tier penalties fitted\n"
      "on AutoTM's real Optane DC PMM measurements, and AutoTM's copy\n"
      "bandwidths (docs/COST_MODEL.md). Kernels with more operands than\n"
      "--max-table-operands get a separable cost instead of a 2^n table.\n");
  synth
      ->add_option(
          "--cost-model", synth_flags->cost_model,
          absl::StrCat("One of: ",
                       absl::StrJoin(costmodel::CostModelNames(), ", ")))
      ->capture_default_str()
      ->type_name("NAME");
  synth
      ->add_option("--graph", synth_flags->graph,
                   "Training graph (autotm.v1.Graph JSON)")
      ->required()
      ->type_name("FILE");
  synth->add_option("--out", synth_flags->out, "Output profile")
      ->required()
      ->type_name("FILE");
  synth
      ->add_option("--max-table-operands", synth_flags->max_table_operands,
                   "Largest kernel given a full table")
      ->check(CLI::Range(0, 24))
      ->capture_default_str()
      ->type_name("N");
  synth->footer(
      "Example:\n  autotm profile synth --cost-model optane-2019 --graph "
      "g.json "
      "--out p.json\n\nExit codes: 0 written; 1 bad input or I/O error.");
  commands.push_back(
      {synth, [synth_flags] { return RunProfileSynth(*synth_flags); }});
  return commands;
}

}  // namespace autotm::client
