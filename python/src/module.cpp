// The Python extension `vramguard._vramguard`: a thin binding over the runtime API. Sessions, unit
// scopes and planning are the C++ runtime's; tensors cross as torch.Tensor views of the memory the
// executor holds (no copies); the host's errors become Python exceptions with its messages and hints.
// The Python package (vramguard/__init__.py) builds the user-facing API on these.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/csrc/utils/pybind.h>  // at::Tensor <-> torch.Tensor

#include <c10/util/Exception.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "vramguard/byte_size.hpp"
#include "vramguard/errors.hpp"
#include "vramguard/runtime/option_catalog.hpp"
#include "vramguard/runtime/logging.hpp"
#include "vramguard/runtime/plan.hpp"
#include "vramguard/runtime/session.hpp"

namespace py = pybind11;
using namespace vramguard;

namespace {

// The exception classes, made once at import.
struct Exceptions {
  py::object error, input_error, out_of_memory, plugin_error;
};
Exceptions& exceptions() {
  static Exceptions* instance = new Exceptions();  // lives as long as the interpreter: never destroyed
  return *instance;
}

void raise(const py::object& type, const vramguard::Error& e) {
  const std::string hint = e.hint();
  std::string message = e.what();
  if (!hint.empty()) message += "\n  what to do: " + hint;
  py::object instance = type(message);
  instance.attr("hint") = hint;
  PyErr_SetObject(type.ptr(), instance.ptr());
}

void translate(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const PluginError& e) {
    raise(exceptions().plugin_error, e);
  } catch (const MemoryError& e) {
    raise(exceptions().out_of_memory, e);
  } catch (const vramguard::Error& e) {
    switch (e.exit_code()) {
      case ExitCode::bad_input: raise(exceptions().input_error, e); break;
      case ExitCode::interrupted: PyErr_SetString(PyExc_KeyboardInterrupt, e.what()); break;
      default: raise(exceptions().error, e); break;
    }
  }
}

// The keywords runtime_options() in _options.py checked, each as the text (or list of texts) the
// option's parser takes; everything goes in by the CLI's name, through the one reader.
runtime::Options options_from(const py::dict& given) {
  static const std::vector<runtime::OptionInfo> catalog = runtime::option_catalog();
  runtime::Options options;
  std::vector<std::pair<std::string, std::string>> by_name;
  for (const auto& [key, value] : given) {
    const std::string keyword = py::str(key).cast<std::string>();
    if (value.is_none()) continue;
    if (keyword == "strategy") {
      options.strategy = py::str(value).cast<std::string>();
    } else if (keyword == "settings") {
      by_name = value.cast<std::vector<std::pair<std::string, std::string>>>();
    } else {
      const auto option = std::find_if(catalog.begin(), catalog.end(),
                                       [&](const runtime::OptionInfo& o) { return o.keyword == keyword; });
      if (option == catalog.end()) throw UsageError("no option has the keyword '" + keyword + "'");
      if (py::isinstance<py::list>(value) || py::isinstance<py::tuple>(value)) {
        for (const auto& item : value) options.settings.emplace_back(option->name, py::str(item).cast<std::string>());
      } else {
        options.settings.emplace_back(option->name, py::str(value).cast<std::string>());
      }
    }
  }
  options.settings.insert(options.settings.end(), by_name.begin(), by_name.end());
  return options;
}

py::dict unit_dict(const runtime::UnitInfo& unit, const runtime::UnitDescription* description) {
  py::dict d;
  d["name"] = unit.name;
  d["kind"] = unit.kind;
  d["mode"] = unit.mode;
  d["device"] = unit.device.str();
  d["executes_on"] = unit.executes_on;
  d["bytes"] = unit.bytes;
  d["slice_of"] = unit.slice_of;
  py::list tensors;
  if (description != nullptr)
    for (const auto& t : description->tensors) {
      py::dict tensor;
      tensor["name"] = t.name;
      tensor["shape"] = t.shape;
      tensor["dtype"] = t.dtype;
      tensor["tied_to"] = t.tied_to;
      tensors.append(tensor);
    }
  d["tensors"] = tensors;
  return d;
}

