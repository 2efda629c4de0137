#pragma once
// What a forward pass needs on every device its units execute on — a mask, rotary angles — made once
// per device and kept for the rest of the call.
//
// Why it matters: a tensor copied from the host's pageable memory inside the layer loop waits on the
// GPU's copy engine behind the window's weight copies, and the host thread waits with it. A streamed
// step then takes compute plus copy time instead of the larger of the two (measured on an H200: the
// full-size MMDiT step went from 1.16 s to its copy bound when the text mask stopped travelling with
// every block).
#include <c10/core/Device.h>

#include <functional>
#include <map>
#include <string>
#include <utility>

namespace vramguard::runtime {

template <class Value>
class PerDevice {
 public:
  explicit PerDevice(std::function<Value(c10::Device)> make) : make_(std::move(make)) {}

  const Value& on(c10::Device device) {
    auto it = made_.find(device.str());
    if (it == made_.end()) it = made_.emplace(device.str(), make_(device)).first;
    return it->second;
  }

 private:
  std::function<Value(c10::Device)> make_;
  std::map<std::string, Value> made_;
};

}  // namespace vramguard::runtime
