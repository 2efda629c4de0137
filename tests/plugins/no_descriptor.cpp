// A shared library that is not a vramguard plugin: it exports a function, but no descriptor.
#include <boost/config.hpp>

extern "C" BOOST_SYMBOL_EXPORT int some_unrelated_function() { return 42; }