// The host's log lines go to Python's logging through `emit` (vramguard/_logging.py). A line logged on
// a thread that holds the GIL is emitted at once; one from a thread that does not (a loader thread,
// while the caller waits on it holding the GIL) waits in a queue for the next line or call that can
// emit it, so that no thread ever blocks on the GIL inside the host.
class LogBridge {
 public:
  void install(py::object emit) {
    emit_ = new py::object(std::move(emit));  // lives as long as the interpreter: never destroyed
    runtime::set_log_sink([this](runtime::LogLevel level, std::string_view message) { write(level, message); });
  }

  // Emits what other threads queued; called with the GIL held.
  void flush() {
    std::vector<std::pair<runtime::LogLevel, std::string>> queued;
    {
      std::lock_guard lock(mutex_);
      queued.swap(queue_);
    }
    for (auto& [level, message] : queued) emit(level, message);
  }

 private:
  void write(runtime::LogLevel level, std::string_view message) {
    if (!Py_IsInitialized() || !PyGILState_Check()) {
      std::lock_guard lock(mutex_);
      queue_.emplace_back(level, std::string(message));
      return;
    }
    flush();
    emit(level, std::string(message));
  }

  void emit(runtime::LogLevel level, const std::string& message) {
    try {
      (*emit_)(static_cast<int>(level), message);
    } catch (py::error_already_set& e) {
      // A handler of the application's failed: Python's own report of it, as logging does.
      e.discard_as_unraisable("vramguard's log line to Python's logging");
    }
  }

  py::object* emit_ = nullptr;
  std::mutex mutex_;
  std::vector<std::pair<runtime::LogLevel, std::string>> queue_;
};

LogBridge& log_bridge() {
  static LogBridge* instance = new LogBridge();  // lives as long as the interpreter: never destroyed
  return *instance;
}

// A unit's scope, owned by Python until released (or collected).
class Scope {
 public:
  explicit Scope(runtime::UnitScope scope) : scope_(std::make_unique<runtime::UnitScope>(std::move(scope))) {}
  py::dict tensors() const {
    py::dict out;
    for (const auto& [name, tensor] : live().tensors()) out[py::str(name)] = tensor;
    return out;
  }
  std::string device() const { return live().device().str(); }
  void release() { scope_.reset(); }

 private:
  const runtime::UnitScope& live() const {
    if (!scope_) throw JobError("this unit scope was released");
    return *scope_;
  }
  std::unique_ptr<runtime::UnitScope> scope_;
};

}  // namespace

