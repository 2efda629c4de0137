// `vramguard load MODEL --strategy S`: the memory-guard pipeline, for real (or on simulated devices).
#include <ostream>

#include "core/output_file.hpp"
#include "cli/command.hpp"
#include "cli/guard_session.hpp"
#include "guard/report.hpp"
#include "engine/request_setup.hpp"
#include "request/cli_options.hpp"
#include "report/plan_report.hpp"
#include "core/stop_signal.hpp"
#include "vramguard/byte_size.hpp"

namespace vramguard {

Command load_command() {
  CommandSpec spec{
      "load", "load a model through the memory guard: plan, validate, load, verify, report; fall back on out-of-memory",
      "vramguard load MODEL [--strategy S] [device, budget and fallback options] [--units] [--hold] [--verify-data] "
      "[--json] [--report F]",
      "On an out-of-memory anywhere, everything the attempt allocated is released, the allocator's cache "
      "emptied, free memory re-probed, and the next strategy of --fallback tried with the budget shrunk by "
      "the shortfall. Ctrl-C stops cleanly at any stage and the report is still written (exit 130). Exit 1 "
      "with a report of what was tried when nothing fits.",
      [](CommandOptions& own) {
        declare_planning_options(own);
        declare_guard_options(own);
        // clang-format off
        own.options.add_options()
            ("strategy", po::value<std::string>()->value_name("S")->default_value("auto"), "the first strategy to try")
            ("units", po::bool_switch(), "list where every unit went")
            ("verify-data", po::bool_switch(), "compare every loaded tensor's bytes with the file's")
            ("hold", po::bool_switch(), "keep the model loaded until Enter or a signal, then unload and report")
            ("report", po::value<std::string>()->value_name("FILE"), "also write the JSON report to FILE");
        // clang-format on
      }};
  return {spec, [](const Invocation& invocation, CommandIO& io) {
            const LoadRequest request = load_request_from(invocation);
            const InspectedModel model = inspect_requested(request);
            if (const auto file = invocation.text("report")) check_output_path(*file, "the report");  // before any work
            if (request.verify_data && request.simulate) require_host_room_for_simulated_data(model, "--verify-data");
            std::string allocator;
            auto runtime = make_runtime(request, request.verify_data, &allocator);
            const PluginRegistry registry = discover_plugins(request.plugins);
            GuardOptions options = guard_options_from(request, registry);
            ProgressBar progress;
            options.progress = [&](std::uint64_t done, std::uint64_t total) { progress(done, total); };
            options.cancel = &stop_flag();

            GuardPipeline pipeline(*runtime, registry, model, options);
            GuardResult result = run_reporting_failure(pipeline, invocation, io, allocator);
            if (invocation.flag("units") && !invocation.flag("json")) {
              io.out << "Units\n";
              print_unit_table(model.graph, result.placement, io.out);
              io.out << "\n";
            }
            if (invocation.flag("hold")) {
              if (!invocation.flag("json")) print_guard_report(result.report, io.out);
              hold_loaded_model(result.report, io.out);
            }
            pipeline.unload(result);
            if (invocation.flag("hold") && !invocation.flag("json")) {
              // The report was shown before holding; only what unloading left is new.
              for (const auto& snap : result.report.after_unload)
                io.out << "After unload: " << snap.device.str() << " ours in use " << format_bytes(snap.ours_in_use)
                       << ", cached " << format_bytes(snap.ours_cached) << "\n";
              write_guard_report(invocation, result.report, io, false);
              return 0;
            }
            write_guard_report(invocation, result.report, io);
            return 0;
          }};
}

}  // namespace vramguard
