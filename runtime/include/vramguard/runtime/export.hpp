#pragma once
// Symbols of the runtime library that applications may use; everything else in it is hidden.
#define VRAMGUARD_RUNTIME_API __attribute__((visibility("default")))