PYBIND11_MODULE(_vramguard, m) {
  m.doc() = "vramguard's runtime: sessions, unit scopes and planning (use the vramguard package's API)";
  auto& ex = exceptions();
  ex.error = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "vramguard.Error", "A vramguard error: the message says what went wrong, `.hint` what to do.", PyExc_Exception,
      nullptr));
  ex.input_error = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "vramguard.InputError", "Bad input: a model file, an option or a config the host cannot use.", ex.error.ptr(),
      nullptr));
  ex.out_of_memory = py::reinterpret_steal<py::object>(PyErr_NewExceptionWithDoc(
      "vramguard.OutOfMemory", "The model does not fit: every strategy tried ran out of memory or could not fit.",
      ex.error.ptr(), nullptr));
  ex.plugin_error = py::reinterpret_steal<py::object>(
      PyErr_NewExceptionWithDoc("vramguard.PluginError", "A strategy plugin misbehaved; names the plugin and its file.",
                                ex.error.ptr(), nullptr));
  m.attr("Error") = ex.error;
  m.attr("InputError") = ex.input_error;
  m.attr("OutOfMemory") = ex.out_of_memory;
  m.attr("PluginError") = ex.plugin_error;
  py::register_exception_translator(&translate);

  m.def(
      "set_log_sink", [](py::object emit) { log_bridge().install(std::move(emit)); }, py::arg("emit"),
      "routes the host's log lines to emit(level, message): level 0 trace .. 4 error");
  m.def(
      "set_log_level",
      [](int level) { runtime::set_log_level(static_cast<runtime::LogLevel>(std::clamp(level, 0, 5))); },
      py::arg("level"), "0 trace, 1 debug, 2 info, 3 warn, 4 error, 5 off: lines below it are not even formatted");
  m.def(
      "flush_log", [] { log_bridge().flush(); }, "emits the lines other threads logged since");

  m.def(
      "option_catalog",
      [] {
        py::list out;
        for (const auto& option : runtime::option_catalog()) {
          py::dict d;
          d["name"] = option.name;
          d["keyword"] = option.keyword;
          d["kind"] = option.kind;
          d["value_name"] = option.value_name;
          d["default"] = option.default_text;
          d["help"] = option.help;
          d["min"] = option.min;
          d["max"] = option.max;
          out.append(d);
        }
        return out;
      },
      "the load options as vramguard/load_options.def declares them: name, keyword, kind, help, range");
  m.def("checked_option_value", &runtime::checked_option_value, py::arg("keyword"), py::arg("text"), py::arg("where"),
        "the option's parser on one value: its canonical text, or InputError opening with `where`");
  m.def(
      "parse_byte_size",
      [](const std::string& text) {
        try {
          return parse_byte_size(text);
        } catch (const InvalidByteSize& e) {
          throw UsageError("'" + text + "' is not a size: " + e.reason(), e.hint());
        }
      },
      py::arg("text"), "bytes: 4096, '12GB' (10**9), '11.5GiB' (2**30), as the CLI reads them");
  m.def("format_bytes", &vramguard::format_bytes, py::arg("bytes"), "'12.00 GB (11.18 GiB)', as the CLI prints sizes");

  m.def(
      "plan",
      [](const std::string& model, const py::dict& options) {
        const runtime::PlanResult result = runtime::plan(model, options_from(options));
        return py::make_tuple(result.json, result.text);
      },
      py::arg("model"), py::arg("options"));

  py::class_<Scope>(m, "Scope")
      .def("tensors", &Scope::tensors, "the unit's tensors by full name, on its executing device")
      .def_property_readonly("device", &Scope::device)
      .def("release", &Scope::release, "ends the scope: the slot may be refilled once queued compute is done");

  py::class_<runtime::Session, std::unique_ptr<runtime::Session>>(m, "Session")
      .def_static(
          "open",
          [](const std::string& model, const py::dict& options, const py::object& progress) {
            std::function<void(std::uint64_t, std::uint64_t)> on_progress;
            // Called on this thread (the load's), which holds the GIL.
            if (!progress.is_none())
              on_progress = [progress](std::uint64_t done, std::uint64_t total) { progress(done, total); };
            auto session = runtime::Session::open(model, options_from(options), on_progress);
            log_bridge().flush();
            return session;
          },
          py::arg("model"), py::arg("options"), py::arg("progress") = py::none())
      .def("components", &runtime::Session::components)
      .def("units",
           [](const runtime::Session& s, const std::string& component) {
             py::list out;
             const runtime::ComponentDescription* described = s.description().find(component);
             for (const auto& unit : s.units(component))
               out.append(unit_dict(unit, described ? described->find(unit.name) : nullptr));
             return out;
           })
      .def("unit", [](runtime::Session& s, const std::string& component,
                      std::size_t index) { return Scope(s.unit(component, index)); })
      .def(
          "step",
          [](runtime::Session& s, const std::string& component, const py::function& body) {
            // A CUDA out-of-memory raised in Python code is the guard's business like one in C++: it comes
            // back as torch's OutOfMemoryError and goes on as c10's, which the session falls back on.
            const py::object torch_oom = py::module_::import("torch").attr("cuda").attr("OutOfMemoryError");
            s.step(component, [&] {
              try {
                body();
              } catch (py::error_already_set& e) {
                if (e.matches(torch_oom))
                  throw c10::OutOfMemoryError({__func__, __FILE__, static_cast<std::uint32_t>(__LINE__)}, e.what());
                throw;
              }
            });
          },
          py::arg("component"), py::arg("body"))
      .def("strategy", &runtime::Session::strategy)
      .def("generation", &runtime::Session::generation)
      .def("report_json", &runtime::Session::report_json)
      .def("unload", &runtime::Session::unload);
}
